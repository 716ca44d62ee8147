package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "create the new topics (partitions, configs, ACLs as the old ones) and record them in the state",
		UsageText: "migrator -b kafka:9092 apply --dry-run                 # the broker validates, nothing changes\n" +
			"migrator -b kafka:9092 apply --plan plan.json --yes    # refuses if the cluster changed since plan\n" +
			"migrator -b kafka:9092 apply --rename huleedu.commands.batch.pipeline.v1 --yes",
		Flags: []cli.Flag{
			&cli.PathFlag{Name: "plan", Usage: "apply only if the cluster still matches this saved plan `FILE`"},
			&cli.StringSliceFlag{Name: "rename", Usage: "apply only the rename from this `TOPIC` (repeatable)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "let the broker validate the creates; change nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *cli.Context) error {
			opts := lifecycle.ApplyOptions{Renames: c.StringSlice("rename"), DryRun: c.Bool("dry-run")}
			if path := c.Path("plan"); path != "" {
				var err error
				if opts.Saved, err = plan.LoadPlan(path); err != nil {
					return err
				}
			}
			if !opts.DryRun && !c.Bool("yes") {
				if err := confirm(c, "Create the new topics of this map on "+c.String(flagBootstrap)+"?"); err != nil {
					return err
				}
			}
			use := stateToChange
			if opts.DryRun {
				use = stateNone
			}
			env, done, err := newEnv(c, use)
			if err != nil {
				return err
			}
			defer done()
			res, err := lifecycle.Apply(c.Context, env, opts)
			if res != nil {
				if perr := printApply(c, res); perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				return err
			}
			if n := res.Failed(); n > 0 {
				return fmt.Errorf("apply: %d rename(s) blocked or failed; the others were applied", n)
			}
			return nil
		},
	}
}

func printApply(c *cli.Context, res *lifecycle.ApplyResult) error {
	return printer(c).PrintTable(res, func() output.TableView {
		t := output.TableView{Columns: []output.Column{
			{Name: "from"}, {Name: "to", Wide: true}, {Name: "topic"}, {Name: "outcome"},
			{Name: "acls copied", Wide: true}, {Name: "phase"}, {Name: "detail"},
		}}
		for _, r := range res.Renames {
			t.Rows = append(t.Rows, []string{r.From, r.To, r.Topic, r.Outcome, fmt.Sprint(r.ACLsCopied), string(r.Phase), r.Detail})
		}
		return t
	})
}
