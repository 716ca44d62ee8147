package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
)

func catalogCommand() *cli.Command {
	return &cli.Command{
		Name:  "catalog",
		Usage: "generate the event catalog (Markdown, or JSON or YAML with -o json, -o yaml) from the map and the cluster",
		UsageText: "migrator -b kafka:9092 catalog --out docs/event-catalog.md\n" +
			"migrator catalog          # a table of the events; without a cluster retention is left out\n" +
			"migrator catalog --markdown > catalog.md",
		Flags: []cli.Flag{
			&cli.PathFlag{Name: "out", Usage: "write the Markdown catalog to `FILE`"},
			&cli.BoolFlag{Name: "markdown", Usage: "print the Markdown catalog instead of a table"},
		},
		Action: func(c *cli.Context) error {
			m, err := plan.LoadRenameMap(c.Path(flagMap))
			if err != nil {
				return err
			}
			var snap *admin.Snapshot
			if cfg, err := clientConfig(c); err != nil {
				return err
			} else if cfg.Bootstrap() != "" {
				if snap, err = describe(c, admin.DescribeOptions{}); err != nil {
					return err
				}
			}
			cat := plan.MakeCatalog(m, snap)
			doc := cat.Markdown()
			if pr := printer(c); !pr.Human() {
				var b bytes.Buffer
				if err := (output.Printer{Format: pr.Format, W: &b}).Print(cat, nil, nil); err != nil {
					return err
				}
				doc = b.String()
			}
			if out := c.Path("out"); out != "" {
				if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
					return fmt.Errorf("write catalog %s: %w", out, err)
				}
				return nil
			}
			if pr := printer(c); pr.Human() && !c.Bool("markdown") {
				return pr.WriteTable(catalogTable(plan.CatalogEntries(m, snap)))
			}
			_, err = fmt.Fprint(c.App.Writer, doc)
			return err
		},
	}
}

// catalogTable shows the catalog's events; domain and retention only with
// -o wide.
func catalogTable(entries []plan.CatalogEntry) output.TableView {
	t := output.TableView{Columns: []output.Column{
		{Name: "domain", Wide: true}, {Name: "event"}, {Name: "topic"}, {Name: "partition key"}, {Name: "retention", Wide: true},
	}}
	for _, e := range entries {
		t.Rows = append(t.Rows, []string{e.Domain, e.Event, e.Topic, e.PartitionKey, e.Retention})
	}
	return t
}
