package lifecycle_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// consumersCut is mirroredRename with group app, at the offsets given,
// moved to the new topic (phase consumers-cut); it returns app's offsets
// on the new topic.
func consumersCut(t *testing.T, c *kafkatest.Cluster, from, to string, partitions, perPartition int, app map[int32]int64) (*fixture, map[int32]int64) {
	t.Helper()
	f, _ := mirroredRename(t, c, from, to, partitions, perPartition)
	c.CommitOffsets(t, "app", from, app)
	if _, err := lifecycle.CutoverConsumers(context.Background(), f.env, lifecycle.CutoverConsumersOptions{Rename: from, AllGroups: true}); err != nil {
		t.Fatal(err)
	}
	if rec := f.record(t, from); rec.Phase != state.PhaseConsumersCut {
		t.Fatalf("after cutover consumers: phase %s", rec.Phase)
	}
	onNew := f.offsets(t, "app")[to]
	if len(onNew) != len(app) {
		t.Fatalf("app on the new topic: %v", onNew)
	}
	return f, onNew
}

// TestRollbackFromConsumersCut moves a group back to the old topic at
// exactly the record it had reached on the new one, and deletes the new
// topic, which held only copies.
func TestRollbackFromConsumersCut(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.back.old_name.v1", "lct.back.new.name.v1"
		before := map[int32]int64{0: 17, 1: 40, 2: 0}
		f, onNew := consumersCut(t, c, from, to, 3, 40, before)
		// Where app is on the new topic: the copies it is about to read.
		reached := map[int32]*kafka.Message{}
		for p, n := range onNew {
			reached[p], _ = f.recordAt(t, to, p, n)
		}

		res, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: from})
		if err != nil {
			t.Fatalf("rollback: %v", err)
		}
		if res.FromPhase != state.PhaseConsumersCut || res.ReverseCopy || len(res.Groups) != 1 || res.Groups[0].Outcome != "moved back" {
			t.Errorf("rollback result %+v, want app moved back from consumers-cut without a reverse copy", res)
		}
		committed := f.offsets(t, "app")
		if !maps.Equal(committed[from], before) || len(committed[to]) != 0 {
			t.Errorf("app after rollback: %v, want only %s at %v", committed, from, before)
		}
		oldEnds := f.ends(t, from)
		for p, o := range committed[from] {
			rec, _ := f.recordAt(t, from, p, o)
			if reached[p] == nil { // It had read everything.
				if rec != nil || o != oldEnds[p] {
					t.Errorf("partition %d: at the end of the new topic, back at %d on the old, want its end %d", p, o, oldEnds[p])
				}
				continue
			}
			sameRecord(t, fmt.Sprintf("partition %d: the record app resumes at on the old topic (offset %d)", p, o), rec, reached[p])
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseRolledBack || rec.Step != nil {
			t.Errorf("after rollback: phase %s, step %+v; want rolled-back and no step", rec.Phase, rec.Step)
		}
		if !strings.HasPrefix(res.NewTopic, "deleted") || f.topicExists(t, to) {
			t.Errorf("new topic: %q, exists %v; want it deleted (it held only copies)", res.NewTopic, f.topicExists(t, to))
		}
	})
}

// TestRollbackFromProducersCut rolls back once producers wrote to the new
// topic: their records are copied back to the old topic in order, byte
// for byte; a group resumes at the copy of the first record it had not
// read, one at the end stays at the end; the new topic is deleted once the
// copy-back is proven.
func TestRollbackFromProducersCut(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.back2.old_name.v1", "lct.back2.new.name.v1"
		before := map[int32]int64{0: 30, 1: 10}
		f, onNew := consumersCut(t, c, from, to, 2, 30, before)
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from}); err != nil {
			t.Fatal(err)
		}
		oldBefore := [][]*kafka.Message{c.ReadPartition(t, from, 0), c.ReadPartition(t, from, 1)}

		// Producers write to the new topic; app reads two of them on p0.
		direct := [][]*kafka.Message{f.produce(t, to, 0, 5, "direct"), f.produce(t, to, 1, 2, "direct")}
		c.CommitOffsets(t, "app", to, map[int32]int64{0: int64(direct[0][2].TopicPartition.Offset)})
		c.CommitOffsets(t, "tail", to, map[int32]int64{0: f.ends(t, to)[0]})

		res, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: from})
		if err != nil {
			t.Fatalf("rollback: %v", err)
		}
		if res.FromPhase != state.PhaseProducersCut || !res.ReverseCopy {
			t.Errorf("rollback result %+v, want a reverse copy from producers-cut", res)
		}
		if res.DirectRecords != 7 || !strings.HasPrefix(res.NewTopic, "deleted once its 7 record(s) written to it directly were copied back") || f.topicExists(t, to) {
			t.Errorf("new topic: %q (%d direct), exists %v; want it deleted once its 7 direct records were copied back", res.NewTopic, res.DirectRecords, f.topicExists(t, to))
		}

		// The old topic: what it had, then the direct records in order.
		for p := range direct {
			got := c.ReadPartition(t, from, int32(p))
			if len(got) != len(oldBefore[p])+len(direct[p]) {
				t.Fatalf("partition %d of the old topic: %d records, want %d + %d copied back", p, len(got), len(oldBefore[p]), len(direct[p]))
			}
			for i, m := range oldBefore[p] {
				sameRecord(t, fmt.Sprintf("old partition %d record %d", p, i), m, got[i])
			}
			for i, m := range direct[p] {
				sameRecord(t, fmt.Sprintf("old partition %d, copy back of direct record %d", p, i), m, got[len(oldBefore[p])+i])
			}
		}

		committed := f.offsets(t, "app")
		if len(committed[to]) != 0 || len(committed[from]) != 2 {
			t.Fatalf("app after rollback: %v, want offsets on %s only", committed, from)
		}
		rec, _ := f.recordAt(t, from, 0, committed[from][0])
		sameRecord(t, fmt.Sprintf("p0: app resumes on the old topic at %d", committed[from][0]), direct[0][2], rec)
		if committed[from][1] != before[1] {
			t.Errorf("p1: app resumes at %d on the old topic, want %d (it was at %d on the new)", committed[from][1], before[1], onNew[1])
		}
		tail := f.offsets(t, "tail")
		if end := f.ends(t, from)[0]; tail[from][0] != end || len(tail[to]) != 0 {
			t.Errorf("tail after rollback: %v, want %s/0 at its end %d", tail, from, end)
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseRolledBack || rec.Step != nil {
			t.Errorf("after rollback: phase %s, step %+v; want rolled-back and no step", rec.Phase, rec.Step)
		}
	})
}
