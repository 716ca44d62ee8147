package clusterstate

import (
	"testing"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestMarkMirroring: a bridge's mark is read back by another process, the
// first mark is kept, and marking changes neither the renames nor the
// leases.
func TestMarkMirroring(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, kc *kafkatest.Cluster) {
		ctx := testCtx(t)
		bridge := Holder{User: "svc", Host: "pod-1", Command: "migrator mirror", PID: 7}
		b := openCluster(t, kc, bridge)
		a := openCluster(t, kc, alice)
		if err := b.MarkMirroring(ctx, "orders"); err != nil {
			t.Fatalf("MarkMirroring: %v", err)
		}
		first, err := a.Marks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := first["orders"]
		if !ok || len(first) != 1 || m.Rename != "orders" || m.Phase != state.PhaseMirroring || m.Actor != "svc@pod-1" || m.Command != "migrator mirror" || m.At.IsZero() {
			t.Fatalf("marks read by another process: %+v", first)
		}
		if err := b.MarkMirroring(ctx, "orders"); err != nil {
			t.Fatal(err)
		}
		again, err := a.Marks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !again["orders"].At.Equal(m.At) {
			t.Errorf("a second mark replaced the first: %+v, was %+v", again["orders"], m)
		}
		snap, leases := snapshot(t, a)
		if len(snap.Renames) != 0 || len(snap.Audit) != 0 || len(leases) != 0 {
			t.Errorf("a mark changed the state: %+v, leases %+v", snap, leases)
		}
	})
}
