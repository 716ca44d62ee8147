package main

import (
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func validateMapCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate-map",
		Usage:     "check rename-map.yaml for errors without touching the cluster",
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
			return printer(c).PrintTable(rows, func() output.TableView {
				t := output.TableView{Columns: []output.Column{{Name: "from"}, {Name: "to"}, {Name: "strategy"}, {Name: "event", Wide: true}}}
				for _, r := range rows {
					t.Rows = append(t.Rows, []string{r.From, r.To, r.Strategy, r.Event})
				}
				return t
			})
		},
	}
}
