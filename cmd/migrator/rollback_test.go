package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestRollbackAfterProducersCut rolls back when producers already wrote to
// the new topic: their records are copied back, the group resumes on the
// old topic at exactly the record it had not processed, and the new topic
// is deleted once the records written to it are proven copied back.
func TestRollbackAfterProducersCut(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "back.old_name.v1", "back.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 2)
		must := mustCLI(t, c, mapFile, stateFile)
		produceNumbered(t, c, src, 2, 0, 30)
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "back", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		commitOffsets(t, c, "app", src, map[int32]int64{0: 30, 1: 10})
		must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		must("cutover", "producers", "--yes", "--rename", src)

		// New producers write to the new topic; the app processed two of them on p0.
		direct := dst
		var msgs []*kafka.Message
		for i := 0; i < 5; i++ {
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &direct, Partition: 0}, Value: []byte(fmt.Sprintf("direct %d", i))})
		}
		delivered := c.Produce(t, msgs...)
		commitOffsets(t, c, "app", dst, map[int32]int64{0: int64(delivered[2].Offset)})

		// A dry run says what would happen and changes nothing.
		dry := must("rollback", "--rename", src, "--dry-run")
		if !strings.Contains(dry, "would roll back back.old_name.v1 from phase producers-cut; reverse copy: true; new topic would be deleted once its 5 record(s) written to it directly were copied back") {
			t.Errorf("dry run output:\n%s", dry)
		}
		for _, m := range c.ReadPartition(t, src, 0) {
			if strings.HasPrefix(string(m.Value), "direct ") {
				t.Fatal("the dry run copied records back")
			}
		}

		out := must("rollback", "--rename", src, "--yes")
		if !strings.Contains(out, "reverse copy: true") || !strings.Contains(out, "new topic deleted once its 5 record(s) written to it directly were copied back to back.old_name.v1 and proven there") {
			t.Errorf("rollback output:\n%s", out)
		}
		if topics, err := c.Admin(t).DescribeTopics(ctx, []string{dst}); err != nil || topics[dst] != nil {
			t.Errorf("the new topic still exists after the rollback (err %v)", err)
		}
		committed, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if len(committed[dst]) != 0 {
			t.Errorf("the group still has offsets on the new topic: %v", committed[dst])
		}
		old0 := c.ReadPartition(t, src, 0)
		var next0 *kafka.Message
		for _, m := range old0 {
			if int64(m.TopicPartition.Offset) >= committed[src][0] {
				next0 = m
				break
			}
		}
		if next0 == nil || string(next0.Value) != "direct 2" {
			t.Errorf("on the old topic p0 the group resumes at %v, want the copy of \"direct 2\"", next0)
		}
		var copiedBack int
		for _, m := range old0 {
			if strings.HasPrefix(string(m.Value), "direct ") {
				copiedBack++
			}
		}
		if copiedBack != 5 {
			t.Errorf("%d direct records copied back to the old topic, want 5", copiedBack)
		}
		if committed[src][1] != 10 {
			t.Errorf("p1: the group resumes at %d on the old topic, want 10", committed[src][1])
		}
		st, _ := state.Open(stateFile, state.Options{})
		if rec, _, _ := st.Rename(ctx, src); rec == nil || rec.Phase != state.PhaseRolledBack {
			t.Errorf("phase = %+v, want rolled-back", rec)
		}
	})
}

// TestRollbackWhileMirroring deletes the new topic, which holds nothing
// but copies.
func TestRollbackWhileMirroring(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "undo.old_name.v1", "undo.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		produceNumbered(t, c, src, 1, 0, 10)
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "undo", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "rollback", "--rename", src, "--yes")
		if err != nil || !strings.Contains(out, "new topic deleted (it held only copies)") {
			t.Fatalf("rollback: %v\n%s", err, out)
		}
		snap, _ := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
		if snap.Topics[dst] != nil || snap.Topics[src] == nil {
			t.Errorf("after rollback: new exists %v, old exists %v", snap.Topics[dst] != nil, snap.Topics[src] != nil)
		}
		// A second rollback changes nothing.
		if out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "rollback", "--rename", src, "--yes"); err != nil || !strings.Contains(out, "already rolled back") {
			t.Errorf("second rollback: %v\n%s", err, out)
		}
	})
}

// TestRollbackFromConsumersCut moves a group back: it resumes on the old
// topic at exactly the offset it had before the cutover, and the new
// topic, holding only copies, is deleted.
func TestRollbackFromConsumersCut(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "undo2.old_name.v1", "undo2.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 2)
		must := mustCLI(t, c, mapFile, stateFile)
		produceNumbered(t, c, src, 2, 0, 25)
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "undo2", "--batch-records", "7", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		before := map[int32]int64{0: 17, 1: 25}
		commitOffsets(t, c, "app", src, before)
		must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		st, _ := state.Open(stateFile, state.Options{})
		if rec, _, _ := st.Rename(ctx, src); rec.Phase != state.PhaseConsumersCut {
			t.Fatalf("phase %s, want consumers-cut", rec.Phase)
		}
		out := must("rollback", "--rename", src, "--yes")
		if !strings.Contains(out, "new topic deleted (it held only copies)") {
			t.Errorf("rollback output:\n%s", out)
		}
		committed, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		for p, o := range before {
			if committed[src][p] != o {
				t.Errorf("partition %d: back at %d, want %d", p, committed[src][p], o)
			}
		}
		if rec, _, _ := st.Rename(ctx, src); rec.Phase != state.PhaseRolledBack {
			t.Errorf("phase %s, want rolled-back", rec.Phase)
		}
	})
}

// TestRollbackFromCreated undoes an apply: the new topic goes.
func TestRollbackFromCreated(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "undo3.old_name.v1", "undo3.new.name.v1"
		c.CreateTopic(t, src, 1, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		must := mustCLI(t, c, mapFile, filepath.Join(t.TempDir(), "s.db"))
		must("apply", "--yes")
		if out := must("rollback", "--rename", src, "--yes"); !strings.Contains(out, "rolled back undo3.old_name.v1 from phase created") || !strings.Contains(out, "new topic deleted") {
			t.Errorf("rollback output:\n%s", out)
		}
		snap, _ := c.Admin(t).Describe(context.Background(), admin.DescribeOptions{})
		if snap.Topics[dst] != nil {
			t.Error("the new topic is still there")
		}
		// apply starts over after a rollback.
		must("apply", "--yes")
	})
}

// TestCutoverRefusesACopyLostToAReapply: after a rollback deleted the new
// topic, applying the rename again re-creates it empty while the bridge
// group's offsets on the old topic still say everything was copied, so the
// bridge copies nothing again. Moving a consumer group then would put it
// past records that are not in the new topic; cutover consumers refuses,
// naming the missing copy, and leaves the group where it was.
func TestCutoverRefusesACopyLostToAReapply(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "reapply.old_name.v1", "reapply.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		must := mustCLI(t, c, mapFile, stateFile)
		produceNumbered(t, c, src, 1, 0, 50)
		for range 2 {
			if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "reapply", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
				t.Fatalf("mirror failed:\n%s", cmd.Stderr)
			}
			if len(c.ReadPartition(t, dst, 0)) == 50 {
				must("rollback", "--rename", src, "--yes")
				must("apply", "--yes")
			}
		}
		if n := len(c.ReadPartition(t, dst, 0)); n != 0 {
			t.Fatalf("the re-created new topic holds %d records; the test needs the bridge to copy nothing again", n)
		}
		commitOffsets(t, c, "app", src, map[int32]int64{0: 10})
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		if err == nil || !strings.Contains(err.Error(), "copy missing") || !strings.Contains(err.Error(), "has no copy of "+src+"/0@10") {
			t.Fatalf("cutover consumers: err %v, want a refusal naming the missing copy of %s/0@10\n%s", err, src, out)
		}
		offsets, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if offsets[src][0] != 10 || len(offsets[dst]) != 0 {
			t.Errorf("after the refusal the group is at %v; want it left at %s/0@10", offsets, src)
		}
	})
}
