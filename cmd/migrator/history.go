package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:  "history",
		Usage: "the audit log: when, who (user@host), which command, what it did and how it ended",
		UsageText: "migrator history\n" +
			"migrator history --rename huleedu.commands.batch.pipeline.v1 --since 2026-11-01\n" +
			"migrator -o json history --since 24h",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rename", Usage: "only the rename from this `TOPIC`"},
			&cli.StringFlag{Name: "since", Usage: "only entries since `T`: an RFC 3339 time, a date (2006-01-02) or a duration back from now (24h)"},
		},
		Action: func(c *cli.Context) error {
			since, err := parseSince(c.String("since"), time.Now())
			if err != nil {
				return err
			}
			env := &lifecycle.Env{Command: commandLine(c), Log: logger(c)}
			if m, err := plan.LoadRenameMap(c.Path(flagMap)); err == nil {
				env.Map = m // to suggest a close name for a --rename typo
			}
			cluster, err := onCluster(c)
			if err != nil {
				return err
			}
			if !cluster && !fileExists(c.Path(flagState)) {
				return fmt.Errorf("history: %s", noState(c.Path(flagState)))
			}
			if env.Store, err = openState(c); err != nil {
				return err
			}
			if cluster {
				// The cluster holds the whole trail; the file caches it.
				if err := refreshFromCluster(c, env.Store); err != nil {
					return err
				}
			}
			res, err := lifecycle.History(c.Context, env, lifecycle.HistoryOptions{Rename: c.String("rename"), Since: since})
			if err != nil {
				return err
			}
			return printer(c).PrintTable(res.Entries, func() output.TableView {
				t := output.TableView{Columns: []output.Column{
					{Name: "#"}, {Name: "time"}, {Name: "who"}, {Name: "rename"}, {Name: "action"},
					{Name: "detail", Wide: true}, {Name: "result"}, {Name: "command", Wide: true},
				}}
				for _, e := range res.Entries {
					action := e.Action
					if e.DryRun {
						action += " (dry run)"
					}
					t.Rows = append(t.Rows, []string{fmt.Sprint(e.Seq), e.Time.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Rename, action, e.Detail, e.Result, e.Command})
				}
				return t
			})
		},
	}
}

// parseSince reads --since: an RFC 3339 time, a date, or a duration back
// from now; "" is no bound.
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: not an RFC 3339 time (2006-01-02T15:04:05Z), a date (2006-01-02) or a duration (24h)", v)
}
