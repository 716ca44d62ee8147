package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
)

func retireCommand() *cli.Command {
	return &cli.Command{
		Name:  "retire",
		Usage: "delete the old topic once it is safe (window over, no readers, no recent stray writes, verified)",
		UsageText: "migrator -b kafka:9092 retire --rename huleedu.commands.batch.pipeline.v1 --yes\n" +
			"migrator -b kafka:9092 retire --rename OLD --force --reason 'INC-123: disk pressure' --yes",
		Flags: []cli.Flag{
			renameFlag(),
			&cli.BoolFlag{Name: "force", Usage: "retire before the window ends (needs --reason)"},
			&cli.StringFlag{Name: "reason", Usage: "why --force; recorded in the audit log"},
			&cli.DurationFlag{Name: "quiet-period", Value: 24 * time.Hour, Usage: "no stray write to the old topic for this long"},
			bridgeGroupFlag("the bridge's consumer group"),
			&cli.BoolFlag{Name: "dry-run", Usage: "check only"},
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
			opts := lifecycle.RetireOptions{
				Rename: c.String("rename"), Force: c.Bool("force"), Reason: c.String("reason"),
				QuietPeriod: c.Duration("quiet-period"), DryRun: c.Bool("dry-run"),
			}
			if ask {
				preview := opts
				preview.DryRun = true
				if _, err := lifecycle.Retire(c.Context, env, preview); err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "retire will delete topic %s on %s (checked: safe to retire; checked again at the delete)\n", opts.Rename, c.String(flagBootstrap))
				if err := confirm(c, "Delete "+opts.Rename+"?"); err != nil {
					return err
				}
			}
			res, err := lifecycle.Retire(c.Context, env, opts)
			if err != nil {
				return err
			}
			verb := "retired"
			if res.DryRun {
				verb = "safe to retire"
			}
			return printOrSay(c, res, "%s: %s\n", verb, res.From)
		},
	}
}
