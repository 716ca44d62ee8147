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
			env, done, err := newEnv(c, stateIfExists)
			if err != nil {
				return err
			}
			defer done()
			terminal := isTerminal(c.App.ErrWriter)
			res, err := lifecycle.Verify(c.Context, env, lifecycle.VerifyOptions{
				Renames: c.StringSlice("rename"),
				Progress: func(r plan.Rename, total int, p lifecycle.PartitionReport) {
					line := fmt.Sprintf("verify %s: partition %d/%d: %d compared, %d dead-lettered, %d not yet copied", r.From, p.Partition+1, total, p.Compared, p.DeadLettered, p.NotYetCopied)
					if terminal {
						// A progress line that rewrites itself on a terminal.
						end := ""
						if int(p.Partition)+1 == total {
							end = "\n"
						}
						fmt.Fprintf(c.App.ErrWriter, "\r\033[K%s %s%s", bar(int(p.Partition)+1, total), line, end)
						return
					}
					fmt.Fprintln(c.App.ErrWriter, line)
				},
			})
			if res != nil {
				for _, s := range res.Skipped {
					fmt.Fprintf(c.App.ErrWriter, "verify: %s → %s: skipped, %s\n", s.From, s.To, s.Reason)
				}
			}
			if err != nil {
				return err
			}
			reports := res.Reports
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
			if rep := res.Mismatched(); rep != nil {
				return fmt.Errorf("verify: %s → %s does not match its source", rep.Source, rep.Target)
			}
			return nil
		},
	}
}
