package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/plan"
)

// TestCutoverSwapKilledDuringCopy runs `migrator cutover swap` as a
// process and kills it with SIGKILL while it copies staging → new, after
// the old topic is gone and staging holds the only copy; the re-run
// finishes with the exact new name, every record once, and the group
// where it stopped.
func TestCutoverSwapKilledDuringCopy(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "z.delivery_failed.v1", "z.delivery.failed.v1"
		perPartition := 3000
		if c.Kind == kafkatest.Real {
			perPartition = 20000
		}
		c.CreateTopic(t, src, 3, map[string]string{"retention.ms": "-1"})
		produceNumbered(t, c, src, 3, 0, perPartition)
		var want [][]*kafka.Message
		for p := int32(0); p < 3; p++ {
			want = append(want, c.ReadPartition(t, src, p))
		}
		stopped := map[int32]int64{0: 17, 1: int64(perPartition / 2), 2: int64(perPartition)}
		commitOffsets(t, c, "mailer", src, stopped)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		cli := mustCLI(t, c, mapFile, stateFile)
		cli("apply", "--yes")

		args := []string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "cutover", "swap", "--rename", src, "--yes", "--quiet-for", "100ms"}
		cmd := exec.Command(migratorBinary(t), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cl := c.Admin(t)
		killed := false
		deadline := time.Now().Add(2 * time.Minute)
		for !killed && time.Now().Before(deadline) {
			if _, high, err := cl.Producer().QueryWatermarkOffsets(dst, 1, 1000); err == nil && high > 0 {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatalf("kill: %v (the swap ended before it could be killed mid-copy)\n%s", err, stderr.String())
				}
				killed = true
			}
			time.Sleep(2 * time.Millisecond)
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("the copy to %s never started\n%s", dst, stderr.String())
		}
		if _, high, _ := cl.Producer().QueryWatermarkOffsets(dst, 1, 5000); high >= int64(perPartition) {
			t.Logf("killed late: %d records in %s/1 already", high, dst)
		}

		out := cli("cutover", "swap", "--rename", src, "--yes", "--quiet-for", "100ms")
		for _, s := range []string{"done earlier", "staging-deleted", "swapped " + src + " → " + dst} {
			if !strings.Contains(out, s) {
				t.Errorf("re-run output lacks %q:\n%s", s, out)
			}
		}
		topics, err := cl.DescribeTopics(context.Background(), []string{src, dst, plan.StagingTopic(dst)})
		if err != nil {
			t.Fatal(err)
		}
		if topics[src] != nil || topics[plan.StagingTopic(dst)] != nil || topics[dst] == nil {
			t.Fatalf("after the swap: old %v, staging %v, new %v; want only the new topic", topics[src] != nil, topics[plan.StagingTopic(dst)] != nil, topics[dst] != nil)
		}
		offsets, err := cl.GroupOffsets(context.Background(), "mailer")
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			got := c.ReadPartition(t, dst, p)
			if len(got) != len(want[p]) {
				t.Fatalf("partition %d: %d records in %s, want %d exactly once", p, len(got), dst, len(want[p]))
			}
			for i := range got {
				if !bytes.Equal(got[i].Value, want[p][i].Value) || !bytes.Equal(got[i].Key, want[p][i].Key) {
					t.Fatalf("partition %d record %d: %q, want %q", p, i, got[i].Value, want[p][i].Value)
				}
			}
			n := offsets[dst][p]
			if stopped[p] == int64(perPartition) {
				if last := int64(got[len(got)-1].TopicPartition.Offset); n <= last {
					t.Errorf("partition %d: group at the end of the old topic resumes at %d, before the last record %d", p, n, last)
				}
				continue
			}
			var first *kafka.Message
			for _, m := range got {
				if int64(m.TopicPartition.Offset) >= n {
					first = m
					break
				}
			}
			if first == nil || !bytes.Equal(first.Value, want[p][stopped[p]].Value) {
				t.Errorf("partition %d: the group resumes at %d on %s, which is not the record it stopped at (%q)", p, n, dst, want[p][stopped[p]].Value)
			}
		}
	})
}

// TestPlanForecastsSwapStop: plan sizes each swap's copy, and with
// --measure-stop forecasts the stop from a probe copy on this cluster.
func TestPlanForecastsSwapStop(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "w.rate_limit.v1", "w.rate.limit.v1"
		c.CreateTopic(t, src, 2, map[string]string{"retention.ms": "-1"})
		produceNumbered(t, c, src, 2, 0, 500)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", src, dst))
		cli := mustCLI(t, c, mapFile, filepath.Join(t.TempDir(), "s.db"))
		out := cli("plan")
		for _, s := range []string{"EXPECTED STOP", "1000", "kB", "run plan --measure-stop"} {
			if !strings.Contains(out, s) {
				t.Errorf("plan output lacks %q:\n%s", s, out)
			}
		}
		out = cli("-o", "wide", "plan", "--measure-stop", "--max-stop", "1ms")
		// Findings are prose, wrapped: compare with the lines joined.
		joined := strings.Join(strings.Fields(out), " ")
		for _, s := range []string{"probe copy of", "verified at", "VERIFY", "verifying staging at", "stop-too-long", "longer than --max-stop 1ms"} {
			if !strings.Contains(joined, s) {
				t.Errorf("plan --measure-stop output lacks %q:\n%s", s, out)
			}
		}
	})
}
