package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

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
			terminal := isTerminal(c.App.ErrWriter)
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
				total := topics[r.From].Partitions
				rep, err := lifecycle.VerifyAndRecord(c.Context, env, r.From, to, int32(total), func(p lifecycle.PartitionReport) {
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

// bar draws done of total as [#####-----].
func bar(done, total int) string {
	const width = 20
	n := width * done / max(total, 1)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

// isTerminal reports whether w is a terminal (progress bars) rather than
// a file or pipe (plain lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
