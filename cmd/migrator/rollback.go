package main

import (
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
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *cli.Context) error {
			if !c.Bool("yes") && !c.Bool("dry-run") {
				if err := confirm(c, "Roll "+c.String("rename")+" back to its old topic?"); err != nil {
					return err
				}
			}
			env, done, err := newEnv(c, stateToChange)
			if err != nil {
				return err
			}
			defer done()
			res, err := lifecycle.Rollback(c.Context, env, lifecycle.RollbackOptions{
				Rename: c.String("rename"), ReverseGroup: c.String("reverse-group"), DryRun: c.Bool("dry-run"),
			})
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
