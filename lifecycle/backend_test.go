package lifecycle_test

// The lifecycle suite runs against both state backends: a plain state
// file (--state-backend file, the default), and a state file that is the
// cache of the cluster's state (--state-backend cluster): every write is
// published to the cluster's state topics first, under a lease on the
// test's renames, as the commands do. When a test on the cluster backend
// ends, the cluster must hold exactly what the file holds (renames with
// their revisions, phases and step data, and the audit log), and a file
// pulled from the cluster must export the same.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// The state backends of the suite.
const (
	backendFile    = "file"
	backendCluster = "cluster"
)

// backendOf maps a test body's *testing.T to the backend it runs on.
var backendOf sync.Map

// run runs body once per state backend ("file" and "cluster" subtests),
// each against kfake and the real broker (kafkatest.Run). The stores the
// body opens with openStore (and newFixture) use that backend; -run
// 'TestX/cluster/' picks one.
func run(t *testing.T, body func(t *testing.T, c *kafkatest.Cluster)) {
	t.Helper()
	for _, b := range []string{backendFile, backendCluster} {
		t.Run(b, func(t *testing.T) {
			kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
				backendOf.Store(t, b)
				t.Cleanup(func() { backendOf.Delete(t) })
				body(t, c)
			})
		})
	}
}

// backend is the backend t's body runs on (file when it was not started
// by run).
func backend(t *testing.T) string {
	if b, ok := backendOf.Load(t); ok {
		return b.(string)
	}
	return backendFile
}

// storesOpened counts the cluster-backed stores of each test, so that a
// second store of the same test gets state topics of its own.
var storesOpened sync.Map

// openStore opens a new state file for the renames of m. On the cluster
// backend the file is the cache of the cluster's state on c: a lease on
// m's renames is taken, and the file's replica is that lease, so that
// every write reaches the cluster before the file commits it. The first
// store of a test uses the default state topics; a further one (a second
// migration in the same test) gets its own pair. When the test ends the
// lease is released, and the cluster must hold what the file holds.
func openStore(t *testing.T, c *kafkatest.Cluster, m *plan.RenameMap, opts state.Options) *state.Store {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if backend(t) != backendCluster {
		return st
	}
	n, _ := storesOpened.LoadOrStore(t, new(int))
	nth := n.(*int)
	*nth++
	first := *nth == 1
	t.Cleanup(func() { storesOpened.Delete(t) })
	copts := clusterstate.Options{Config: c.Config(), LeaseTTL: time.Minute,
		Holder: clusterstate.Holder{User: "tester", Host: "test", Command: "lifecycle test", PID: 1},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil))}
	if *nth > 1 {
		copts.StateTopic = fmt.Sprintf("%s.%d", clusterstate.DefaultStateTopic, *nth)
		copts.AuditTopic = fmt.Sprintf("%s.%d", clusterstate.DefaultAuditTopic, *nth)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := clusterstate.Open(ctx, copts)
	if err != nil {
		t.Fatalf("open the cluster state: %v", err)
	}
	var renames []string
	for _, r := range m.Renames {
		renames = append(renames, r.From)
	}
	lease, err := cl.Acquire(ctx, renames, false)
	if err != nil {
		cl.Close()
		t.Fatalf("lease %v: %v", renames, err)
	}
	snap, _, err := cl.Snapshot(ctx)
	if err == nil {
		err = clusterstate.Sync(ctx, st, snap, renames)
	}
	if err != nil {
		cl.Close()
		t.Fatalf("sync the state file with the cluster: %v", err)
	}
	st.SetReplica(lease)
	t.Cleanup(func() {
		defer cl.Close()
		st.SetReplica(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := lease.Release(ctx); err != nil {
			t.Errorf("release the lease of %v: %v", renames, err)
		}
		if !t.Failed() {
			sameInCluster(ctx, t, cl, st, first)
		}
	})
	return st
}

// sameInCluster fails the test unless the cluster's state is exactly the
// file's, and a file pulled from the cluster exports the same; and, when
// first, unless the file records a rename (the test's main store).
func sameInCluster(ctx context.Context, t *testing.T, cl *clusterstate.Cluster, st *state.Store, first bool) {
	t.Helper()
	local, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first && len(local.Renames) == 0 {
		t.Errorf("the state file records no rename: the cluster backend was not exercised")
	}
	inCluster, leases, err := cl.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot of the cluster state: %v", err)
	}
	if !reflect.DeepEqual(inCluster.Renames, local.Renames) {
		t.Errorf("renames in the cluster:\n%+v\nin the state file:\n%+v", inCluster.Renames, local.Renames)
	}
	if !reflect.DeepEqual(inCluster.Audit, local.Audit) {
		t.Errorf("audit log in the cluster (%d entries):\n%+v\nin the state file (%d):\n%+v", len(inCluster.Audit), inCluster.Audit, len(local.Audit), local.Audit)
	}
	if len(leases) != 0 {
		t.Errorf("leases left in the cluster after release: %+v", leases)
	}
	pulled, err := state.Open(filepath.Join(t.TempDir(), "pulled.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := clusterstate.Pull(ctx, cl, pulled); err != nil {
		t.Fatalf("pull: %v", err)
	}
	got, err := pulled.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, local) {
		t.Errorf("a file pulled from the cluster:\n%+v\nthe state file:\n%+v", got, local)
	}
}
