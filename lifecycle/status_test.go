package lifecycle_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// TestStatus reports one row per rename in map order: one mirroring with
// records the bridge has not copied and groups on both topics, one past
// producers-cut with stray writes to its old topic, and one never
// applied. The clocks are fixed, so the days left are exact.
func TestStatus(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const (
			zeta, zetaNew   = "lct.st.zeta.v1", "lct.st.zeta.new.v1"
			alpha, alphaNew = "lct.st.alpha.v1", "lct.st.alpha.new.v1"
			mid, midNew     = "lct.st.mid.v1", "lct.st.mid.new.v1"
		)
		f := newFixture(t, c, "version: 1\nwindow: 10d\nrenames:\n"+
			"  - {from: "+zeta+", to: "+zetaNew+"}\n"+
			"  - {from: "+alpha+", to: "+alphaNew+"}\n"+
			"  - {from: "+mid+", to: "+midNew+"}\n")
		created := f.stateClock()
		f.source(t, zeta, 2)
		f.source(t, alpha, 2)
		f.source(t, mid, 1)
		f.applied(t, zeta, alpha)
		for p := int32(0); p < 2; p++ {
			f.produce(t, zeta, p, 12, "z")
			f.produce(t, alpha, p, 8, "a")
		}
		f.produce(t, mid, 0, 3, "m")
		f.mirror(t)

		// zeta: two groups still on the old topic, one already on the new.
		c.CommitOffsets(t, "z-old-b", zeta, map[int32]int64{0: 3})
		c.CommitOffsets(t, "z-old-a", zeta, map[int32]int64{0: 12, 1: 1})
		c.CommitOffsets(t, "z-new", zetaNew, map[int32]int64{0: 1})
		// alpha: its group and producers moved; then four stray writes.
		c.CommitOffsets(t, "a-app", alpha, map[int32]int64{0: 8, 1: 2})
		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: alpha, AllGroups: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: alpha}); err != nil {
			t.Fatal(err)
		}
		f.produce(t, alpha, 0, 3, "stray")
		f.produce(t, alpha, 1, 1, "stray")
		// zeta: seven writes the bridge (not running) has not copied.
		f.produce(t, zeta, 0, 5, "lag")
		f.produce(t, zeta, 1, 2, "lag")

		f.setStepClock(created.Add(36 * time.Hour))
		res, err := lifecycle.Status(ctx, f.env, lifecycle.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Renames) != 3 || res.Renames[0].From != zeta || res.Renames[1].From != alpha || res.Renames[2].From != mid {
			t.Fatalf("status rows %+v, want %s, %s, %s in map order", res.Renames, zeta, alpha, mid)
		}
		type want struct {
			phase                    state.Phase
			daysLeft                 *float64
			lag, stray               *int64
			groupsOnOld, groupsOnNew []string
			copying                  string
		}
		days, lag7, lag4, stray4 := 8.5, int64(7), int64(4), int64(4)
		for i, w := range []want{
			{phase: state.PhaseMirroring, daysLeft: &days, lag: &lag7, groupsOnOld: []string{"z-old-a", "z-old-b"}, groupsOnNew: []string{"z-new"}, copying: zetaNew},
			{phase: state.PhaseProducersCut, daysLeft: &days, lag: &lag4, stray: &stray4, groupsOnNew: []string{"a-app"}, copying: alphaNew},
			{},
		} {
			r := res.Renames[i]
			if r.Phase != w.phase || (w.phase != "" && !r.PhaseSince.Equal(created)) {
				t.Errorf("%s: phase %q since %v, want %q since %v", r.From, r.Phase, r.PhaseSince, w.phase, created)
			}
			if !equalPtr(r.DaysLeft, w.daysLeft) {
				t.Errorf("%s: days left %v, want %v", r.From, deref(r.DaysLeft), deref(w.daysLeft))
			}
			if !equalPtr(r.LagRecords, w.lag) {
				t.Errorf("%s: lag %v records, want %v", r.From, deref(r.LagRecords), deref(w.lag))
			}
			if !equalPtr(r.StrayWrites, w.stray) {
				t.Errorf("%s: stray writes %v, want %v", r.From, deref(r.StrayWrites), deref(w.stray))
			}
			if !slices.Equal(r.GroupsOnOld, w.groupsOnOld) || !slices.Equal(r.GroupsOnNew, w.groupsOnNew) {
				t.Errorf("%s: groups on old %q, on new %q; want %q and %q", r.From, r.GroupsOnOld, r.GroupsOnNew, w.groupsOnOld, w.groupsOnNew)
			}
			if r.Copying != w.copying {
				t.Errorf("%s: copying into %q, want %q", r.From, r.Copying, w.copying)
			}
		}
	})
}

// equalPtr reports whether a and b are both nil or point to equal values.
func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// deref shows a pointer's value, or nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
