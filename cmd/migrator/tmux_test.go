package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// paneWidth is the width of the tmux pane the terminal tests run in.
const paneWidth = 100

// tmuxPane runs shell in a detached tmux pane of paneWidth columns on a
// server of its own, waits up to timeout for it to finish, and returns
// the whole screen, history included, with wrapped lines joined: a line
// longer than the pane is one the terminal had to wrap.
func tmuxPane(t *testing.T, shell string, timeout time.Duration) string {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux; .ci/run installs it): no real-terminal test")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g history-limit 100000\nset -g remain-on-exit on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", socket, "-f", conf}, args...)...).CombinedOutput()
		return string(out), err
	}
	const done = "__PANE_DONE__"
	// COLUMNS is unset so that the width comes from the terminal itself.
	cmd := fmt.Sprintf("env -u COLUMNS sh -c '%s'; echo %s $?", shell, done)
	if out, err := tmux("new-session", "-d", "-x", fmt.Sprint(paneWidth), "-y", "50", "-s", "t", cmd); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })
	deadline := time.Now().Add(timeout)
	for {
		screen, err := tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "t")
		if err != nil {
			t.Fatalf("tmux capture-pane: %v\n%s", err, screen)
		}
		if i := strings.Index(screen, done+" "); i >= 0 {
			if code := strings.Fields(screen[i+len(done):])[0]; code != "0" {
				t.Errorf("%s exited %s:\n%s", shell, code, screen)
			}
			return screen[:i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not finish within %s:\n%s", shell, timeout, screen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkScreen fails on a line wider than the pane and on a boxed table
// whose lines are not all one width or do not start and end with its
// borders.
func checkScreen(t *testing.T, what, screen string) {
	t.Helper()
	tables := 0
	var table []string
	for i, line := range strings.Split(screen, "\n") {
		line = strings.TrimRight(line, " ")
		if w := runewidth.StringWidth(line); w > paneWidth {
			t.Errorf("%s: line %d is %d columns wide in a pane of %d: %q", what, i+1, w, paneWidth, line)
		}
		switch {
		case strings.HasPrefix(line, "┌"):
			table = []string{line}
		case table != nil:
			table = append(table, line)
			if strings.HasPrefix(line, "└") {
				tables++
				checkTable(t, what, table)
				table = nil
			}
		}
	}
	if table != nil {
		t.Errorf("%s: a table is not closed:\n%s", what, strings.Join(table, "\n"))
	}
	if tables == 0 {
		t.Errorf("%s: no boxed table on the terminal:\n%s", what, screen)
	}
}

func checkTable(t *testing.T, what string, lines []string) {
	t.Helper()
	width := runewidth.StringWidth(lines[0])
	for _, l := range lines {
		first, last := []rune(l)[0], []rune(l)[len([]rune(l))-1]
		if runewidth.StringWidth(l) != width || !strings.ContainsRune("┌│├└", first) || !strings.ContainsRune("┐│┤┘", last) {
			t.Errorf("%s: broken table line %q in:\n%s", what, l, strings.Join(lines, "\n"))
			return
		}
	}
}

// TestTerminalDemoAndPlan runs `migrator demo` and `migrator plan` (the
// shipped map over HuleEdu's 69 topics on kfake) in a real terminal: a tmux
// pane of 100 columns. The captured screen has no line wider than the pane
// and no broken table.
func TestTerminalDemoAndPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in tmux; skipped with -short")
	}
	bin := migratorBinary(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("demo", func(t *testing.T) {
		screen := tmuxPane(t, "cd "+root+" && "+bin+" demo", 4*time.Minute)
		if !strings.Contains(screen, "verify passed") {
			t.Errorf("the demo did not finish its walk:\n%s", screen)
		}
		checkScreen(t, "migrator demo", screen)
	})
	t.Run("plan", func(t *testing.T) {
		kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
			c.SeedHuleEdu(t, 3)
			// lint's exit code is not this test's business.
			screen := tmuxPane(t, fmt.Sprintf("%s -b %s --map %s/rename-map.yaml plan && { %s --map %s/rename-map.yaml lint || true; }",
				bin, c.Bootstrap, root, bin, root), time.Minute)
			if !strings.Contains(screen, "Plan ") || !strings.Contains(screen, "warning  naming") {
				t.Errorf("no plan or lint on the screen:\n%s", screen)
			}
			checkScreen(t, "migrator plan", screen)
		})
	})
}
