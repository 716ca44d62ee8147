package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
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
				renameFlag(),
				&cli.StringSliceFlag{Name: "group", Usage: "consumer `GROUP` to move (repeatable)"},
				&cli.BoolFlag{Name: "all-groups", Usage: "move every group with offsets on the old topic"},
				bridgeGroupFlag("the bridge's consumer group (never moved)"),
				&cli.BoolFlag{Name: "dry-run", Usage: "show the translation, change nothing"},
				&cli.DurationFlag{Name: "wait", Usage: "wait up to this long for the bridge to copy past the groups' offsets instead of refusing"},
				yesFlag(),
			},
			Action: func(c *cli.Context) error {
				if len(c.StringSlice("group")) == 0 && !c.Bool("all-groups") {
					return &usageError{msg: "cutover consumers: name a --group or say --all-groups"}
				}
				ask, err := mustAsk(c)
				if err != nil {
					return err
				}
				use := stateToChange
				if c.Bool("dry-run") {
					use = stateNone
				}
				env, done, err := newEnv(c, use)
				if err != nil {
					return err
				}
				defer done()
				opts := lifecycle.CutoverConsumersOptions{
					Rename: c.String("rename"), Groups: c.StringSlice("group"), AllGroups: c.Bool("all-groups"),
					DryRun: c.Bool("dry-run"), Wait: c.Duration("wait"),
				}
				if ask {
					preview := opts
					preview.DryRun = true
					res, err := lifecycle.CutoverConsumers(c.Context, env, preview)
					if err != nil {
						return err
					}
					showGroupMoves(c, res.Groups, "old", "new")
					if err := confirm(c, fmt.Sprintf("Move these groups from %s to its new topic?", c.String("rename"))); err != nil {
						return err
					}
				}
				res, err := lifecycle.CutoverConsumers(c.Context, env, opts)
				if res != nil {
					if perr := printGroupMoves(c, res.Groups, res.Groups, "old offset", "new offset"); perr != nil && err == nil {
						err = perr
					}
				}
				return err
			},
		}},
	}
}

// showGroupMoves lists, on stderr, the moves a cutover (or rollback) is
// about to make, from the topic called from to the one called to.
func showGroupMoves(c *cli.Context, groups []lifecycle.GroupCutover, from, to string) {
	w := c.App.ErrWriter
	if len(groups) == 0 {
		fmt.Fprintln(w, "no group to move")
		return
	}
	fmt.Fprintln(w, "consumer groups to move:")
	for _, g := range groups {
		for _, t := range g.Translations {
			fmt.Fprintf(w, "  group %s partition %d: offset %d on the %s topic → %d on the %s\n", g.Group, t.Partition, t.OldOffset, from, t.NewOffset, to)
		}
		if len(g.Translations) == 0 {
			fmt.Fprintf(w, "  group %s: %s\n", g.Group, g.Outcome)
		}
	}
}

func cutoverProducersCommand() *cli.Command {
	return &cli.Command{
		Name:  "producers",
		Usage: "record that producers now write to the new topic; status then reports stray writes to the old one",
		UsageText: "migrator cutover producers --rename huleedu.commands.batch.pipeline.v1\n" +
			"migrator -b kafka:9092 drain --rename huleedu.commands.batch.pipeline.v1 && deploy-new-producers && migrator cutover producers --rename ... --yes   # a script: no terminal to ask on",
		Flags: []cli.Flag{
			renameFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "check and show, change nothing"},
			yesFlag(),
		},
		Action: func(c *cli.Context) error {
			ask, err := mustAsk(c)
			if err != nil {
				return err
			}
			env, done, err := newEnv(c, stateToChange)
			if err != nil {
				return err
			}
			defer done()
			if ask {
				if err := confirm(c, fmt.Sprintf("Record that the producers of %s now write to its new topic (status then counts writes to %s as stray)?", c.String("rename"), c.String("rename"))); err != nil {
					return err
				}
			}
			res, err := lifecycle.CutoverProducers(c.Context, env, lifecycle.CutoverProducersOptions{Rename: c.String("rename"), DryRun: c.Bool("dry-run")})
			if err != nil {
				return err
			}
			rec := res.Rename
			return printer(c).Print(rec, []string{"from", "to", "phase", "since"}, func() [][]string {
				return [][]string{{rec.From, rec.To, string(rec.Phase), rec.PhaseSince.Format("2006-01-02 15:04:05")}}
			})
		},
	}
}
