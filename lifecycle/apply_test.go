package lifecycle_test

import (
	"context"
	"testing"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// TestApplyResumesAfterCrash re-runs an apply that died after creating the
// target but before recording it: the re-run finishes the step and touches
// nothing that is right.
func TestApplyResumesAfterCrash(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		c.CreateTopic(t, "crash.a.v1", 4, map[string]string{"retention.ms": "7200000"})
		m, err := plan.ParseRenameMap("map.yaml", []byte("version: 1\nrenames:\n  - {from: crash.a.v1, to: crash.b.v1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		st := openStore(t, c, m, state.Options{})
		// The crashed run: intent recorded, topic created, nothing after.
		if _, err := st.EnsureRename(ctx, "crash.a.v1", "crash.b.v1", "dual"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.BeginStep(ctx, "crash.a.v1", state.Step{Name: "apply", Params: map[string]string{"topic": "crash.b.v1"}}, state.AuditEntry{Action: "apply: begin"}); err != nil {
			t.Fatal(err)
		}
		c.CreateTopic(t, "crash.b.v1", 4, map[string]string{"retention.ms": "7200000"})

		cl := c.Admin(t)
		res, err := lifecycle.Apply(ctx, &lifecycle.Env{Admin: cl, Store: st, Map: m}, lifecycle.ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Renames[0]; r.Outcome != lifecycle.OutcomeExists || r.Phase != state.PhaseCreated {
			t.Fatalf("re-run: %+v", r)
		}
		rec, _, err := st.Rename(ctx, "crash.a.v1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Step != nil || rec.Phase != state.PhaseCreated {
			t.Errorf("state after re-run = %+v", rec)
		}

		// A target created differently out of band is drift: blocked, and
		// the state keeps the step open rather than claiming success.
		c.CreateTopic(t, "crash.c.v1", 2, nil)
		m2, _ := plan.ParseRenameMap("map.yaml", []byte("version: 1\nrenames:\n  - {from: crash.a.v1, to: crash.c.v1}\n"))
		st2 := openStore(t, c, m2, state.Options{})
		res, err = lifecycle.Apply(ctx, &lifecycle.Env{Admin: cl, Store: st2, Map: m2}, lifecycle.ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Renames[0]; r.Outcome != lifecycle.OutcomeBlocked {
			t.Fatalf("drifted target: %+v", r)
		}
		snap, _ := cl.Describe(ctx, admin.DescribeOptions{})
		if snap.Topics["crash.c.v1"].Partitions != 2 {
			t.Error("apply touched a drifted target")
		}
	})
}
