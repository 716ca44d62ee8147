package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// mirroredRename is a fixture with one dual rename from → to whose old
// topic holds perPartition records on each of its partitions, applied and
// copied by the bridge (phase mirroring); it returns the old topic's
// records per partition.
func mirroredRename(t *testing.T, c *kafkatest.Cluster, from, to string, partitions, perPartition int) (*fixture, [][]*kafka.Message) {
	t.Helper()
	f := newFixture(t, c, fmt.Sprintf("version: 1\nwindow: 10d\nrenames:\n  - {from: %s, to: %s}\n", from, to))
	f.source(t, from, partitions)
	f.applied(t)
	var old [][]*kafka.Message
	for p := int32(0); p < int32(partitions); p++ {
		old = append(old, f.produce(t, from, p, perPartition, "old"))
	}
	f.mirror(t)
	if rec := f.record(t, from); rec.Phase != state.PhaseMirroring {
		t.Fatalf("after apply and mirror: phase %s, want mirroring", rec.Phase)
	}
	return f, old
}

// checkMovedTo checks where a group moved from the old topic resumes on the
// new one: at exactly the copy of the record it was about to read (byte
// for byte), or at the end of the new partition when it had read all.
func checkMovedTo(t *testing.T, f *fixture, group, from, to string, old [][]*kafka.Message, res lifecycle.GroupCutover, stopped map[int32]int64) {
	t.Helper()
	if len(res.Translations) != len(stopped) {
		t.Fatalf("group %s: translations %+v, want one per partition of %v", group, res.Translations, stopped)
	}
	committed := f.offsets(t, group)
	newEnds := f.ends(t, to)
	for _, tr := range res.Translations {
		if tr.OldOffset != stopped[tr.Partition] {
			t.Errorf("group %s partition %d: translated from old offset %d, want %d", group, tr.Partition, tr.OldOffset, stopped[tr.Partition])
		}
		if got, ok := committed[to][tr.Partition]; !ok || got != tr.NewOffset {
			t.Errorf("group %s partition %d: committed %d (present %v) on %s, want the translation %d", group, tr.Partition, got, ok, to, tr.NewOffset)
		}
		cp, next := f.recordAt(t, to, tr.Partition, tr.NewOffset)
		if o := stopped[tr.Partition]; o < int64(len(old[tr.Partition])) {
			src, _ := f.recordAt(t, from, tr.Partition, o)
			sameRecord(t, fmt.Sprintf("group %s partition %d: next record on the new topic (offset %d)", group, tr.Partition, tr.NewOffset), src, cp)
		} else if tr.NewOffset < next || tr.NewOffset != newEnds[tr.Partition] {
			t.Errorf("group %s partition %d: read all of the old topic, resumes at %d on the new, want its end %d (after its last record %d)", group, tr.Partition, tr.NewOffset, newEnds[tr.Partition], next-1)
		}
	}
}

// TestCutoverConsumers moves two groups, stopped mid-topic, one at a time:
// each resumes on the new topic at exactly the copy of its next record
// (the copies' offsets differ from the source's), its old-topic offsets
// are gone, and the rename reaches consumers-cut only with the second. A
// dry run changes nothing and reports the same translation; a misspelt
// rename is refused with the name it was meant to be.
func TestCutoverConsumers(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.cut.old_name.v1", "lct.cut.new.name.v1"
		f, old := mirroredRename(t, c, from, to, 3, 60)
		readerAt := map[int32]int64{0: 23, 1: 37, 2: 60}
		otherAt := map[int32]int64{0: 5, 1: 59, 2: 1}
		c.CommitOffsets(t, "reader", from, readerAt)
		c.CommitOffsets(t, "other", from, otherAt)

		// A one-letter typo: refused, suggesting the rename meant.
		_, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: "lct.cut.old_nane.v1", Groups: []string{"reader"}})
		var unknown *lifecycle.UnknownRenameError
		if !errors.As(err, &unknown) || !reflect.DeepEqual(unknown.Close, []string{from}) || !strings.Contains(err.Error(), "did you mean "+from+"?") {
			t.Fatalf("cutover of a misspelt rename: %v, want an UnknownRenameError suggesting %s", err, from)
		}

		// A dry run: the translation, and nothing changed.
		beforeOffsets, beforeRec := f.offsets(t, "reader"), f.record(t, from)
		beforeAudit, err := f.env.Store.Audit(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		dry, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, Groups: []string{"reader"}, DryRun: true})
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if !dry.DryRun || len(dry.Groups) != 1 || dry.Groups[0].Group != "reader" || dry.Groups[0].Outcome != "would move" {
			t.Fatalf("dry run result %+v, want reader would move", dry)
		}
		if got := f.offsets(t, "reader"); !reflect.DeepEqual(got, beforeOffsets) {
			t.Errorf("dry run changed the group's offsets: %v, was %v", got, beforeOffsets)
		}
		if got := f.record(t, from); !reflect.DeepEqual(got, beforeRec) {
			t.Errorf("dry run changed the state record: %+v, was %+v", got, beforeRec)
		}
		if got, _ := f.env.Store.Audit(ctx, from); len(got) != len(beforeAudit) {
			t.Errorf("dry run wrote %d audit entries", len(got)-len(beforeAudit))
		}

		// The first group moves; the other is still on the old topic.
		res, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, Groups: []string{"reader"}})
		if err != nil {
			t.Fatalf("cutover reader: %v", err)
		}
		if len(res.Groups) != 1 || res.Groups[0].Outcome != "moved" {
			t.Fatalf("cutover reader: %+v", res)
		}
		if !reflect.DeepEqual(res.Groups[0].Translations, dry.Groups[0].Translations) {
			t.Errorf("cutover translated %+v, the dry run %+v", res.Groups[0].Translations, dry.Groups[0].Translations)
		}
		checkMovedTo(t, f, "reader", from, to, old, res.Groups[0], readerAt)
		drift := false
		for _, tr := range res.Groups[0].Translations {
			drift = drift || tr.NewOffset != tr.OldOffset
		}
		if !drift {
			t.Errorf("every copy is at its source's offset (%+v): the test does not tell translation from copying the offsets", res.Groups[0].Translations)
		}
		if left := f.offsets(t, "reader")[from]; len(left) != 0 {
			t.Errorf("reader still has offsets on %s: %v", from, left)
		}
		if got := f.offsets(t, "other")[from]; !maps.Equal(got, otherAt) {
			t.Errorf("moving reader changed other's offsets: %v, want %v", got, otherAt)
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseMirroring || rec.Step != nil {
			t.Errorf("with other still on %s: phase %s, step %+v; want mirroring and no step", from, rec.Phase, rec.Step)
		}

		// The second: no group is left, so consumers-cut.
		res, err = lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, Groups: []string{"other"}})
		if err != nil {
			t.Fatalf("cutover other: %v", err)
		}
		checkMovedTo(t, f, "other", from, to, old, res.Groups[0], otherAt)
		if left := f.offsets(t, "other")[from]; len(left) != 0 {
			t.Errorf("other still has offsets on %s: %v", from, left)
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseConsumersCut || rec.Step != nil {
			t.Errorf("with every group moved: phase %s, step %+v; want consumers-cut and no step", rec.Phase, rec.Step)
		}
	})
}

// TestCutoverConsumersRefuses: a group with a member polling the old topic
// is refused with ErrGroupActive naming the member, and a group ahead of
// the bridge's copy with the partition; neither changes anything.
func TestCutoverConsumersRefuses(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.refuse.old_name.v1", "lct.refuse.new.name.v1"
		f, old := mirroredRename(t, c, from, to, 2, 20)

		activeConsumer(t, c, "busy", "busy-worker-7", from)
		_, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, Groups: []string{"busy"}})
		if !errors.Is(err, lifecycle.ErrGroupActive) || !strings.Contains(err.Error(), "group busy: busy-worker-7") {
			t.Fatalf("cutover of a group with a polling member: %v, want ErrGroupActive naming busy-worker-7", err)
		}
		if got := f.offsets(t, "busy"); len(got[to]) != 0 || len(got[from]) == 0 {
			t.Errorf("refused cutover changed the busy group's offsets: %v", got)
		}

		// Records the bridge has not copied: a group past them is refused.
		f.produce(t, from, 1, 5, "late")
		ahead := map[int32]int64{0: 20, 1: 23}
		c.CommitOffsets(t, "ahead", from, ahead)
		_, err = lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, Groups: []string{"ahead"}})
		want := fmt.Sprintf("group ahead is at %s/1 offset 23 but the bridge has copied only up to %d", from, len(old[1]))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("cutover ahead of the bridge: %v, want %q", err, want)
		}
		if got := f.offsets(t, "ahead"); !maps.Equal(got[from], ahead) || len(got[to]) != 0 {
			t.Errorf("refused cutover changed the ahead group's offsets: %v", got)
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseMirroring || rec.Step != nil {
			t.Errorf("after the refusals: phase %s, step %+v; want mirroring and no step", rec.Phase, rec.Step)
		}
	})
}

// TestCutoverProducers records the old topic's end offsets and phase
// producers-cut, only once the consumers moved; a dry run records nothing.
func TestCutoverProducers(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "lct.prod.old_name.v1", "lct.prod.new.name.v1"
		f, _ := mirroredRename(t, c, from, to, 3, 10)
		c.CommitOffsets(t, "app", from, map[int32]int64{0: 4, 1: 10, 2: 0})

		_, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from})
		if !errors.Is(err, state.ErrIllegalTransition) || !strings.Contains(err.Error(), "move the consumers first") {
			t.Fatalf("cutover producers while mirroring: %v, want a refusal saying to move the consumers first", err)
		}
		if rec := f.record(t, from); rec.Phase != state.PhaseMirroring || rec.ProducersCut != nil {
			t.Fatalf("refused cutover producers changed the record: %+v", rec)
		}

		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, AllGroups: true}); err != nil {
			t.Fatal(err)
		}
		// Writes after the consumers moved: each partition ends elsewhere.
		want := state.Offsets{}
		for p := int32(0); p < 3; p++ {
			msgs := f.produce(t, from, p, 1+int(p)*4, "more")
			want[p] = int64(msgs[len(msgs)-1].TopicPartition.Offset) + 1
		}

		before := f.record(t, from)
		dry, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from, DryRun: true})
		if err != nil || dry.Rename.Phase != state.PhaseProducersCut {
			t.Fatalf("dry run: %v %+v, want phase producers-cut shown", err, dry)
		}
		if got := f.record(t, from); !reflect.DeepEqual(got, before) {
			t.Errorf("dry run changed the record: %+v, was %+v", got, before)
		}

		res, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: from})
		if err != nil {
			t.Fatal(err)
		}
		rec := f.record(t, from)
		if rec.Phase != state.PhaseProducersCut || rec.ProducersCut == nil || !maps.Equal(rec.ProducersCut.OldEnd, want) {
			t.Fatalf("after cutover producers: phase %s, producers cut %+v; want producers-cut with the old end offsets %v", rec.Phase, rec.ProducersCut, want)
		}
		if !reflect.DeepEqual(*res.Rename, rec) {
			t.Errorf("result %+v, stored %+v", *res.Rename, rec)
		}
	})
}
