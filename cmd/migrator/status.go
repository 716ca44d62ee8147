package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "one row per rename: phase, window left, bridge lag, DLQ, consumer groups on each topic, ACL parity",
		UsageText: "migrator -b kafka:9092 status\n" +
			"migrator -b kafka:9092 -o json status --bridge-group topic-migrator-bridge",
		Flags: []cli.Flag{
			bridgeGroupFlag("the bridge's consumer group (for lag)"),
		},
		Action: func(c *cli.Context) error {
			env, done, err := newEnv(c, stateIfExists)
			if err != nil {
				return err
			}
			defer done()
			res, err := lifecycle.Status(c.Context, env, lifecycle.StatusOptions{})
			if err != nil {
				return err
			}
			rows := res.Renames
			return printer(c).PrintTable(rows, func() output.TableView { return statusTable(rows) })
		},
	}
}

// statusTable shows one row per rename; the groups, ACLs, the copy's topic
// and early writes only with -o wide.
func statusTable(rows []lifecycle.RenameStatus) output.TableView {
	t := output.TableView{Columns: []output.Column{
		{Name: "from"}, {Name: "to"}, {Name: "phase"}, {Name: "since", Wide: true}, {Name: "days left"},
		{Name: "copying to", Wide: true}, {Name: "lag"}, {Name: "DLQ"}, {Name: "groups on old", Wide: true},
		{Name: "groups on new", Wide: true}, {Name: "ACLs", Wide: true}, {Name: "stray writes"},
		{Name: "early writes", Wide: true},
	}}
	for _, r := range rows {
		phase, since, left, lag := "(not in state)", "", "", "-"
		if r.Phase != "" {
			phase, since = string(r.Phase), r.PhaseSince.Format("2006-01-02 15:04")
		}
		if r.SwapStep != "" {
			phase += " (swap: " + r.SwapStep + ")"
		}
		if v := r.StagingVerified; v != nil {
			phase += fmt.Sprintf(" (staging verified to %s, %d record(s) behind)", v.At.Local().Format("2006-01-02 15:04"), v.Behind)
		}
		if r.Hop > 0 {
			phase += fmt.Sprintf(" (hop %d/2)", r.Hop)
		}
		if r.Waiting != "" {
			phase += " waiting " + r.Waiting
		}
		if r.DaysLeft != nil {
			left = fmt.Sprintf("%.1f", *r.DaysLeft)
		}
		if r.LagRecords != nil {
			lag = fmt.Sprint(*r.LagRecords)
		}
		stray := "-"
		if r.StrayWrites != nil {
			stray = fmt.Sprint(*r.StrayWrites)
		}
		early := "-"
		if r.EarlyWrites != nil {
			early = fmt.Sprintf("%d (first %s)", r.EarlyWrites.Count, r.EarlyWrites.First)
		}
		t.Rows = append(t.Rows, []string{r.From, r.To, phase, since, left, r.Copying, lag, fmt.Sprint(r.DeadLetters),
			strings.Join(r.GroupsOnOld, " "), strings.Join(r.GroupsOnNew, " "), r.ACLParity, stray, early})
	}
	return t
}
