package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// onTerminal makes confirmations read answer, as from a terminal.
func onTerminal(t *testing.T, answer string) {
	t.Helper()
	old := terminalInput
	terminalInput = func() (io.Reader, bool) { return strings.NewReader(answer), true }
	t.Cleanup(func() { terminalInput = old })
}

// TestApplyShowsTopicsBeforeAsking: apply lists the topics it will
// create, then asks; "n" changes nothing (not even a state file).
func TestApplyShowsTopicsBeforeAsking(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "ask.orders_old.v1", "ask.orders.new.v1"
	c.CreateTopic(t, src, 3, nil)
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
	stateFile := filepath.Join(t.TempDir(), "s.db")
	args := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply"}

	_, _, err := run(t, args...)
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "needs --yes (-y) when not run from a terminal") {
		t.Errorf("apply off a terminal: %v (exit %d), want a usage error asking for --yes", err, exitCode(err))
	}

	onTerminal(t, "n\n")
	_, stderr, err := run(t, args...)
	if err == nil || !strings.Contains(err.Error(), "not confirmed") || exitCode(err) != exitFailure {
		t.Errorf("apply answered n: %v (exit %d)", err, exitCode(err))
	}
	list := strings.Index(stderr, "create "+dst+" (for "+src+" → "+dst)
	ask := strings.Index(stderr, "Create these topics on "+c.Bootstrap)
	if list < 0 || ask < list {
		t.Errorf("apply did not list the topic before asking:\n%s", stderr)
	}
	if fileExists(stateFile) || fileExists(stateFile+".lock") {
		t.Error("a declined apply left a state file")
	}
	snap, err := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Topics[dst] != nil {
		t.Errorf("a declined apply created %s", dst)
	}

	onTerminal(t, "y\n")
	if _, stderr, err := run(t, args...); err != nil {
		t.Fatalf("apply answered y: %v\n%s", err, stderr)
	}
	if !fileExists(stateFile) {
		t.Error("apply answered y created no state file")
	}
}

// TestCutoverConsumersShowsMovesBeforeAsking: each group's move is shown,
// then the question; -y skips both.
func TestCutoverConsumersShowsMovesBeforeAsking(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "askc.orders_old.v1", "askc.orders.new.v1"
	mapFile, stateFile := appliedRename(t, c, src, dst, 1)
	produceNumbered(t, c, src, 1, 0, 10)
	commitOffsets(t, c, "askc-app", src, map[int32]int64{0: 4})
	if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--until-caught-up"); err != nil {
		t.Fatal(err)
	}
	args := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "consumers", "--rename", src, "--group", "askc-app"}

	_, _, err := run(t, args...)
	if exitCode(err) != exitUsage {
		t.Errorf("cutover consumers off a terminal without --yes: %v (exit %d), want %d", err, exitCode(err), exitUsage)
	}
	onTerminal(t, "no\n")
	_, stderr, err := run(t, args...)
	if err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("answered no: %v", err)
	}
	move := strings.Index(stderr, "group askc-app partition 0: offset 4 on the old topic → 4 on the new")
	ask := strings.Index(stderr, "Move these groups from "+src+" to its new topic? [y/N]")
	if move < 0 || ask < move {
		t.Errorf("the move was not shown before the question:\n%s", stderr)
	}
	onTerminal(t, "y\n")
	out, stderr, err := run(t, args...)
	if err != nil || !strings.Contains(out, "askc-app") {
		t.Fatalf("answered y: %v\n%s\n%s", err, out, stderr)
	}
}

// TestYesOnEveryCommandThatChanges: every command that changes the
// cluster or the state takes --yes and -y.
func TestYesOnEveryCommandThatChanges(t *testing.T) {
	changes := map[string]bool{"apply": true, "cutover consumers": true, "cutover producers": true, "cutover swap": true, "retire": true, "rollback": true}
	for _, cmd := range newApp(io.Discard, io.Discard).Commands {
		for _, leaf := range append([]*cli.Command{cmd}, cmd.Subcommands...) {
			name := leaf.Name
			if leaf != cmd {
				name = cmd.Name + " " + leaf.Name
			}
			if !changes[name] {
				continue
			}
			delete(changes, name)
			if !definesAny(leaf.Flags, []string{"yes"}) || !definesAny(leaf.Flags, []string{"y"}) {
				t.Errorf("%s has no --yes/-y", name)
			}
		}
	}
	for name := range changes {
		t.Errorf("command %s not found", name)
	}
}

// TestSwapShowsStepsBeforeAsking: cutover swap lists its steps, then
// asks; "n" leaves the old topic alone.
func TestSwapShowsStepsBeforeAsking(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "asks.delivery_failed.v1", "asks.delivery.failed.v1"
	c.CreateTopic(t, src, 1, nil)
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", src, dst))
	stateFile := filepath.Join(t.TempDir(), "s.db")
	mustCLI(t, c, mapFile, stateFile)("apply", "--yes")
	onTerminal(t, "n\n")
	_, stderr, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "swap", "--rename", src, "--quiet-for", "10ms")
	if err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("swap answered n: %v\n%s", err, stderr)
	}
	steps := strings.Index(stderr, "the swap will replace "+src+" by "+dst)
	ask := strings.Index(stderr, "Delete "+src+" and recreate it as "+dst+"? [y/N]")
	if steps < 0 || ask < steps || !strings.Contains(stderr, "  old-deleted: would do") {
		t.Errorf("the steps were not listed before the question:\n%s", stderr)
	}
	snap, err := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
	if err != nil || snap.Topics[src] == nil {
		t.Errorf("a declined swap deleted %s (%v)", src, err)
	}
}
