package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/output"
	"github.com/huleedu/topic-migrator/plan"
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

// findingBlock shows a finding as a block: severity, code and subject (its
// topic, else subject), then its message, without the subject it starts
// with, and its fix.
func findingBlock(f plan.Finding, subject string) output.Block {
	if f.Topic != "" {
		subject = f.Topic
	}
	return output.Block{
		Head: []string{string(f.Severity), f.Code, subject},
		Body: []output.Line{{Text: withoutSubject(f.Message, subject)}, {Label: "fix", Text: f.Fix}},
	}
}

// withoutSubject drops subject from the start of msg: the block's head
// already names it.
func withoutSubject(msg, subject string) string {
	if rest, ok := strings.CutPrefix(msg, subject+" "); ok && subject != "" {
		return rest
	}
	return msg
}
