package clusterstate

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// quiet discards the logs.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	alice = Holder{User: "alice", Host: "laptop-a", Command: "migrator cutover producers", PID: 101}
	bob   = Holder{User: "bob", Host: "laptop-b", Command: "migrator rollback", PID: 202}
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openCluster opens a Cluster on kc as h, closed when the test ends.
func openCluster(t *testing.T, kc *kafkatest.Cluster, h Holder, mods ...func(*Options)) *Cluster {
	t.Helper()
	opts := Options{Config: kc.Config(), Holder: h, Log: quiet}
	for _, m := range mods {
		m(&opts)
	}
	c, err := Open(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Open as %s: %v", h.Actor(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// openStore opens a new state file.
func openStore(t *testing.T, actor string) *state.Store {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), state.DefaultPath), state.Options{Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func acquire(t *testing.T, c *Cluster, breakLease bool, renames ...string) *Lease {
	t.Helper()
	l, err := c.Acquire(testCtx(t), renames, breakLease)
	if err != nil {
		t.Fatalf("Acquire %v as %s: %v", renames, c.opts.Holder.Actor(), err)
	}
	return l
}

func snapshot(t *testing.T, c *Cluster) (*state.Snapshot, map[string]LeaseInfo) {
	t.Helper()
	snap, leases, err := c.Snapshot(testCtx(t))
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return snap, leases
}
