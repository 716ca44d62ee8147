package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestHopSurvivesSIGKILL takes a `strategy: hop` rename through both hops
// with the commands, each killed right after each of its state writes and
// resumed (apply, cutover consumers, cutover producers, verify, retire, for
// hop 1 and hop 2), with records written to the old, the interim and the
// new topic; it ends exactly as an uninterrupted run: the new topic holds
// every record once, in order, the group resumes at its exact next
// record, both legs are retired with no step or deletion open.
func TestHopSurvivesSIGKILL(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const parts = 2
		const src, interim, dst = "crashhop.old_name.v1", "crashhop.old.name.hop.v1", "crashhop.old.name.v1"
		n := 200
		c.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: hop}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		kills := 0
		step := func(args ...string) {
			_, k := crashEveryWrite(t, c, mapFile, stateFile, args...)
			kills += k
		}
		mirror := func() {
			if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "crashhop", "--until-caught-up", "--group", "crashhop-bridge"); waitProcess(cmd, 2*time.Minute) != nil {
				t.Fatalf("mirror failed:\n%s", cmd.Stderr)
			}
		}
		produceNumbered(t, c, src, parts, 0, n)
		commitOffsets(t, c, "app", src, map[int32]int64{0: 17, 1: int64(n)})
		for _, leg := range []struct{ from, to string }{{src, interim}, {interim, dst}} {
			step("apply", "--yes")
			mirror()
			step("cutover", "consumers", "--yes", "--rename", leg.from, "--all-groups", "--bridge-group", "crashhop-bridge")
			step("cutover", "producers", "--yes", "--rename", leg.from)
			produceNumbered(t, c, leg.to, parts, n, 10) // written by the producers, now on leg.to
			n += 10
			step("verify", "--rename", leg.from)
			step("retire", "--rename", leg.from, "--yes", "--force", "--reason", "crash test", "--quiet-period", "0s", "--bridge-group", "crashhop-bridge")
		}

		topics, err := c.Admin(t).DescribeTopics(ctx, []string{src, interim, dst})
		if err != nil || topics[src] != nil || topics[interim] != nil || topics[dst] == nil {
			t.Fatalf("after both hops: old %v, interim %v, new %v (%v); want only the new topic", topics[src] != nil, topics[interim] != nil, topics[dst] != nil, err)
		}
		offsets, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(parts) {
			got := c.ReadPartition(t, dst, p)
			var want []string
			for i := range n {
				want = append(want, fmt.Sprintf("%d/%d", p, i))
			}
			if len(got) != len(want) {
				t.Fatalf("%s/%d: %d records, want %d", dst, p, len(got), len(want))
			}
			for i, m := range got {
				if string(m.Value) != want[i] {
					t.Fatalf("%s/%d record %d: %q, want %q", dst, p, i, m.Value, want[i])
				}
			}
		}
		resumesAt(t, dst+"/0", c.ReadPartition(t, dst, 0), offsets[dst][0], "0/17")
		resumesAt(t, dst+"/1", c.ReadPartition(t, dst, 1), offsets[dst][1], fmt.Sprintf("1/%d", 200))
		st, err := state.Open(stateFile, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, from := range []string{src, interim} {
			rec, _, err := st.Rename(ctx, from)
			if err != nil || rec == nil || rec.Phase != state.PhaseRetired || rec.Step != nil || rec.Deleting != nil {
				t.Fatalf("%s after both hops: %+v (%v), want phase retired, no step or deletion open", from, rec, err)
			}
		}
		t.Logf("%d runs killed mid-way", kills)
		if kills < 10 {
			t.Errorf("only %d runs were killed: the commands made fewer state writes than their steps", kills)
		}
	})
}
