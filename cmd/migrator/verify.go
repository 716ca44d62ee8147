package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "prove that each new topic is a copy of its old one, record by record",
		Description: "Per partition, reads both topics and compares the record sequences (key, value, headers without\n" +
			"the ones the bridge adds, timestamp), accounting for DLQ records, records that came from the new\n" +
			"topic, and history the new topic's retention removed. It passes only when each copy is complete\n" +
			"and identical: exit 4 on a missing, different, duplicated or reordered record, on a record only in\n" +
			"the DLQ (unless --accept-dead-letters names it) and on records written to the new topic before\n" +
			"producers were cut over; exit 3 when the only problem is records not copied yet (run it again once\n" +
			"the bridge caught up).",
		UsageText: "migrator -b kafka:9092 verify\nmigrator -b kafka:9092 verify --rename huleedu.commands.batch.pipeline.v1",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "rename", Usage: "verify only the rename from this `TOPIC` (repeatable)"},
			&cli.StringSliceFlag{Name: "accept-dead-letters", Usage: "accept the dead letter of these source records in place of their copy, as `TOPIC/PARTITION/OFFSET,...` (verify names them)"},
		},
		Action: func(c *cli.Context) error {
			// On the cluster backend verify records what it proved, under
			// the renames' leases, as every command that changes a rename.
			use := stateIfExists
			if cluster, err := onCluster(c); err != nil {
				return err
			} else if cluster {
				use = stateToChange
			}
			env, done, err := newEnv(c, use)
			if err != nil {
				return err
			}
			defer done()
			var accepted []bridge.Origin
			for _, v := range c.StringSlice("accept-dead-letters") {
				o, err := bridge.ParseOrigin([]byte(strings.TrimSpace(v)))
				if err != nil {
					return fmt.Errorf("--accept-dead-letters %s: %w (want TOPIC/PARTITION/OFFSET)", v, err)
				}
				accepted = append(accepted, o)
			}
			res, err := lifecycle.Verify(c.Context, env, lifecycle.VerifyOptions{
				Renames: c.StringSlice("rename"), AcceptDeadLetters: accepted,
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
			err = printer(c).PrintTable(reports, func() output.TableView {
				t := output.TableView{Columns: []output.Column{
					{Name: "source"}, {Name: "target", Wide: true}, {Name: "partition"}, {Name: "from", Wide: true},
					{Name: "compared"}, {Name: "dead-lettered", Wide: true}, {Name: "skipped", Wide: true},
					{Name: "not yet copied"}, {Name: "result"},
				}}
				for _, rep := range reports {
					for _, p := range rep.Partitions {
						result := "ok"
						if p.Divergence != "" {
							result = p.Divergence
						}
						t.Rows = append(t.Rows, []string{rep.Source, rep.Target, fmt.Sprint(p.Partition), fmt.Sprint(p.From), fmt.Sprint(p.Compared),
							fmt.Sprint(p.DeadLettered), fmt.Sprint(p.Skipped), fmt.Sprint(p.NotYetCopied), result})
					}
				}
				return t
			})
			if err != nil {
				return err
			}
			if res.Passed() {
				return nil
			}
			var msgs []string
			for _, p := range res.Problems {
				msgs = append(msgs, p.Detail)
			}
			err = fmt.Errorf("verify: %s", strings.Join(msgs, "; "))
			if res.OnlyIncomplete() {
				return &exitError{code: exitIncomplete, err: err}
			}
			return &exitError{code: exitDivergent, err: err}
		},
	}
}
