package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
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
			m, err := plan.LoadRenameMap(c.Path(flagMap))
			if err != nil {
				return err
			}
			opts := lifecycle.ApplyOptions{Renames: c.StringSlice("rename"), DryRun: c.Bool("dry-run")}
			if path := c.Path("plan"); path != "" {
				if opts.Saved, err = plan.LoadPlan(path); err != nil {
					return err
				}
			}
			if !opts.DryRun && !c.Bool("yes") {
				if err := confirm(c, "Create the new topics of this map on "+c.String(flagBootstrap)+"?"); err != nil {
					return err
				}
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			env := &lifecycle.Env{Admin: cl, Map: m, Command: commandLine(), Log: logger(c)}
			if !opts.DryRun {
				if env.Store, err = openStateToChange(c); err != nil {
					return err
				}
			}
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
	return printer(c).Print(res, []string{"from", "to", "topic", "outcome", "acls copied", "phase", "detail"}, func() [][]string {
		var rows [][]string
		for _, r := range res.Renames {
			rows = append(rows, []string{r.From, r.To, r.Topic, r.Outcome, fmt.Sprint(r.ACLsCopied), string(r.Phase), r.Detail})
		}
		return rows
	})
}

// openState opens the state file named by --state.
func openState(c *cli.Context) (*state.Store, error) {
	return state.Open(c.Path(flagState), state.Options{LockTimeout: c.Duration(flagLockTimeout)})
}

// openStateToChange claims the migration for this command (another
// operator's command waits for it or is refused, see state.Operator) and
// opens the state file. The claim ends with the command.
func openStateToChange(c *cli.Context) (*state.Store, error) {
	op, err := state.ClaimOperator(c.Context, c.Path(flagState), commandLine(), c.Duration(flagLockTimeout))
	if err != nil {
		return nil, err
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[metaOperator] = op
	return openState(c)
}

const metaOperator = "operator"

// releaseOperator gives up the command's claim, if it took one.
func releaseOperator(c *cli.Context) error {
	if op, ok := c.App.Metadata[metaOperator].(*state.Operator); ok {
		op.Release()
		delete(c.App.Metadata, metaOperator)
	}
	return nil
}

// confirm asks on a terminal; elsewhere it refuses, so that scripts must
// say --yes.
func confirm(c *cli.Context, question string) error {
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		return fmt.Errorf("%s needs --yes when not run from a terminal", c.Command.Name)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%s: not confirmed", c.Command.Name)
	}
	return nil
}

// commandLine is the command as typed, for the audit log.
func commandLine() string { return strings.Join(os.Args, " ") }
