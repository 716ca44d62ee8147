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
			yesFlag(),
		},
		Action: func(c *cli.Context) error {
			opts := lifecycle.ApplyOptions{Renames: c.StringSlice("rename"), DryRun: c.Bool("dry-run")}
			if path := c.Path("plan"); path != "" {
				var err error
				if opts.Saved, err = plan.LoadPlan(path); err != nil {
					return err
				}
			}
			ask, err := mustAsk(c)
			if err != nil {
				return err
			}
			if ask {
				if err := confirmApply(c, opts); err != nil {
					return err
				}
			}
			use := stateToCreate
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

// confirmApply shows what apply will do (a dry run: the broker validates
// the creates) and asks, before the state file is touched.
func confirmApply(c *cli.Context, opts lifecycle.ApplyOptions) error {
	env, done, err := newEnv(c, stateNone)
	if err != nil {
		return err
	}
	defer done()
	opts.DryRun = true
	res, err := lifecycle.Apply(c.Context, env, opts)
	if err != nil {
		return err
	}
	showApplyPreview(c, res)
	return confirm(c, fmt.Sprintf("Create these topics on %s and record the renames in %s?", c.String(flagBootstrap), c.Path(flagState)))
}

// showApplyPreview lists, on stderr, what apply is about to do: the
// topics it will create, those that exist, the renames it cannot apply.
func showApplyPreview(c *cli.Context, res *lifecycle.ApplyResult) {
	w := c.App.ErrWriter
	fmt.Fprintf(w, "apply will, on %s:\n", c.String(flagBootstrap))
	for _, r := range res.Renames {
		switch r.Outcome {
		case lifecycle.OutcomeWouldCreate:
			fmt.Fprintf(w, "  create %s (for %s → %s, %d ACL(s) copied)\n", r.Topic, r.From, r.To, r.ACLsCopied)
		case lifecycle.OutcomeExists:
			fmt.Fprintf(w, "  keep   %s (exists; %s → %s recorded)\n", orElse(r.Topic, r.To), r.From, r.To)
		default:
			fmt.Fprintf(w, "  skip   %s → %s: %s %s\n", r.From, r.To, r.Outcome, r.Detail)
		}
	}
}

// orElse returns s, or else alt.
func orElse(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
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
