package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
)

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

// bar draws done of total as [#####-----].
func bar(done, total int) string {
	const width = 20
	n := width * done / max(total, 1)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

// isTerminal reports whether w is a terminal (progress bars) rather than
// a file or pipe (plain lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
