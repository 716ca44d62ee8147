package lifecycle_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// Names of the hop tests: old and new differ only in '.' against '_'.
const (
	hopOld     = "lct.hop.old_name.v1"
	hopInterim = "lct.hop.old.name.hop.v1" // the planner's choice
	hopNew     = "lct.hop.old.name.v1"
)

// hopFixture is a fixture whose map has one `strategy: hop` rename
// (window 10 days, hop_window 1 day) over a two-partition old topic.
func hopFixture(t *testing.T, c *kafkatest.Cluster) *fixture {
	t.Helper()
	f := newFixture(t, c, fmt.Sprintf("version: 1\nwindow: 10d\nrenames:\n  - {from: %s, to: %s, strategy: hop, hop_window: 1d}\n", hopOld, hopNew))
	f.source(t, hopOld, 2)
	return f
}

// applyOutcomes applies every rename and returns each one's outcome.
func applyOutcomes(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	res, err := lifecycle.Apply(context.Background(), f.env, lifecycle.ApplyOptions{})
	if err != nil || res.Failed() > 0 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	out := map[string]string{}
	for _, r := range res.Renames {
		out[r.From] = r.Outcome
	}
	return out
}

// TestHopOffsetsTranslateExactly takes a colliding rename through both
// hops with traffic in both windows: records written to the old topic
// before and after its consumers moved, to the interim topic once its
// producers moved there, before and during hop 2, and to the new topic at
// the end. Two groups stopped on the old topic (one mid-topic, one where
// the first records ended) resume on the final name at exactly their next
// record, and read from there every record of the whole history once, in
// order, byte for byte. Hop 2 waits for hop 1; hop 1 retires after its
// hop_window, not the map's; a rollback between the hops has nothing to
// undo; status tells the hops apart.
func TestHopOffsetsTranslateExactly(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := hopFixture(t, c)
		start := f.stateClock()
		// history[p] is every record written, in the order a consumer of
		// the rename reads them, whatever topic it was written to.
		history := make([][]*kafka.Message, 2)
		write := func(topic string, n int, tag string) {
			for p := range int32(2) {
				history[p] = append(history[p], f.produce(t, topic, p, n, tag)...)
			}
		}
		write(hopOld, 20, "before")
		stopped := map[string]map[int32]int64{"app": {0: 7, 1: 13}, "late": {0: 20, 1: 0}}
		for g, at := range stopped {
			c.CommitOffsets(t, g, hopOld, at)
		}

		// Hop 1: old → interim. Hop 2 waits.
		if got := applyOutcomes(t, f); got[hopOld] != lifecycle.OutcomeCreated || got[hopInterim] != lifecycle.OutcomeWaiting {
			t.Fatalf("first apply: %v, want hop 1 created and hop 2 waiting", got)
		}
		st, err := lifecycle.Status(ctx, f.env, lifecycle.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Renames) != 2 || st.Renames[0].Hop != 1 || st.Renames[0].Phase != state.PhaseCreated || st.Renames[1].Hop != 2 ||
			st.Renames[1].Phase != "" || !strings.Contains(st.Renames[1].Waiting, "hop 1 to retire "+hopOld) {
			t.Fatalf("status after the first apply: %+v", st.Renames)
		}
		write(hopOld, 10, "window1")
		f.mirror(t)
		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: hopOld, AllGroups: true}); err != nil {
			t.Fatalf("hop 1 cutover consumers: %v", err)
		}
		write(hopOld, 5, "window1-after-consumers")
		f.mirror(t)
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: hopOld}); err != nil {
			t.Fatalf("hop 1 cutover producers: %v", err)
		}
		write(hopInterim, 6, "interim1")
		verified(t, f, hopOld)

		// The old topic goes after the hop_window (1 day), not the map's 10.
		f.setStepClock(start.Add(2 * time.Hour))
		_, err = lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: hopOld})
		wantNotSafe(t, "retire of hop 1 inside its hop_window", err, "the window of "+hopOld+" ends "+start.Add(24*time.Hour).Format(time.RFC3339))
		f.setStepClock(start.Add(25 * time.Hour))
		if _, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: hopOld}); err != nil {
			t.Fatalf("retire hop 1 after its hop_window: %v", err)
		}
		if f.topicExists(t, hopOld) {
			t.Fatalf("%s still exists after hop 1 retired", hopOld)
		}

		// Between the hops a rollback finds nothing to undo.
		rb, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: hopOld})
		if err != nil || !strings.Contains(rb.NewTopic, "nothing to roll back") {
			t.Fatalf("rollback between the hops: %v %+v", err, rb)
		}

		// Hop 2: interim → new.
		if got := applyOutcomes(t, f); got[hopOld] != lifecycle.OutcomeAlreadyAhead || got[hopInterim] != lifecycle.OutcomeCreated {
			t.Fatalf("second apply: %v, want hop 1 already further and hop 2 created", got)
		}
		write(hopInterim, 4, "window2")
		f.mirror(t)
		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: hopInterim, AllGroups: true}); err != nil {
			t.Fatalf("hop 2 cutover consumers: %v", err)
		}
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: hopInterim}); err != nil {
			t.Fatalf("hop 2 cutover producers: %v", err)
		}
		write(hopNew, 3, "new")
		verified(t, f, hopInterim)
		if _, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: hopInterim, Force: true, Reason: "test"}); err != nil {
			t.Fatalf("retire hop 2: %v", err)
		}
		if f.topicExists(t, hopInterim) || !f.topicExists(t, hopNew) {
			t.Fatalf("after hop 2: %s exists %v, %s exists %v", hopInterim, f.topicExists(t, hopInterim), hopNew, f.topicExists(t, hopNew))
		}
		for _, from := range []string{hopOld, hopInterim} {
			if rec := f.record(t, from); rec.Phase != state.PhaseRetired || rec.Strategy != "hop" {
				t.Errorf("%s: phase %s, strategy %s; want retired, hop", from, rec.Phase, rec.Strategy)
			}
		}

		// Each group resumes on the new topic at exactly its next record
		// and reads the rest of the history from there.
		for g, at := range stopped {
			offs := f.offsets(t, g)
			if len(offs[hopOld]) > 0 || len(offs[hopInterim]) > 0 || len(offs[hopNew]) != 2 {
				t.Fatalf("group %s offsets %v, want only %s", g, offs, hopNew)
			}
			for p := range int32(2) {
				want := history[p][at[p]:] // the old topic's offsets start at 0, one per record
				var got []*kafka.Message
				for _, m := range c.ReadPartition(t, hopNew, p) {
					if int64(m.TopicPartition.Offset) >= offs[hopNew][p] {
						got = append(got, m)
					}
				}
				if len(got) != len(want) {
					t.Errorf("group %s partition %d resumes at %s@%d with %d records to read, want %d (from old offset %d)", g, p, hopNew, offs[hopNew][p], len(got), len(want), at[p])
					continue
				}
				for i := range want {
					sameRecord(t, fmt.Sprintf("group %s partition %d record %d", g, p, i), want[i], got[i])
				}
			}
		}
	})
}

// checkResumes fails unless group's only offsets are on topic and it
// resumes there at exactly history[p][at[p]:], byte for byte.
func checkResumes(t *testing.T, f *fixture, group, topic string, at map[int32]int64, history [][]*kafka.Message) {
	t.Helper()
	offs := f.offsets(t, group)
	if len(offs) != 1 || len(offs[topic]) != len(at) {
		t.Fatalf("group %s offsets %v, want only %s", group, offs, topic)
	}
	for p, o := range at {
		want := history[p][o:]
		var got []*kafka.Message
		for _, m := range f.c.ReadPartition(t, topic, p) {
			if int64(m.TopicPartition.Offset) >= offs[topic][p] {
				got = append(got, m)
			}
		}
		if len(got) != len(want) {
			t.Errorf("group %s partition %d resumes at %s@%d with %d records to read, want %d", group, p, topic, offs[topic][p], len(got), len(want))
			continue
		}
		for i := range want {
			sameRecord(t, fmt.Sprintf("group %s partition %d record %d", group, p, i), want[i], got[i])
		}
	}
}

// hopHistory writes records to a topic of the hop fixture and keeps them,
// per partition, in the order a consumer of the rename reads them.
type hopHistory struct {
	f       *fixture
	records [][]*kafka.Message
}

func (h *hopHistory) write(t *testing.T, topic string, n int, tag string) {
	t.Helper()
	if h.records == nil {
		h.records = make([][]*kafka.Message, 2)
	}
	for p := range int32(2) {
		h.records[p] = append(h.records[p], h.f.produce(t, topic, p, n, tag)...)
	}
}

// TestHopRollbackFromHop1 rolls a hop back while its consumers are on the
// interim topic: back to the old topic, the interim deleted, the group at
// exactly its next record.
func TestHopRollbackFromHop1(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := hopFixture(t, c)
		h := &hopHistory{f: f}
		h.write(t, hopOld, 12, "before")
		at := map[int32]int64{0: 5, 1: 11}
		c.CommitOffsets(t, "app", hopOld, at)
		f.applied(t, hopOld)
		f.mirror(t)
		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: hopOld, AllGroups: true}); err != nil {
			t.Fatal(err)
		}
		rb, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: hopOld})
		if err != nil || rb.From != hopOld || rb.FromPhase != state.PhaseConsumersCut {
			t.Fatalf("rollback from hop 1: %v %+v", err, rb)
		}
		if f.topicExists(t, hopInterim) || f.record(t, hopOld).Phase != state.PhaseRolledBack {
			t.Fatalf("after the rollback of hop 1: interim exists %v, phase %s", f.topicExists(t, hopInterim), f.record(t, hopOld).Phase)
		}
		checkResumes(t, f, "app", hopOld, at, h.records)
	})
}

// TestHopRollbackFromHop2 rolls a hop back, named by its old topic, once
// hop 1 is retired and hop 2's producers write to the new topic: hop 2
// goes back to the interim (the old topic is gone), the records written
// to the new topic are copied back, the new topic is deleted, and the
// group resumes on the interim at exactly its next record.
func TestHopRollbackFromHop2(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := hopFixture(t, c)
		h := &hopHistory{f: f}
		h.write(t, hopOld, 12, "before")
		at := map[int32]int64{0: 5, 1: 11}
		c.CommitOffsets(t, "app", hopOld, at)
		for _, from := range []string{hopOld, hopInterim} {
			f.applied(t, from)
			f.mirror(t)
			if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, AllGroups: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from}); err != nil {
				t.Fatal(err)
			}
			if from == hopInterim {
				break
			}
			if _, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: from, Force: true, Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			h.write(t, hopInterim, 4, "interim")
		}
		h.write(t, hopNew, 3, "new")
		rb, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: hopOld})
		if err != nil || rb.From != hopInterim || rb.FromPhase != state.PhaseProducersCut || !rb.ReverseCopy || rb.DirectRecords != 6 {
			t.Fatalf("rollback from hop 2: %v %+v", err, rb)
		}
		if f.topicExists(t, hopNew) || f.record(t, hopInterim).Phase != state.PhaseRolledBack || f.record(t, hopOld).Phase != state.PhaseRetired {
			t.Fatalf("after the rollback of hop 2: new exists %v, hop 2 %s, hop 1 %s", f.topicExists(t, hopNew), f.record(t, hopInterim).Phase, f.record(t, hopOld).Phase)
		}
		checkResumes(t, f, "app", hopInterim, at, h.records)
	})
}
