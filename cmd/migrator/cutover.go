package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

func cutoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "cutover",
		Usage: "move consumer groups from an old topic to its new one",
		Subcommands: []*cli.Command{{
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
			},
			Action: func(c *cli.Context) error {
				if len(c.StringSlice("group")) == 0 && !c.Bool("all-groups") {
					return fmt.Errorf("cutover consumers: name a --group or say --all-groups")
				}
				m, err := plan.LoadRenameMap(c.Path(flagMap))
				if err != nil {
					return err
				}
				cl, err := connect(c)
				if err != nil {
					return err
				}
				defer cl.Close()
				env := &lifecycle.Env{Admin: cl, Map: m, Command: commandLine(), Log: logger(c)}
				if !c.Bool("dry-run") {
					if env.Store, err = openState(c); err != nil {
						return err
					}
				}
				res, err := lifecycle.CutoverConsumers(c.Context, env, lifecycle.CutoverOptions{
					Rename: c.String("rename"), Groups: c.StringSlice("group"), AllGroups: c.Bool("all-groups"),
					BridgeGroup: c.String("bridge-group"), DryRun: c.Bool("dry-run"),
				})
				if perr := printer(c).Print(res, []string{"group", "partition", "old offset", "new offset", "outcome"}, func() [][]string {
					var rows [][]string
					for _, g := range res {
						for _, t := range g.Translations {
							rows = append(rows, []string{g.Group, fmt.Sprint(t.Partition), fmt.Sprint(t.OldOffset), fmt.Sprint(t.NewOffset), g.Outcome})
						}
					}
					return rows
				}); perr != nil && err == nil {
					err = perr
				}
				return err
			},
		}},
	}
}
