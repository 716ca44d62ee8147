package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// TestCutoverConsumersExact moves a group that stopped mid-topic: on the
// new topic it resumes exactly at the copy of the first record it had not
// processed, though the copy's offsets differ (transaction markers).
func TestCutoverConsumersExact(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst, parts = "cut.old_name.v1", "cut.new.name.v1", 3
		c.CreateTopic(t, src, parts, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--yes"); err != nil {
			t.Fatal(err)
		}
		produceNumbered(t, c, src, parts, 0, 300)
		cmd := mirrorProcess(t, c, mapFile, "--instance-id", "cut", "--batch-records", "40", "--until-caught-up")
		if err := waitProcess(cmd, 2*time.Minute); err != nil {
			t.Fatalf("mirror: %v\n%s", err, cmd.Stderr)
		}
		stopped := map[int32]int64{0: 0, 1: 137, 2: 300}
		c.CommitOffsets(t, "reader", src, stopped)
		cl := c.Admin(t)

		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "-o", "json", "cutover", "consumers", "--yes", "--rename", src, "--group", "reader")
		if err != nil {
			t.Fatalf("cutover: %v\n%s", err, out)
		}
		var res []lifecycle.GroupCutover
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 || len(res[0].Translations) != parts {
			t.Fatalf("cutover output %q: %v", out, err)
		}
		committed, err := cl.GroupOffsets(ctx, "reader")
		if err != nil {
			t.Fatal(err)
		}
		if len(committed[src]) != 0 {
			t.Errorf("old-topic offsets left: %v", committed[src])
		}
		for _, tr := range res[0].Translations {
			if committed[dst][tr.Partition] != tr.NewOffset {
				t.Errorf("partition %d: committed %d, translation %d", tr.Partition, committed[dst][tr.Partition], tr.NewOffset)
			}
			copies := c.ReadPartition(t, dst, tr.Partition)
			var before, after []*kafka.Message
			for _, m := range copies {
				if int64(m.TopicPartition.Offset) < tr.NewOffset {
					before = append(before, m)
				} else {
					after = append(after, m)
				}
			}
			o := stopped[tr.Partition]
			// Exactly the records before o were processed: none re-read, none skipped.
			if int64(len(before)) != o {
				t.Errorf("partition %d: %d copies before the new offset %d, want %d", tr.Partition, len(before), tr.NewOffset, o)
			}
			if len(after) > 0 {
				if origin, _ := bridge.OriginOf(after[0].Headers); origin.Offset != o {
					t.Errorf("partition %d: resumes at the copy of %d, want %d", tr.Partition, origin.Offset, o)
				}
			} else if o != 300 {
				t.Errorf("partition %d: nothing after the new offset, want the copy of %d", tr.Partition, o)
			}
		}
		st, _ := state.Open(stateFile, state.Options{})
		if rec, _, _ := st.Rename(ctx, src); rec == nil || rec.Phase != state.PhaseConsumersCut {
			t.Errorf("state = %+v, want phase consumers-cut", rec)
		}
	})
}

func TestCutoverRefusesActiveGroup(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "busy.old_name.v1", "busy.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		produceNumbered(t, c, src, 1, 0, 5)
		cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{"group.id": "busy", "client.id": "busy-worker", "auto.offset.reset": "earliest"}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		if err := cons.Subscribe(src, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ { // Join and commit.
			if m, ok := cons.Poll(100).(*kafka.Message); ok {
				if _, err := cons.CommitMessage(m); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		_, _, err = run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "consumers", "--yes", "--rename", src, "--group", "busy")
		if err == nil || !strings.Contains(err.Error(), "consumer group has active members: group busy: busy-worker") {
			t.Fatalf("err = %v, want the active member named", err)
		}
		if exitCode(err) != exitRefused {
			t.Errorf("exit code %d, want %d (refused by a safety check)", exitCode(err), exitRefused)
		}
	})
}

// TestCutoverResumesAfterCrash re-runs a cutover that died after it reset
// the group and before it committed the new offsets: the recorded offsets
// are committed and the step is closed.
func TestCutoverResumesAfterCrash(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const src, dst = "crashcut.old_name.v1", "crashcut.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		must := mustCLI(t, c, mapFile, stateFile)
		produceNumbered(t, c, src, 1, 0, 20)
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "crashcut", "--batch-records", "3", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		commitOffsets(t, c, "app", src, map[int32]int64{0: 9})
		var dry []lifecycle.GroupCutover
		if err := json.Unmarshal([]byte(must("-o", "json", "cutover", "consumers", "--yes", "--rename", src, "--group", "app", "--dry-run")), &dry); err != nil || len(dry) != 1 {
			t.Fatalf("dry run: %v", err)
		}
		want := dry[0].Translations[0].NewOffset

		// The crashed run: intent recorded, group reset, nothing committed.
		st, _ := state.Open(stateFile, state.Options{})
		intent := state.Step{Name: "move-group:app:" + dst, Params: map[string]string{"group": "app", "to": dst}, Offsets: state.GroupOffsets{dst: {0: want}}}
		if _, err := st.BeginStep(ctx, src, intent, state.AuditEntry{Action: "move group: begin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admin(t).Kafka().DeleteConsumerGroups(ctx, []string{"app"}); err != nil {
			t.Fatal(err)
		}

		must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
		committed, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if committed[dst][0] != want || len(committed[src]) != 0 {
			t.Errorf("after the re-run: %v, want %s/0 at %d", committed, dst, want)
		}
		rec, _, _ := st.Rename(ctx, src)
		if rec.Step != nil || rec.Phase != state.PhaseConsumersCut {
			t.Errorf("state after the re-run: step %+v, phase %s", rec.Step, rec.Phase)
		}
	})
}

// TestCutoverWaitsForTheBridge refuses while the bridge has not copied
// past the group's offset, and with --wait goes ahead once it has.
func TestCutoverWaitsForTheBridge(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "waitcut.old_name.v1", "waitcut.new.name.v1"
		c.CreateTopic(t, src, 1, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		mustCLI(t, c, mapFile, stateFile)("apply", "--yes")
		produceNumbered(t, c, src, 1, 0, 10)
		commitOffsets(t, c, "app", src, map[int32]int64{0: 8})
		args := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "consumers", "--yes", "--rename", src, "--group", "app"}
		if _, _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "group app is at waitcut.old_name.v1/0 offset 8 but the bridge has copied only up to 0") {
			t.Fatalf("err = %v, want a refusal naming the bridge's progress", err)
		}
		done := make(chan error, 1)
		go func() { _, _, err := run(t, append(args, "--wait", "90s")...); done <- err }()
		if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "waitcut", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
			t.Fatalf("mirror failed:\n%s", cmd.Stderr)
		}
		if err := <-done; err != nil {
			t.Fatalf("cutover --wait: %v", err)
		}
		committed, _ := c.Admin(t).GroupOffsets(context.Background(), "app")
		if len(committed[dst]) != 1 {
			t.Errorf("group offsets after the wait: %v", committed)
		}
	})
}
