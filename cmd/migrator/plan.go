package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "diff rename-map.yaml against the live cluster: what apply would do and what cannot work",
		UsageText: "migrator -b kafka:9092 plan\n" +
			"migrator -b kafka:9092 plan --out plan.json --detailed-exitcode   # 0 no changes, 2 changes, 1 errors\n" +
			"migrator -b kafka:9092 -o json plan",
		Flags: []cli.Flag{
			&cli.PathFlag{Name: "out", Usage: "save the plan as JSON to `FILE`, for apply --plan"},
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when there is nothing to do, 2 when there are changes, 1 on errors"},
			&cli.BoolFlag{Name: "measure-stop", Usage: "measure the cluster's copy throughput with a probe copy (creates and deletes a scratch topic of its own, " + lifecycle.ProbePrefix + "<random>) to forecast each swap's stop"},
			&cli.DurationFlag{Name: "max-stop", Value: 5 * time.Minute, Usage: "warn about a swap whose forecast stop is longer than this"},
			&cli.Int64Flag{Name: "probe-bytes", Value: 128 << 20, Usage: "how many bytes the --measure-stop probe copies at most"},
			&cli.DurationFlag{Name: "quiet-for", Value: 10 * time.Second, Usage: "the quiet check the swap will begin with (cutover swap --quiet-for), counted in the forecast stop"},
		},
		Action: func(c *cli.Context) error {
			m, cl, err := mapAndConnect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			p, _, err := plan.Make(c.Context, cl, m)
			if err != nil {
				return err
			}
			progress, stopProgress := showProgress(c)
			env := &lifecycle.Env{Admin: cl, Map: m, Command: commandLine(c), Log: logger(c), Progress: progress}
			if c.Bool("measure-stop") && fileExists(c.Path(flagState)) {
				// The forecast reads the verified prefix of each swap's
				// staging, when a verify during the window recorded one.
				st, err := openState(c)
				if err != nil {
					stopProgress()
					return err
				}
				env.Store = st
			}
			err = lifecycle.EstimateSwapStops(c.Context, env, p, lifecycle.StopOptions{
				MaxStop: c.Duration("max-stop"), Measure: c.Bool("measure-stop"), ProbeBytes: c.Int64("probe-bytes"), QuietFor: c.Duration("quiet-for"),
			})
			stopProgress()
			if err != nil {
				return err
			}
			if out := c.Path("out"); out != "" {
				if err := p.Save(out); err != nil {
					return err
				}
			}
			if err := printPlan(printer(c), p); err != nil {
				return err
			}
			if !c.Bool("detailed-exitcode") {
				return nil
			}
			switch {
			case p.BlockedCount() > 0:
				return &exitError{code: exitFailure, err: fmt.Errorf("plan %s: %d rename(s) blocked", p.ID, p.BlockedCount())}
			case p.Changes() > 0:
				return &exitError{code: exitChanges, err: fmt.Errorf("plan %s: %d change(s) to apply", p.ID, p.Changes())}
			}
			return nil
		},
	}
}

// printPlan prints a plan: JSON, or a renames table, the swaps' forecast
// stops, the findings as blocks and a summary line.
func printPlan(pr output.Printer, p *plan.Plan) error {
	if !pr.Human() {
		return pr.JSON(p)
	}
	renames := output.TableView{Columns: []output.Column{
		{Name: "from"}, {Name: "to"}, {Name: "strategy"}, {Name: "action"},
		{Name: "creates", Wide: true}, {Name: "partitions", Wide: true}, {Name: "records", Wide: true},
		{Name: "groups", Wide: true}, {Name: "findings"},
	}}
	for _, r := range p.Renames {
		create, parts := "", ""
		if r.Create != nil {
			create = r.Create.Name
			parts = fmt.Sprint(r.Create.Partitions)
		}
		strategy := string(r.Strategy)
		if r.Hop > 0 {
			strategy = fmt.Sprintf("hop %d/2", r.Hop)
		}
		renames.Rows = append(renames.Rows, []string{r.From, r.To, strategy, string(r.Action), create, parts,
			fmt.Sprint(r.SourceRecords), fmt.Sprint(len(r.Groups)), countFindings(r.Findings)})
	}
	if err := pr.WriteTable(renames); err != nil {
		return err
	}
	stops := output.TableView{Columns: []output.Column{
		{Name: "swap"}, {Name: "to", Wide: true}, {Name: "records"}, {Name: "to copy"}, {Name: "copy MB/s", Wide: true},
		{Name: "copy", Wide: true}, {Name: "verify", Wide: true}, {Name: "verifies", Wide: true}, {Name: "other steps", Wide: true},
		{Name: "expected stop"}, {Name: "throughput"},
	}}
	for _, r := range p.Renames {
		if st := r.Stop; st != nil {
			rate, copying, verifying, verifies, fixed, stop := "-", "-", "-", "-", "-", "-"
			if st.Total > 0 {
				rate = fmt.Sprintf("%.1f", st.CopyBytesPerSecond/1e6)
				copying, verifying, stop = st.Copy.Round(time.Second).String(), st.Verify.Round(time.Second).String(), st.Total.Round(time.Second).String()
				verifies, fixed = fmt.Sprintf("%d record(s), %s", st.VerifyRecords, st.VerifyFrom), st.Fixed.Round(100*time.Millisecond).String()
			}
			stops.Rows = append(stops.Rows, []string{r.From, r.To, fmt.Sprint(st.Records), humanBytes(st.Bytes), rate, copying, verifying, verifies, fixed, stop, st.Measured})
		}
	}
	if len(stops.Rows) > 0 {
		fmt.Fprintln(pr.W)
		if err := pr.WriteTable(stops); err != nil {
			return err
		}
	}
	var blocks []output.Block
	for _, r := range p.Renames {
		for _, f := range r.Findings {
			blocks = append(blocks, findingBlock(f, r.From))
		}
	}
	for _, f := range p.Findings {
		blocks = append(blocks, findingBlock(f, "(map/cluster)"))
	}
	if len(blocks) > 0 {
		fmt.Fprintln(pr.W)
		if err := pr.WriteBlocks(blocks); err != nil {
			return err
		}
	}
	fmt.Fprintln(pr.W)
	return pr.WriteBlocks([]output.Block{{Head: []string{summary(p)}}})
}

func summary(p *plan.Plan) string {
	waiting := ""
	if n := p.Waiting(); n > 0 {
		waiting = fmt.Sprintf(", %d waiting (hop 2 of a hop, until hop 1 is retired)", n)
	}
	return fmt.Sprintf("Plan %s: %d to create, %d blocked, %d already done%s; %d finding(s) about the map and cluster.",
		p.ID, p.Changes(), p.BlockedCount(), len(p.Renames)-p.Changes()-p.BlockedCount()-p.Waiting(), waiting, len(p.Findings))
}

func countFindings(fs []plan.Finding) string {
	n := map[plan.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []plan.Severity{plan.Error, plan.Warning, plan.Info} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

// humanBytes prints n in B, kB, MB or GB (powers of 1000).
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1_000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
