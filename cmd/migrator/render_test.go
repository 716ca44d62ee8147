package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestHumanOutputFitsTheTerminal runs the commands people read most (plan,
// lint, validate-map, status, catalog, apply, verify, history) on the
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
			{"-b", c.Bootstrap, "--state", stateFile, "apply", "--dry-run", "--yes"},
			{"-b", c.Bootstrap, "--state", stateFile, "verify"},
			{"--state", stateFile, "history"},
		}
		for _, width := range []int{80, 120, 200} {
			for _, boxed := range []bool{true, false} {
				for _, format := range []string{"table", "wide"} {
					asTerminal(t, width, boxed)
					for _, args := range commands {
						what := fmt.Sprintf("%v -o %s (boxed %v)", args, format, boxed)
						out, stderr, err := run(t, append([]string{"--map", shippedMap, "-o", format}, args...)...)
						// lint finds warnings; verify finds nothing copied yet.
						if err != nil && !slices.Contains(args, "lint") && !slices.Contains(args, "verify") {
							t.Fatalf("%s: %v\n%s", what, err, stderr)
						}
						checkWidth(t, what, width, out)
					}
				}
			}
		}
	})
}

// plainProgressAtOnce makes the commands report every progress update as a
// plain line (no delay, no interval) for the rest of the test.
func plainProgressAtOnce(t *testing.T) {
	old := newProgress
	t.Cleanup(func() { newProgress = old })
	newProgress = func(w io.Writer) *output.Progress {
		p := old(w)
		p.Delay, p.Interval = 0, 0
		return p
	}
}

// TestProgressOnStderrOnly: the copy of mirror --until-caught-up and
// verify's comparison report progress per batch on stderr; with -o json
// stdout holds the JSON document and nothing else.
func TestProgressOnStderrOnly(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		plainProgressAtOnce(t)
		const src, dst = "progress.src_v1", "progress.dst.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 2)
		produceNumbered(t, c, src, 2, 0, 3000)
		args := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "-o", "json"}
		out, stderr, err := run(t, append(args, "mirror", "--until-caught-up", "--instance-id", "p")...)
		if err != nil {
			t.Fatalf("mirror: %v\n%s", err, stderr)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("mirror wrote to stdout: %q", out)
		}
		if !strings.Contains(stderr, "mirror until caught up: done, 6,000 records") {
			t.Errorf("mirror --until-caught-up reported no progress:\n%s", stderr)
		}
		out, stderr, err = run(t, append(args, "verify")...)
		if err != nil {
			t.Fatalf("verify: %v\n%s", err, stderr)
		}
		var reports []map[string]any
		if err := json.Unmarshal([]byte(out), &reports); err != nil || len(reports) != 1 {
			t.Errorf("verify -o json stdout is not one JSON document (%v):\n%s", err, out)
		}
		task := "verify " + src
		// 3,000 records a partition: a report every 1,000 of each.
		for _, want := range []string{task + ": 1,000 of 6,000 records", task + ": 5,000 of 6,000 records", task + ": done, 6,000 records"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("verify stderr lacks %q:\n%s", want, stderr)
			}
		}
		// drain waits for a bridge to copy what the old topic holds now.
		produceNumbered(t, c, src, 2, 3000, 500)
		type result struct {
			stderr string
			err    error
		}
		drained := make(chan result, 1)
		go func() {
			_, stderr, err := run(t, append(args, "drain", "--rename", src, "--timeout", "1m")...)
			drained <- result{stderr, err}
		}()
		time.Sleep(time.Second) // the drain has its first look at the lag
		if _, stderr, err := run(t, append(args, "mirror", "--until-caught-up", "--instance-id", "p")...); err != nil {
			t.Fatalf("mirror: %v\n%s", err, stderr)
		}
		r := <-drained
		if r.err != nil {
			t.Fatalf("drain: %v\n%s", r.err, r.stderr)
		}
		if !strings.Contains(r.stderr, "drain "+src+": 0 of 1,000 records (0%)") || !strings.Contains(r.stderr, "drain "+src+": done, 1,000 records") {
			t.Errorf("drain reported no progress:\n%s", r.stderr)
		}
	})
}

func TestWithoutSubject(t *testing.T) {
	for _, c := range []struct{ msg, subject, want string }{
		{"a.b_c.v1 segment \"b_c\" has '_'.", "a.b_c.v1", "segment \"b_c\" has '_'."},
		{"target a.b_c.v1 segment \"b_c\" has '_'.", "a.b_c.v1", "segment \"b_c\" has '_'."},
		{"source topic a.v1 does not exist.", "a.v1", "source topic a.v1 does not exist."},
		{"event X has no topic.", "", "event X has no topic."},
	} {
		if got := withoutSubject(c.msg, c.subject); got != c.want {
			t.Errorf("withoutSubject(%q, %q) = %q, want %q", c.msg, c.subject, got, c.want)
		}
	}
}
