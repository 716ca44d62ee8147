package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
)

// TestUnknownRenameEverywhere: a typo in --rename used to verify nothing
// and exit 0, and made mirror --until-caught-up wait forever. Every
// command that takes --rename now fails at once, naming the close name.
func TestUnknownRenameEverywhere(t *testing.T) {
	c := kafkatest.NewFake(t)
	src, dst := "typo.orders_old.v1", "typo.orders.new.v1"
	mapFile, stateFile := appliedRename(t, c, src, dst, 1)
	typo := "typo.order_old.v1"
	for _, args := range [][]string{
		{"verify", "--rename", typo},
		{"mirror", "--rename", typo, "--until-caught-up"},
		{"drain", "--rename", typo},
		{"cutover", "consumers", "--yes", "--rename", typo, "--all-groups"},
		{"cutover", "producers", "--yes", "--rename", typo},
		{"retire", "--rename", typo, "--yes"},
		{"rollback", "--rename", typo, "--yes"},
		{"apply", "--rename", typo, "--yes"},
	} {
		start := time.Now()
		_, _, err := run(t, append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}, args...)...)
		var unknown *lifecycle.UnknownRenameError
		if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "did you mean "+src) {
			t.Errorf("%v: %v, want an unknown-rename error suggesting %s", args, err, src)
		}
		if exitCode(err) != 1 {
			t.Errorf("%v: exit code %d, want 1", args, exitCode(err))
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%v took %s to fail", args, took)
		}
	}
}

// TestMirrorUntilCaughtUpWithNothingToCopy exits non-zero at once instead
// of waiting for routes that never come.
func TestMirrorUntilCaughtUpWithNothingToCopy(t *testing.T) {
	c := kafkatest.NewFake(t)
	mapFile := writeFile(t, "map.yaml", "version: 1\nrenames:\n  - {from: absent.a.v1, to: absent.b.v1}\n")
	_, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "mirror", "--no-state", "--until-caught-up")
	if !errors.Is(err, bridge.ErrNothingToCopy) || exitCode(err) != 1 {
		t.Fatalf("mirror --until-caught-up with no route: %v (exit %d), want ErrNothingToCopy, exit 1", err, exitCode(err))
	}
}

// TestVerifyExitCodes: a copy that is behind exits 3 ("incomplete: run
// again"), a copy that is wrong exits 4, a verify that compared nothing
// fails.
func TestVerifyExitCodes(t *testing.T) {
	c := kafkatest.NewFake(t)
	src, dst := "exit.orders_old.v1", "exit.orders.new.v1"
	mapFile, stateFile := appliedRename(t, c, src, dst, 1)
	produceNumbered(t, c, src, 1, 0, 10)
	cli := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}
	_, _, err := run(t, append(cli, "verify")...)
	if exitCode(err) != exitIncomplete || err == nil || !strings.Contains(err.Error(), "10 record(s)") {
		t.Fatalf("verify of an empty copy: %v (exit %d), want exit %d naming 10 records", err, exitCode(err), exitIncomplete)
	}
	produceNumbered(t, c, dst, 1, 100, 1) // a record in the new topic that is no copy
	_, _, err = run(t, append(cli, "verify")...)
	if exitCode(err) != exitDivergent || !strings.Contains(err.Error(), "not copies") {
		t.Fatalf("verify with an early write: %v (exit %d), want exit %d naming it", err, exitCode(err), exitDivergent)
	}
	emptyMap := writeFile(t, "map2.yaml", "version: 1\nrenames:\n  - {from: nothing.a.v1, to: nothing.b.v1}\n")
	_, _, err = run(t, "-b", c.Bootstrap, "--map", emptyMap, "--state", stateFile, "verify")
	if !errors.Is(err, lifecycle.ErrNothingVerified) {
		t.Fatalf("verify with no topic to compare: %v, want ErrNothingVerified", err)
	}
}
