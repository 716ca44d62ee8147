package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove that each new topic is a copy of its old one, record by record",
		Description: "Per partition, reads both topics and compares the record sequences (key, value, headers without\n" +
			"the ones the bridge adds, timestamp), accounting for DLQ records, records that came from the new\n" +
			"topic, and history retention removed from either side. Records the bridge has not copied yet are\n" +
			"counted, not failed. Exits 1 on any mismatch and names the first one by offset.",
		UsageText: "migrator -b kafka:9092 verify\nmigrator -b kafka:9092 verify --rename huleedu.commands.batch.pipeline.v1",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "rename", Usage: "verify only the rename from this `TOPIC` (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			m, cl, err := mapAndConnect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			env := &lifecycle.Env{Admin: cl, Map: m, Command: commandLine(), Log: logger(c)}
			if fileExists(c.Path(flagState)) {
				if env.Store, err = openState(c); err != nil {
					return err
				}
			}
			only := map[string]bool{}
			for _, r := range c.StringSlice("rename") {
				only[r] = true
			}
			var names []string
			for _, r := range m.Renames {
				names = append(names, r.From, r.To, plan.StagingTopic(r.To))
			}
			topics, err := cl.DescribeTopics(c.Context, names)
			if err != nil {
				return err
			}
			var reports []*lifecycle.VerifyReport
			for _, r := range m.Renames {
				if len(only) > 0 && !only[r.From] {
					continue
				}
				to := r.To
				if r.Strategy == plan.StrategySwap && topics[r.To] == nil {
					to = plan.StagingTopic(r.To)
				}
				if topics[r.From] == nil || topics[to] == nil {
					fmt.Fprintf(c.App.ErrWriter, "verify: %s → %s: skipped, both topics must exist\n", r.From, to)
					continue
				}
				rep, err := lifecycle.VerifyAndRecord(c.Context, env, r.From, to, int32(topics[r.From].Partitions), func(p lifecycle.PartitionReport) {
					fmt.Fprintf(c.App.ErrWriter, "verify: %s/%d: %d compared, %d dead-lettered, %d not yet copied\n", r.From, p.Partition, p.Compared, p.DeadLettered, p.NotYetCopied)
				})
				if err != nil {
					return fmt.Errorf("verify %s → %s: %w", r.From, to, err)
				}
				reports = append(reports, rep)
			}
			err = printer(c).Print(reports, []string{"source", "target", "partition", "from", "compared", "dead-lettered", "skipped", "not yet copied", "result"}, func() [][]string {
				var rows [][]string
				for _, rep := range reports {
					for _, p := range rep.Partitions {
						result := "ok"
						if p.Divergence != "" {
							result = p.Divergence
						}
						rows = append(rows, []string{rep.Source, rep.Target, fmt.Sprint(p.Partition), fmt.Sprint(p.From), fmt.Sprint(p.Compared),
							fmt.Sprint(p.DeadLettered), fmt.Sprint(p.Skipped), fmt.Sprint(p.NotYetCopied), result})
					}
				}
				return rows
			})
			if err != nil {
				return err
			}
			for _, rep := range reports {
				if !rep.OK() {
					return fmt.Errorf("verify: %s → %s does not match its source", rep.Source, rep.Target)
				}
			}
			return nil
		},
	}
}
