package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
)

func cutoverSwapCommand() *cli.Command {
	return &cli.Command{
		Name:  "swap",
		Usage: "replace an old topic by a new name Kafka will not run beside it, in one short stop",
		Description: "For renames with strategy swap ('.' against '_': Kafka refuses the new name while the old topic\n" +
			"exists). With producers and consumers of the old topic stopped, it fences writes to the old topic,\n" +
			"drains the bridge into the staging topic, verifies staging, saves every group's position, deletes\n" +
			"the old topic, creates the new one with the old configs and ACLs, copies staging → new, commits\n" +
			"every group's translated offsets (the stop ends here: clients may start on the new name), then\n" +
			"verifies new against staging and deletes staging. Each step is recorded; if\n" +
			"the command dies, run it again: it resumes where it stopped and loses nothing. Rollback works until\n" +
			"the old topic is deleted. See runbooks/swap.md.",
		UsageText: "migrator -b kafka:9092 cutover swap --rename huleedu.email.delivery_failed.v1 --dry-run\n" +
			"migrator -b kafka:9092 cutover swap --rename huleedu.email.delivery_failed.v1 --yes",
		Flags: []cli.Flag{
			renameFlag(),
			&cli.DurationFlag{Name: "quiet-for", Value: 10 * time.Second, Usage: "the old topic must take no write for this long before the swap starts"},
			bridgeGroupFlag("the bridge's consumer group (old → staging)"),
			&cli.StringFlag{Name: "swap-group", Value: lifecycle.DefaultSwapGroup, Usage: "consumer group of the staging → new copy"},
			&cli.DurationFlag{Name: "drain-timeout", Value: 10 * time.Minute, Usage: "how long to wait for a running bridge to catch up"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the preconditions and list the steps, change nothing"},
			&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation (the old topic is deleted)"},
		},
		Action: func(c *cli.Context) error {
			if !c.Bool("dry-run") && !c.Bool("yes") {
				if err := confirm(c, "Delete "+c.String("rename")+" and recreate it under its new name?"); err != nil {
					return err
				}
			}
			env, done, err := newEnv(c, stateToChange)
			if err != nil {
				return err
			}
			defer done()
			res, err := lifecycle.Swap(c.Context, env, lifecycle.SwapOptions{
				Rename: c.String("rename"), SwapGroup: c.String("swap-group"),
				QuietFor: c.Duration("quiet-for"), DrainTimeout: c.Duration("drain-timeout"), DryRun: c.Bool("dry-run"),
				Progress: func(step, detail string) {
					if detail == "" {
						detail = "step " + step
					}
					env.Log.Info("swap", "rename", c.String("rename"), "doing", detail)
				},
			})
			if res == nil {
				return err
			}
			perr := printer(c).Print(res, []string{"step", "outcome", "took", "detail"}, func() [][]string {
				var rows [][]string
				for _, s := range res.Steps {
					rows = append(rows, []string{s.Step, s.Outcome, s.Took, s.Detail})
				}
				return rows
			})
			if perr == nil && len(res.Groups) > 0 && printer(c).Format != output.JSON {
				perr = printGroupMoves(c, nil, res.Groups, "offset on old", "offset on new")
			}
			if perr == nil && err == nil && !res.DryRun && res.Stop > 0 {
				fmt.Fprintf(c.App.Writer, "swapped %s → %s; the stop took %s", res.From, res.To, res.Stop.Round(time.Millisecond))
				if res.AfterStop > 0 {
					fmt.Fprintf(c.App.Writer, " (then, with clients on %s, verifying it and deleting staging took %s)", res.To, res.AfterStop.Round(time.Millisecond))
				}
				fmt.Fprintln(c.App.Writer)
			}
			if err == nil {
				err = perr
			}
			return err
		},
	}
}
