package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
)

func drainCommand() *cli.Command {
	return &cli.Command{
		Name:      "drain",
		Usage:     "wait until the bridge has copied everything the old topic holds now (lag 0)",
		UsageText: "migrator -b kafka:9092 drain --rename huleedu.commands.batch.pipeline.v1 --timeout 5m",
		Flags: []cli.Flag{
			renameFlag(),
			bridgeGroupFlag("the bridge's consumer group"),
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			env, done, err := newEnv(c, stateNone)
			if err != nil {
				return err
			}
			defer done()
			res, err := lifecycle.Drain(c.Context, env, lifecycle.DrainOptions{Rename: c.String("rename"), Timeout: c.Duration("timeout")})
			if err != nil {
				return err
			}
			return printOrSay(c, res, "drained: the bridge has copied everything %s held\n", res.From)
		},
	}
}
