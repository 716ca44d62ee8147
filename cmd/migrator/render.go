package main

import (
	"fmt"
	"log/slog"
	"strings"

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

// showProgress returns the progress reporter of a command's long waits
// (stderr: live bars on a terminal, a plain line every 10 s otherwise) and
// the func that stops it when the command ends.
func showProgress(c *cli.Context) (lifecycle.Progress, func()) {
	p := newProgress(c.App.ErrWriter)
	return func(u lifecycle.ProgressUpdate) { p.Update(u.Task, u.Unit, u.Done, u.Total, u.Finished) }, p.Close
}

// withProgress shows env's long waits and sends its logs through the same
// display, so that on a terminal a log line lands above the live bars
// instead of through them; it returns done extended to stop the display.
func withProgress(c *cli.Context, env *lifecycle.Env, done func()) func() {
	p := newProgress(c.App.ErrWriter)
	env.Progress = func(u lifecycle.ProgressUpdate) { p.Update(u.Task, u.Unit, u.Done, u.Total, u.Finished) }
	env.Log = slog.New(slog.NewTextHandler(p, &slog.HandlerOptions{Level: logLevel(c)}))
	return func() { p.Close(); done() }
}

// newProgress makes the progress display; tests replace it to see plain
// lines at once.
var newProgress = output.NewProgress

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

// withoutSubject drops subject (or "target subject") from the start of
// msg: the block's head already names it.
func withoutSubject(msg, subject string) string {
	if subject == "" {
		return msg
	}
	for _, prefix := range []string{subject + " ", "target " + subject + " "} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			return rest
		}
	}
	return msg
}
