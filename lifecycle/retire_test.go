package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// producersCut is a rename with a 10-day window whose group app and
// producers moved to the new topic (phase producers-cut); the window
// started at the fixture's clocks.
func producersCut(t *testing.T, c *kafkatest.Cluster, from, to string) *fixture {
	t.Helper()
	ctx := context.Background()
	f, _ := consumersCut(t, c, from, to, 2, 15, map[int32]int64{0: 15, 1: 3})
	if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from}); err != nil {
		t.Fatal(err)
	}
	return f
}

// verified runs verify on the rename and fails unless it passed.
func verified(t *testing.T, f *fixture, from string) {
	t.Helper()
	res, err := lifecycle.Verify(context.Background(), f.env, lifecycle.VerifyOptions{Renames: []string{from}})
	if err != nil || len(res.Reports) != 1 || !res.Passed() {
		t.Fatalf("verify %s: %v %+v", from, err, res)
	}
	if rec := f.record(t, from); rec.Verified == nil {
		t.Fatalf("verify of %s passed but recorded nothing", from)
	}
}

// wantNotSafe fails unless err is ErrNotSafe saying want.
func wantNotSafe(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, lifecycle.ErrNotSafe) || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want ErrNotSafe saying %q", what, err, want)
	}
}

// TestRetire walks retire's refusals inside the window (no --force, a
// --force without a reason, a group left on the old topic, a write the
// bridge has not copied, a stray write within the quiet period) to a
// forced retire that deletes the old topic, and a re-run that changes
// nothing.
func TestRetire(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.ret.old_name.v1", "lct.ret.new.name.v1"
		f := producersCut(t, c, from, to)
		start := f.stateClock()
		retire := func(opts lifecycle.RetireOptions) (*lifecycle.RetireResult, error) {
			opts.Rename = from
			return lifecycle.Retire(ctx, f.env, opts)
		}

		f.setStepClock(start.Add(time.Hour))
		_, err := retire(lifecycle.RetireOptions{})
		wantNotSafe(t, "retire inside the window", err, "the window of "+from+" ends "+start.Add(10*24*time.Hour).Format(time.RFC3339))
		for _, reason := range []string{"", " \t"} {
			if _, err := retire(lifecycle.RetireOptions{Force: true, Reason: reason}); err == nil || !strings.Contains(err.Error(), "--force needs --reason") {
				t.Fatalf("retire --force with reason %q: %v, want a refusal asking for the reason", reason, err)
			}
		}

		c.CommitOffsets(t, "laggard", from, map[int32]int64{1: 2})
		_, err = retire(lifecycle.RetireOptions{Force: true, Reason: "test"})
		wantNotSafe(t, "retire with a group on the old topic", err, from+": consumer group(s) laggard still read it")
		if _, err := f.env.Admin.Kafka().DeleteConsumerGroups(ctx, []string{"laggard"}); err != nil {
			t.Fatal(err)
		}

		// A stray write the bridge has not copied: the proof refuses.
		f.produce(t, from, 0, 1, "stray")
		f.setStepClock(time.Now().Add(time.Minute)) // after the stray write, inside the window
		_, err = retire(lifecycle.RetireOptions{Force: true, Reason: "test"})
		wantNotSafe(t, "retire with a record not copied", err, "1 record(s) of it still to copy")
		if !f.topicExists(t, from) || f.record(t, from).Phase != state.PhaseProducersCut {
			t.Fatal("a refused retire deleted the old topic or moved the rename")
		}

		// Copied now, but within the quiet period.
		f.mirror(t)
		_, err = retire(lifecycle.RetireOptions{Force: true, Reason: "test", QuietPeriod: time.Hour})
		wantNotSafe(t, "retire within the quiet period", err, "1 stray write(s) to "+from+" since producers were cut over")

		verified(t, f, from)
		dry, err := retire(lifecycle.RetireOptions{Force: true, Reason: "test", DryRun: true})
		if err != nil || dry.Outcome != "safe to retire" || !f.topicExists(t, from) || f.record(t, from).Phase != state.PhaseProducersCut {
			t.Fatalf("dry run: %v %+v; old topic exists %v, want safe to retire and nothing changed", err, dry, f.topicExists(t, from))
		}
		res, err := retire(lifecycle.RetireOptions{Force: true, Reason: "capacity test"})
		if err != nil || res.Outcome != "retired" {
			t.Fatalf("forced retire after verify: %v %+v", err, res)
		}
		if f.topicExists(t, from) || !f.topicExists(t, to) {
			t.Errorf("after retire: old exists %v, new exists %v; want only the new", f.topicExists(t, from), f.topicExists(t, to))
		}
		rec := f.record(t, from)
		if last := rec.History[len(rec.History)-1]; rec.Phase != state.PhaseRetired || rec.Step != nil || last.Reason != "forced: capacity test" {
			t.Errorf("after retire: phase %s, step %+v, last transition %+v; want retired, forced with the reason", rec.Phase, rec.Step, last)
		}

		again, err := retire(lifecycle.RetireOptions{})
		if err != nil || again.Outcome != "already retired" {
			t.Errorf("re-run: %v %+v, want already retired", err, again)
		}
	})
}

// TestRetireAfterWindow: once the window is over, retire needs no --force;
// a minute before, it is refused.
func TestRetireAfterWindow(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.retw.old_name.v1", "lct.retw.new.name.v1"
		f := producersCut(t, c, from, to)
		verified(t, f, from)
		end := f.stateClock().Add(10 * 24 * time.Hour)

		f.setStepClock(end.Add(-time.Minute))
		_, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: from})
		wantNotSafe(t, "retire a minute before the window ends", err, "the window of "+from+" ends")

		f.setStepClock(end.Add(time.Minute))
		res, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: from})
		if err != nil || res.Outcome != "retired" {
			t.Fatalf("retire after the window: %v %+v", err, res)
		}
		rec := f.record(t, from)
		if last := rec.History[len(rec.History)-1]; rec.Phase != state.PhaseRetired || last.Reason != "window over" || f.topicExists(t, from) {
			t.Errorf("after retire: phase %s, last transition %+v, old exists %v; want retired, window over, deleted", rec.Phase, last, f.topicExists(t, from))
		}
	})
}
