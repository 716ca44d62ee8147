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
			"migrator -b kafka:9092 lint --cluster            # the live cluster's topics\n" +
			"migrator lint --fail-on warning                  # CI: exit 1 on warnings too (default: on errors only)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "cluster", Usage: "check the live cluster's topics instead of the map's"},
			&cli.StringFlag{Name: "fail-on", Value: string(plan.Error), Usage: "exit 1 on findings of this severity or worse: error or warning"},
		},
		Action: func(c *cli.Context) error {
			failOn := plan.Severity(c.String("fail-on"))
			if failOn != plan.Error && failOn != plan.Warning {
				return &usageError{msg: fmt.Sprintf("lint: --fail-on %q: want error or warning", failOn)}
			}
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
			n := map[plan.Severity]int{}
			for _, f := range findings {
				n[f.Severity]++
			}
			failing := n[plan.Error]
			if failOn == plan.Warning {
				failing += n[plan.Warning]
			}
			if failing > 0 {
				return fmt.Errorf("lint: %d error(s), %d warning(s) (--fail-on %s)", n[plan.Error], n[plan.Warning], failOn)
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
