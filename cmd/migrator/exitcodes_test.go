package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitUnreachable: nothing listening at the bootstrap address fails
// in seconds, exit 7, with one line naming the cause.
func TestExitUnreachable(t *testing.T) {
	addr := closedAddr(t)
	start := time.Now()
	_, _, err := run(t, "-b", addr, "ping")
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("a refused connection took %s to report", took)
	}
	if exitCode(err) != exitUnreachable {
		t.Fatalf("ping %s: %v (exit %d), want exit %d", addr, err, exitCode(err), exitUnreachable)
	}
	msg := err.Error()
	if want := "cannot reach Kafka at " + addr + ": Connect to " + addr + " failed: Connection refused"; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if strings.Contains(msg, "thrd:") || strings.Contains(msg, "\n") {
		t.Errorf("message %q is not one clean line", msg)
	}
}

// TestLintFailOn: the shipped map has warnings but no errors, so lint
// exits 0; --fail-on warning makes warnings fail; an error fails both.
func TestLintFailOn(t *testing.T) {
	_, _, err := run(t, "--map", "../../rename-map.yaml", "lint")
	if err != nil {
		t.Errorf("lint of the shipped map: %v, want exit 0", err)
	}
	_, _, err = run(t, "--map", "../../rename-map.yaml", "lint", "--fail-on", "warning")
	if exitCode(err) != exitFailure || !strings.Contains(fmt.Sprint(err), "0 error(s)") {
		t.Errorf("lint --fail-on warning of the shipped map: %v (exit %d), want exit 1", err, exitCode(err))
	}
	_, _, err = run(t, "--map", "../../rename-map.yaml", "lint", "--fail-on", "info")
	if exitCode(err) != exitUsage {
		t.Errorf("lint --fail-on info: %v (exit %d), want exit %d", err, exitCode(err), exitUsage)
	}
	chain := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: a.x.v1, to: a.y.v1}\n  - {from: a.y.v1, to: a.z.v1}\n")
	_, _, err = run(t, "--map", chain, "lint")
	if exitCode(err) != exitFailure || !strings.Contains(fmt.Sprint(err), "1 error(s)") {
		t.Errorf("lint of a map with a chain: %v (exit %d), want exit 1 naming 1 error", err, exitCode(err))
	}
}

// TestExitCodesDocumented: docs/reference.md and the README carry the
// table of exitCodes, row for row.
func TestExitCodesDocumented(t *testing.T) {
	for _, doc := range []string{"../../docs/reference.md", "../../README.md"} {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range exitCodes {
			if row := fmt.Sprintf("| %d | %s |", e.Code, e.Meaning); !strings.Contains(string(raw), row) {
				t.Errorf("%s lacks the exit code row %q", doc, row)
			}
		}
	}
}

// TestExitCodesOneByOne covers the codes the other tests do not: 0, 1
// and lock held (6). Refused by a safety check (5) is
// TestCutoverRefusesActiveGroup's and TestApplyRefusesStalePlan's, changes
// present (2) and plan's 1 are TestPlanHuleEdu's and
// TestPlanCollisionBlocksDualRename's, verify's 3 and 4
// TestVerifyExitCodes', unreachable (7) TestExitUnreachable's, usage (64)
// TestUsageErrors'.
func TestExitCodesOneByOne(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "codes.orders_old.v1", "codes.orders.new.v1"
	mapFile, stateFile := appliedRename(t, c, src, dst, 1)
	cli := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}

	if _, _, err := run(t, append(cli, "status")...); exitCode(err) != exitOK {
		t.Errorf("status: %v (exit %d), want 0", err, exitCode(err))
	}
	if _, _, err := run(t, append(cli, "history", "--since", "yesterday")...); exitCode(err) != exitFailure {
		t.Errorf("history --since yesterday: %v (exit %d), want 1", err, exitCode(err))
	}
	// Another operator holds the migration.
	op, err := state.ClaimOperator(context.Background(), stateFile, "migrator rollback (a colleague)", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Release()
	start := time.Now()
	_, _, err = run(t, append(cli, "--lock-timeout", "200ms", "cutover", "producers", "--rename", src, "--yes")...)
	if exitCode(err) != exitLocked || !strings.Contains(fmt.Sprint(err), "a colleague") {
		t.Errorf("cutover producers while the state is held: %v (exit %d), want %d naming the holder", err, exitCode(err), exitLocked)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a held lock took %s to report", took)
	}
}
