package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
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
			yesFlag(),
		},
		Action: func(c *cli.Context) error {
			ask, err := mustAsk(c)
			if err != nil {
				return err
			}
			env, done, err := newEnv(c, stateToChange)
			if err != nil {
				return err
			}
			defer done()
			opts := lifecycle.SwapOptions{
				Rename: c.String("rename"), SwapGroup: c.String("swap-group"),
				QuietFor: c.Duration("quiet-for"), DrainTimeout: c.Duration("drain-timeout"), DryRun: c.Bool("dry-run"),
				Progress: func(step, detail string) {
					if detail == "" {
						detail = "step " + step
					}
					env.Log.Info("swap", "rename", c.String("rename"), "doing", detail)
				},
			}
			if ask {
				preview := opts
				preview.DryRun = true
				preview.QuietFor = 0 // the swap itself waits for the quiet period, once
				res, err := lifecycle.Swap(c.Context, env, preview)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "the swap will replace %s by %s on %s, in these steps:\n", res.From, res.To, c.String(flagBootstrap))
				for _, s := range res.Steps {
					fmt.Fprintf(c.App.ErrWriter, "  %s: %s\n", s.Step, orElse(s.Detail, s.Outcome))
				}
				if err := confirm(c, "Delete "+res.From+" and recreate it as "+res.To+"?"); err != nil {
					return err
				}
			}
			res, err := lifecycle.Swap(c.Context, env, opts)
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
			if perr == nil && len(res.Groups) > 0 && printer(c).Human() {
				perr = printGroupMoves(c, nil, res.Groups, "offset on old", "offset on new")
			}
			if perr == nil && err == nil && !res.DryRun && res.Stop > 0 {
				msg := fmt.Sprintf("swapped %s → %s; the stop took %s", res.From, res.To, res.Stop.Round(time.Millisecond))
				if res.AfterStop > 0 {
					msg += fmt.Sprintf(" (then, with clients on %s, verifying it and deleting staging took %s)", res.To, res.AfterStop.Round(time.Millisecond))
				}
				say(c, "%s\n", msg)
			}
			if err == nil {
				err = perr
			}
			return err
		},
	}
}
