package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func lintCommand() *cli.Command {
	return &cli.Command{
		Name:  "lint",
		Usage: "check the event contracts (naming, command pattern, mapped events, partition keys) for CI",
		UsageText: "migrator --map rename-map.yaml lint              # the topics as they will be after the renames\n" +
			"migrator -b kafka:9092 lint --cluster            # the live cluster's topics",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "cluster", Usage: "check the live cluster's topics instead of the map's"},
		},
		Action: func(c *cli.Context) error {
			m, err := plan.LoadRenameMap(c.Path(flagMap))
			if err != nil {
				return err
			}
			var topics []string
			if c.Bool("cluster") {
				snap, err := describe(c, admin.DescribeOptions{})
				if err != nil {
					return err
				}
				topics = snap.TopicNames()
			}
			findings := plan.Lint(m, topics)
			if err := printer(c).PrintBlocks(findings, func() []output.Block {
				blocks := make([]output.Block, len(findings))
				for i, f := range findings {
					blocks[i] = findingBlock(f, "(map)")
				}
				return blocks
			}); err != nil {
				return err
			}
			if len(findings) > 0 {
				return fmt.Errorf("lint: %d violation(s)", len(findings))
			}
			return nil
		},
	}
}

// describe connects and takes a snapshot of the cluster.
func describe(c *cli.Context, opts admin.DescribeOptions) (*admin.Snapshot, error) {
	cl, err := connect(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.Describe(c.Context, opts)
}
