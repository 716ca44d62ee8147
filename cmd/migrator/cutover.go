package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

func cutoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "cutover",
		Usage: "move consumer groups from an old topic to its new one",
		Subcommands: []*cli.Command{cutoverProducersCommand(), cutoverSwapCommand(), {
			Name:  "consumers",
			Usage: "move consumer groups' committed offsets to the new topic, translated exactly",
			Description: "For old partition p at committed offset o, the new offset is that of the first record in new\n" +
				"partition p whose X-Migrator-Origin offset is at least o (a binary search with single-record\n" +
				"fetches). Refuses a group with active members and a partition the bridge has not copied past o.",
			UsageText: "migrator -b kafka:9092 cutover consumers --rename huleedu.commands.batch.pipeline.v1 --group pipeline-svc\n" +
				"migrator -b kafka:9092 cutover consumers --rename huleedu.commands.batch.pipeline.v1 --all-groups --dry-run",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"},
				&cli.StringSliceFlag{Name: "group", Usage: "consumer `GROUP` to move (repeatable)"},
				&cli.BoolFlag{Name: "all-groups", Usage: "move every group with offsets on the old topic"},
				&cli.StringFlag{Name: "bridge-group", Value: "topic-migrator-bridge", Usage: "the bridge's consumer group (never moved)"},
				&cli.BoolFlag{Name: "dry-run", Usage: "show the translation, change nothing"},
				&cli.DurationFlag{Name: "wait", Usage: "wait up to this long for the bridge to copy past the groups' offsets instead of refusing"},
			},
			Action: func(c *cli.Context) error {
				if len(c.StringSlice("group")) == 0 && !c.Bool("all-groups") {
					return fmt.Errorf("cutover consumers: name a --group or say --all-groups")
				}
				m, cl, err := mapAndConnect(c)
				if err != nil {
					return err
				}
				defer cl.Close()
				env := &lifecycle.Env{Admin: cl, Map: m, Command: commandLine(), Log: logger(c)}
				if !c.Bool("dry-run") {
					if env.Store, err = openStateToChange(c); err != nil {
						return err
					}
				}
				res, err := lifecycle.CutoverConsumers(c.Context, env, lifecycle.CutoverOptions{
					Rename: c.String("rename"), Groups: c.StringSlice("group"), AllGroups: c.Bool("all-groups"),
					BridgeGroup: c.String("bridge-group"), DryRun: c.Bool("dry-run"), Wait: c.Duration("wait"),
				})
				if perr := printGroupMoves(c, res, res, "old offset", "new offset"); perr != nil && err == nil {
					err = perr
				}
				return err
			},
		}},
	}
}

func cutoverProducersCommand() *cli.Command {
	return &cli.Command{
		Name:  "producers",
		Usage: "record that producers now write to the new topic; status then reports stray writes to the old one",
		UsageText: "migrator cutover producers --rename huleedu.commands.batch.pipeline.v1\n" +
			"migrator -b kafka:9092 drain --rename huleedu.commands.batch.pipeline.v1 && deploy-new-producers && migrator cutover producers --rename ...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check and show, change nothing"},
		},
		Action: func(c *cli.Context) error {
			env, done, err := lifecycleEnv(c)
			if err != nil {
				return err
			}
			defer done()
			rec, err := lifecycle.CutoverProducers(c.Context, env, c.String("rename"), c.Bool("dry-run"))
			if err != nil {
				return err
			}
			return printer(c).Print(rec, []string{"from", "to", "phase", "since"}, func() [][]string {
				return [][]string{{rec.From, rec.To, string(rec.Phase), rec.PhaseSince.Format("2006-01-02 15:04:05")}}
			})
		},
	}
}

func drainCommand() *cli.Command {
	return &cli.Command{
		Name:      "drain",
		Usage:     "wait until the bridge has copied everything the old topic holds now (lag 0)",
		UsageText: "migrator -b kafka:9092 drain --rename huleedu.commands.batch.pipeline.v1 --timeout 5m",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"},
			&cli.StringFlag{Name: "bridge-group", Value: "topic-migrator-bridge", Usage: "the bridge's consumer group"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			m, cl, err := mapAndConnect(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := lifecycle.Drain(c.Context, cl, m, lifecycle.DrainOptions{Rename: c.String("rename"), BridgeGroup: c.String("bridge-group"), Timeout: c.Duration("timeout")}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "drained: the bridge has copied everything %s held\n", c.String("rename"))
			return nil
		},
	}
}

func retireCommand() *cli.Command {
	return &cli.Command{
		Name:  "retire",
		Usage: "delete the old topic once it is safe (window over, no readers, no recent stray writes, verified)",
		UsageText: "migrator -b kafka:9092 retire --rename huleedu.commands.batch.pipeline.v1 --yes\n" +
			"migrator -b kafka:9092 retire --rename OLD --force --reason 'INC-123: disk pressure' --yes",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"},
			&cli.BoolFlag{Name: "force", Usage: "retire before the window ends (needs --reason)"},
			&cli.StringFlag{Name: "reason", Usage: "why --force; recorded in the audit log"},
			&cli.DurationFlag{Name: "quiet-period", Value: 24 * time.Hour, Usage: "no stray write to the old topic for this long"},
			&cli.StringFlag{Name: "bridge-group", Value: "topic-migrator-bridge", Usage: "the bridge's consumer group"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check only"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *cli.Context) error {
			if !c.Bool("dry-run") && !c.Bool("yes") {
				if err := confirm(c, "Delete "+c.String("rename")+"?"); err != nil {
					return err
				}
			}
			env, done, err := lifecycleEnv(c)
			if err != nil {
				return err
			}
			defer done()
			err = lifecycle.Retire(c.Context, env, lifecycle.RetireOptions{
				Rename: c.String("rename"), Force: c.Bool("force"), Reason: c.String("reason"),
				QuietPeriod: c.Duration("quiet-period"), BridgeGroup: c.String("bridge-group"), DryRun: c.Bool("dry-run"),
			}, time.Now())
			if err != nil {
				return err
			}
			verb := "retired"
			if c.Bool("dry-run") {
				verb = "safe to retire"
			}
			fmt.Fprintf(c.App.Writer, "%s: %s\n", verb, c.String("rename"))
			return nil
		},
	}
}

// lifecycleEnv connects and opens the state file for a lifecycle step.
func lifecycleEnv(c *cli.Context) (*lifecycle.Env, func(), error) {
	st, err := openStateToChange(c)
	if err != nil {
		return nil, nil, err
	}
	m, cl, err := mapAndConnect(c)
	if err != nil {
		return nil, nil, err
	}
	return &lifecycle.Env{Admin: cl, Store: st, Map: m, Command: commandLine(), Log: logger(c)}, cl.Close, nil
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "take a rename back to its old topic from any phase before retired",
		Description: "After producers-cut it first copies the records written to the new topic back to the old one\n" +
			"(the reverse bridge, until caught up), so old consumers miss nothing. Then it moves every consumer\n" +
			"group on the new topic back with exact translation, records phase rolled-back (the bridge stops),\n" +
			"and deletes the new topic only when it holds nothing but copies of the old one.",
		UsageText: "migrator -b kafka:9092 rollback --rename huleedu.commands.batch.pipeline.v1 --yes",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rename", Required: true, Usage: "the rename, by its old `TOPIC`"},
			&cli.StringFlag{Name: "bridge-group", Value: "topic-migrator-bridge", Usage: "the forward bridge's consumer group"},
			&cli.StringFlag{Name: "reverse-group", Value: "topic-migrator-reverse", Usage: "consumer group of the reverse copy"},
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would happen, change nothing"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		},
		Action: func(c *cli.Context) error {
			if !c.Bool("yes") && !c.Bool("dry-run") {
				if err := confirm(c, "Roll "+c.String("rename")+" back to its old topic?"); err != nil {
					return err
				}
			}
			env, done, err := lifecycleEnv(c)
			if err != nil {
				return err
			}
			defer done()
			cfg, err := clientConfig(c)
			if err != nil {
				return err
			}
			reverse := func(ctx context.Context) error {
				return bridge.Run(ctx, bridge.Options{
					Client: cfg, Group: c.String("reverse-group"), InstanceID: "rollback", OneOff: true,
					Headers: bridge.HeaderPolicy{Enrich: true}, UntilCaughtUp: true, Admin: env.Admin, Log: env.Log,
					Routes: &bridge.MapRoutes{Map: env.Map, Admin: env.Admin, Store: env.Store, Only: []string{c.String("rename")}, Reverse: true, Log: env.Log},
				})
			}
			res, err := lifecycle.Rollback(c.Context, env, lifecycle.RollbackOptions{
				Rename: c.String("rename"), BridgeGroup: c.String("bridge-group"), ReverseGroup: c.String("reverse-group"), Reverse: reverse,
				DryRun: c.Bool("dry-run"),
			})
			if res != nil {
				if perr := printGroupMoves(c, res, res.Groups, "offset on new", "offset on old"); perr != nil && err == nil {
					err = perr
				}
				verb := "rolled back"
				if res.DryRun {
					verb = "would roll back"
				}
				fmt.Fprintf(c.App.Writer, "%s %s from phase %s; reverse copy: %v; new topic %s\n", verb, res.From, res.FromPhase, res.ReverseCopy, res.NewTopic)
			}
			return err
		},
	}
}

// printGroupMoves prints v as JSON, or the groups' translations as a table
// whose offset columns are called from and to.
func printGroupMoves(c *cli.Context, v any, groups []lifecycle.GroupCutover, from, to string) error {
	return printer(c).Print(v, []string{"group", "partition", from, to, "outcome"}, func() [][]string {
		var rows [][]string
		for _, g := range groups {
			for _, t := range g.Translations {
				rows = append(rows, []string{g.Group, fmt.Sprint(t.Partition), fmt.Sprint(t.OldOffset), fmt.Sprint(t.NewOffset), g.Outcome})
			}
		}
		return rows
	})
}

// mapAndConnect loads the rename map and connects to the cluster; close
// the client when done.
func mapAndConnect(c *cli.Context) (*plan.RenameMap, *admin.Client, error) {
	m, err := plan.LoadRenameMap(c.Path(flagMap))
	if err != nil {
		return nil, nil, err
	}
	cl, err := connect(c)
	if err != nil {
		return nil, nil, err
	}
	return m, cl, nil
}
