package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
)

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "take a rename back to its old topic from any phase before retired",
		Description: "After producers-cut it first copies the records written to the new topic back to the old one\n" +
			"(the reverse bridge, until caught up), so old consumers miss nothing. Then it moves every consumer\n" +
			"group on the new topic back with exact translation, records phase rolled-back (the bridge stops),\n" +
			"and deletes the new topic only when it holds nothing but copies of the old one.",
		UsageText: "migrator -b kafka:9092 rollback --rename huleedu.commands.batch.pipeline.v1 --yes",
		Flags: []cli.Flag{
			renameFlag(),
			bridgeGroupFlag("the forward bridge's consumer group"),
			&cli.StringFlag{Name: "reverse-group", Value: lifecycle.DefaultReverseGroup, Usage: "consumer group of the reverse copy"},
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would happen, change nothing"},
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
			opts := lifecycle.RollbackOptions{Rename: c.String("rename"), ReverseGroup: c.String("reverse-group"), DryRun: c.Bool("dry-run")}
			if ask {
				preview := opts
				preview.DryRun = true
				res, err := lifecycle.Rollback(c.Context, env, preview)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "rollback will take %s back from phase %s; reverse copy of direct writes to the new topic: %v; new topic %s\n", res.From, res.FromPhase, res.ReverseCopy, res.NewTopic)
				showGroupMoves(c, res.Groups, "new", "old")
				if err := confirm(c, "Roll "+opts.Rename+" back to its old topic?"); err != nil {
					return err
				}
			}
			res, err := lifecycle.Rollback(c.Context, env, opts)
			if res != nil {
				if perr := printGroupMoves(c, res, res.Groups, "offset on new", "offset on old"); perr != nil && err == nil {
					err = perr
				}
				verb := "rolled back"
				if res.DryRun {
					verb = "would roll back"
				}
				say(c, "%s %s from phase %s; reverse copy: %v; new topic %s\n", verb, res.From, res.FromPhase, res.ReverseCopy, res.NewTopic)
			}
			return err
		},
	}
}
