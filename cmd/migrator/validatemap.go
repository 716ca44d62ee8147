package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func validateMapCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate-map",
		Usage:     "check rename-map.yaml for errors without touching the cluster: syntax, cycles, chains (a→b, b→c), targets that collide ('.' against '_')",
		UsageText: "migrator --map rename-map.yaml validate-map",
		Action: func(c *cli.Context) error {
			m, err := plan.LoadRenameMap(c.Path(flagMap))
			if err != nil {
				return err
			}
			type row struct {
				Event    string `json:"event,omitempty"`
				From     string `json:"from"`
				To       string `json:"to"`
				Strategy string `json:"strategy"`
			}
			rows := make([]row, len(m.Renames))
			for i, r := range m.Renames {
				rows[i] = row{r.Event, r.From, r.To, string(r.Strategy)}
			}
			if err := printer(c).PrintTable(rows, func() output.TableView {
				t := output.TableView{Columns: []output.Column{{Name: "from"}, {Name: "to"}, {Name: "strategy"}, {Name: "event", Wide: true}}}
				for _, r := range rows {
					t.Rows = append(t.Rows, []string{r.From, r.To, r.Strategy, r.Event})
				}
				return t
			}); err != nil {
				return err
			}
			problems := plan.CheckMap(m)
			if len(problems) == 0 {
				return nil
			}
			msgs := make([]string, len(problems))
			for i, f := range problems {
				msgs[i] = fmt.Sprintf("  %s: %s Fix: %s", f.Code, f.Message, f.Fix)
			}
			return fmt.Errorf("validate-map: %s: %d problem(s):\n%s", m.Path, len(problems), strings.Join(msgs, "\n"))
		},
	}
}
