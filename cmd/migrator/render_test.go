package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/output"
)

// asTerminal makes the commands print as to a terminal of width columns
// (boxed tables) for the rest of the test, or as to a pipe whose reader set
// COLUMNS when boxed is false.
func asTerminal(t *testing.T, width int, boxed bool) {
	old := printerFor
	t.Cleanup(func() { printerFor = old })
	printerFor = func(f output.Format, w io.Writer) output.Printer {
		return output.Printer{Format: f, W: w, Width: width, Boxed: boxed}
	}
}

// checkWidth fails when a line of out is wider than width.
func checkWidth(t *testing.T, what string, width int, out string) {
	t.Helper()
	if strings.TrimSpace(out) == "" {
		t.Errorf("%s: no output", what)
	}
	for i, l := range strings.Split(out, "\n") {
		if w := runewidth.StringWidth(l); w > width {
			t.Errorf("%s at %d columns: line %d is %d wide: %q", what, width, i+1, w, l)
		}
	}
}

// TestHumanOutputFitsTheTerminal runs the commands people read most on the
// shipped map over HuleEdu's 69 topics at 80, 120 and 200 columns, boxed (a
// terminal) and plain (a pipe with COLUMNS), default and wide: no line is
// wider than the terminal.
func TestHumanOutputFitsTheTerminal(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		c.SeedHuleEdu(t, 3)
		stateFile := filepath.Join(t.TempDir(), "s.db")
		if _, stderr, err := run(t, "-b", c.Bootstrap, "--map", shippedMap, "--state", stateFile, "apply", "--yes"); err != nil {
			t.Fatalf("apply: %v\n%s", err, stderr)
		}
		commands := [][]string{
			{"-b", c.Bootstrap, "plan"},
			{"lint"},
			{"validate-map"},
			{"-b", c.Bootstrap, "--state", stateFile, "status"},
			{"-b", "", "catalog"},
		}
		for _, width := range []int{80, 120, 200} {
			for _, boxed := range []bool{true, false} {
				for _, format := range []string{"table", "wide"} {
					asTerminal(t, width, boxed)
					for _, args := range commands {
						what := fmt.Sprintf("%v -o %s (boxed %v)", args, format, boxed)
						out, stderr, err := run(t, append([]string{"--map", shippedMap, "-o", format}, args...)...)
						if err != nil && args[0] != "lint" {
							t.Fatalf("%s: %v\n%s", what, err, stderr)
						}
						checkWidth(t, what, width, out)
					}
				}
			}
		}
	})
}
