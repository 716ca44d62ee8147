package clusterstate

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// richState fills st with renames carrying every kind of step data, and
// audit entries.
func richState(t *testing.T, st *state.Store) {
	t.Helper()
	ctx := testCtx(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := st.EnsureRename(ctx, "orders", "orders.v2", "swap"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, "orders", state.PhaseCreated, "apply", state.AuditEntry{Command: "migrator apply"}); err != nil {
		t.Fatal(err)
	}
	intent := state.Step{Name: "move-groups", Params: map[string]string{"group": "billing"},
		Offsets: state.GroupOffsets{"orders.v2": {0: 5, 1: 7}}}
	if _, err := st.BeginStep(ctx, "orders", intent, state.AuditEntry{Command: "migrator cutover consumers"}); err != nil {
		t.Fatal(err)
	}
	err := st.Update(ctx, func(tx *state.Tx) error {
		r, _, err := tx.Rename("orders")
		if err != nil {
			return err
		}
		r.ProducersCut = &state.ProducersCut{OldEnd: state.Offsets{0: 10, 1: 20}}
		r.Verified = &state.Verification{At: at, OldEnd: state.Offsets{0: 10, 1: 20}}
		r.Swap = &state.SwapProgress{
			Done: "groups-saved", Fence: &state.Fence{Own: true, Value: "1"},
			Groups:     state.GroupOffsets{"billing": {0: 3}},
			OldOffsets: state.GroupOffsets{"billing": {0: 9}},
			Spec: &state.TopicSpec{Name: "orders.v2", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "-1"},
				ACLs: []state.ACL{{Principal: "User:billing", Host: "*", Operation: "READ", Permission: "ALLOW", Pattern: "LITERAL", Resource: "orders.v2"}}},
		}
		r.EarlyWrites = &state.EarlyWrites{At: at, Count: 2, First: "p0@4"}
		if err := tx.PutRename(r); err != nil {
			return err
		}
		return tx.Append(state.AuditEntry{Command: "migrator cutover swap", Rename: "orders", Action: "save group offsets", Detail: "billing", Result: "ok"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureRename(ctx, "payments", "payments.v2", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, "payments", state.PhaseCreated, "apply", state.AuditEntry{Command: "migrator apply", DryRun: true}); err != nil {
		t.Fatal(err)
	}
}

func export(t *testing.T, st *state.Store) *state.Snapshot {
	t.Helper()
	snap, err := st.Export(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestPushSnapshotPull: what a file pushes, Snapshot gives back exactly
// (revisions, phases, step data, audit log), and a file pulled from the
// cluster exports the same; a second push writes nothing, and a push of an
// older revision is refused.
func TestPushSnapshotPull(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		c := openCluster(t, kc, alice)
		st := openStore(t, "alice@laptop-a")
		richState(t, st)
		pushed := export(t, st)
		if pushed.Renames[0].Revision < 2 || pushed.Renames[0].Swap == nil || len(pushed.Audit) < 3 {
			t.Fatalf("the test state is too plain: %+v", pushed)
		}
		if err := c.Push(ctx, pushed); err != nil {
			t.Fatalf("Push: %v", err)
		}
		got, leases := snapshot(t, c)
		if !reflect.DeepEqual(got, pushed) {
			t.Errorf("Snapshot after Push:\n%+v\nwant\n%+v", got, pushed)
		}
		if len(leases) != 0 {
			t.Errorf("leases after Push: %+v, want none (a push releases them)", leases)
		}

		pulled := openStore(t, "bob@laptop-b")
		if err := Pull(ctx, c, pulled); err != nil {
			t.Fatalf("Pull: %v", err)
		}
		if exp := export(t, pulled); !reflect.DeepEqual(exp, pushed) {
			t.Errorf("Export of a pulled file:\n%+v\nwant\n%+v", exp, pushed)
		}

		// Pushing again writes nothing.
		if err := c.Push(ctx, pushed); err != nil {
			t.Fatalf("second Push: %v", err)
		}
		if again, _ := snapshot(t, c); !reflect.DeepEqual(again, pushed) {
			t.Errorf("Snapshot after a second Push:\n%+v\nwant\n%+v", again, pushed)
		}

		// A file behind the cluster is refused, and nothing of it written.
		old := openStore(t, "carol@laptop-c")
		if _, err := old.EnsureRename(ctx, "orders", "orders.v2", "swap"); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Transition(ctx, "orders", state.PhaseCreated, "apply", state.AuditEntry{Command: "migrator apply"}); err != nil {
			t.Fatal(err)
		}
		err := c.Push(ctx, export(t, old))
		if err == nil || !strings.Contains(err.Error(), "newer than the file's") || !strings.Contains(err.Error(), "migrator state pull") {
			t.Errorf("Push of an older file: %v, want refused", err)
		}
		if after, _ := snapshot(t, c); !reflect.DeepEqual(after, pushed) {
			t.Errorf("a refused Push changed the cluster:\n%+v", after)
		}

		// A file of audit entries alone appends them.
		notes := openStore(t, "carol@laptop-c")
		err = notes.Update(ctx, func(tx *state.Tx) error {
			return tx.Append(state.AuditEntry{Command: "migrator note", Action: "note", Detail: "maintenance window", Result: "ok"})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Push(ctx, export(t, notes)); err != nil {
			t.Fatalf("Push of audit entries: %v", err)
		}
		after, _ := snapshot(t, c)
		if n := len(after.Audit); n != len(pushed.Audit)+1 || after.Audit[n-1].Detail != "maintenance window" || after.Audit[n-1].Seq != uint64(n) {
			t.Errorf("audit after pushing a note: %+v", after.Audit)
		}
	})
}

// TestStoreWithLeaseReplica: a state file whose replica is a lease
// publishes each change to the cluster before it commits it; a publish
// that fails (the lease was broken) leaves the file unchanged.
func TestStoreWithLeaseReplica(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		a := openCluster(t, kc, alice)
		b := openCluster(t, kc, bob)
		st := openStore(t, "alice@laptop-a")
		la := acquire(t, a, false, "orders")
		snap, _ := snapshot(t, a)
		if err := Sync(ctx, st, snap, la.Renames()); err != nil {
			t.Fatal(err)
		}
		st.SetReplica(la)
		if _, err := st.EnsureRename(ctx, "orders", "orders.v2", "dual"); err != nil {
			t.Fatal(err)
		}
		r, err := st.Transition(ctx, "orders", state.PhaseCreated, "apply", state.AuditEntry{Command: "migrator apply"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Revision != 2 {
			t.Fatalf("revision %d after plan and transition, want 2", r.Revision)
		}
		local := export(t, st)
		inCluster, _ := snapshot(t, b)
		if !reflect.DeepEqual(inCluster.Renames, local.Renames) || !reflect.DeepEqual(inCluster.Audit, local.Audit) {
			t.Errorf("cluster:\n%+v\nlocal file:\n%+v", inCluster, local)
		}

		lb := acquire(t, b, true, "orders")
		_, err = st.Transition(ctx, "orders", state.PhaseMirroring, "mirror", state.AuditEntry{Command: "migrator mirror"})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("Transition after the lease was broken: %v, want ErrFenced", err)
		}
		if after := export(t, st); !reflect.DeepEqual(after, local) {
			t.Errorf("a failed publish changed the file:\n%+v\nwas\n%+v", after, local)
		}
		snap, _ = snapshot(t, b)
		if len(snap.Renames) != 1 || snap.Renames[0].Revision != 2 || snap.Renames[0].Phase != state.PhaseCreated {
			t.Errorf("cluster renames %+v, want orders created at revision 2", snap.Renames)
		}

		// The new holder's file catches up and goes on.
		stb := openStore(t, "bob@laptop-b")
		if err := Sync(ctx, stb, snap, lb.Renames()); err != nil {
			t.Fatal(err)
		}
		stb.SetReplica(lb)
		if r, err = stb.Transition(ctx, "orders", state.PhaseMirroring, "mirror", state.AuditEntry{Command: "migrator mirror"}); err != nil {
			t.Fatal(err)
		}
		if r.Revision != 3 {
			t.Errorf("bob's transition made revision %d, want 3", r.Revision)
		}
		// The former holder's cache is behind: Sync brings it up.
		snap, _ = snapshot(t, a)
		if err := Sync(ctx, st, snap, []string{"orders"}); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := st.Rename(ctx, "orders"); got.Revision != 3 || got.Phase != state.PhaseMirroring {
			t.Errorf("alice's file after Sync: %+v, want revision 3, mirroring", got)
		}
		if err := lb.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSync: a cluster record with a higher revision replaces the file's;
// a file ahead of the cluster, or different at the same revision, is
// refused and the file left as it was.
func TestSync(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, "alice@laptop-a")
	if _, err := st.EnsureRename(ctx, "orders", "orders.v2", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, "orders", state.PhaseCreated, "apply", state.AuditEntry{Command: "migrator apply"}); err != nil {
		t.Fatal(err)
	}
	local := export(t, st) // orders at revision 2

	ahead := local.Renames[0]
	ahead.Revision = 4
	ahead.Phase = state.PhaseMirroring
	behind := local.Renames[0]
	behind.Revision = 1
	behind.Phase = state.PhasePlanned
	other := local.Renames[0]
	other.Phase = state.PhaseMirroring
	payments := state.Rename{From: "payments", To: "payments.v2", Strategy: "dual", Revision: 3, Phase: state.PhasePlanned}

	err := Sync(ctx, st, &state.Snapshot{Renames: []state.Rename{behind}}, []string{"orders"})
	want := "the local cache " + st.Path() + " holds changes the cluster does not have (revision 2 > 1): push them with `migrator state push` or pull a fresh copy with `migrator state pull`"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Sync of a file ahead: %v, want %q", err, want)
	}
	if err := Sync(ctx, st, &state.Snapshot{}, []string{"orders"}); err == nil || !strings.Contains(err.Error(), "(revision 2 > 0)") {
		t.Errorf("Sync of a rename the cluster lacks: %v, want refused", err)
	}
	if err := Sync(ctx, st, &state.Snapshot{Renames: []state.Rename{other}}, []string{"orders"}); err == nil || !strings.Contains(err.Error(), "different records at the same revision 2") {
		t.Errorf("Sync of a different record at the same revision: %v, want refused", err)
	}
	if got := export(t, st); !reflect.DeepEqual(got, local) {
		t.Errorf("a refused Sync changed the file: %+v", got)
	}
	// Renames not leased are left alone.
	if err := Sync(ctx, st, &state.Snapshot{Renames: []state.Rename{behind, payments}}, []string{"invoices"}); err != nil {
		t.Errorf("Sync of another rename: %v", err)
	}
	if err := Sync(ctx, st, &state.Snapshot{Renames: []state.Rename{ahead, payments}}, []string{"orders", "payments"}); err != nil {
		t.Fatalf("Sync of a file behind: %v", err)
	}
	got := export(t, st)
	if !reflect.DeepEqual(got.Renames, []state.Rename{ahead, payments}) {
		t.Errorf("renames after Sync: %+v, want the cluster's", got.Renames)
	}
	if !reflect.DeepEqual(got.Audit, local.Audit) {
		t.Errorf("Sync changed the audit log: %+v", got.Audit)
	}
}
