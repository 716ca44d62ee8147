package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// crashEveryWrite runs one command as a process again and again, run k
// killed with SIGKILL right after its k-th state write has committed
// (MIGRATOR_FAULT_KILL_AFTER_WRITE), until a run finishes: every recorded
// step of the command is crashed at, and each crash is resumed by the same
// command. It returns the output of the run that finished and how many
// runs were killed.
func crashEveryWrite(t *testing.T, c *kafkatest.Cluster, mapFile, stateFile string, args ...string) (string, int) {
	t.Helper()
	full := append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile}, args...)
	for k := 1; k <= 40; k++ {
		cmd := exec.Command(migratorBinary(t), full...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", envKillAfterWrite, k))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := waitProcess(startCmd(t, cmd), 2*time.Minute)
		if err == nil {
			return stdout.String(), k - 1
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL &&
				strings.Contains(stderr.String(), fmt.Sprintf("SIGKILL after state write %d ", k)) {
				continue
			}
		}
		t.Fatalf("%v, killed after state write %d, then resumed: %v\nstdout:\n%s\nstderr:\n%s", args, k-1, err, stdout.String(), stderr.String())
	}
	t.Fatalf("%v: still killed after 40 state writes", args)
	return "", 0
}

func startCmd(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// sameRecords fails unless got holds exactly the keys and values of want,
// in order.
func sameRecords(t *testing.T, where string, got, want []*kafka.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", where, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("%s record %d: %q=%q, want %q=%q", where, i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
}

// resumesAt fails unless a group committed at offset on records resumes at
// the record with value want.
func resumesAt(t *testing.T, where string, records []*kafka.Message, offset int64, want string) {
	t.Helper()
	for _, m := range records {
		if int64(m.TopicPartition.Offset) >= offset {
			if string(m.Value) != want {
				t.Errorf("%s: the group resumes at %q (offset %d), want %q", where, m.Value, m.TopicPartition.Offset, want)
			}
			return
		}
	}
	if want != "" {
		t.Errorf("%s: the group resumes past the end (offset %d), want %q", where, offset, want)
	}
}

// TestEveryStepSurvivesSIGKILL kills each command that changes a rename
// (apply, cutover consumers, cutover producers, verify, retire; rollback;
// cutover swap) right after each state write it makes, resumes it with
// the same command, and checks that the migration ends exactly where an
// uninterrupted one would: every record once, in order, byte for byte,
// each group at its exact next record, the phase and the audit trail
// complete.
func TestEveryStepSurvivesSIGKILL(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const parts = 2
		n := 300
		if c.Kind == kafkatest.Real {
			n = 3000
		}

		t.Run("forward to retire", func(t *testing.T) {
			const src, dst = "crash.old_name.v1", "crash.new.name.v1"
			c.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
			mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
			stateFile := filepath.Join(t.TempDir(), "s.db")
			kills := 0
			step := func(args ...string) string {
				out, k := crashEveryWrite(t, c, mapFile, stateFile, args...)
				kills += k
				return out
			}
			step("apply", "--yes")
			produceNumbered(t, c, src, parts, 0, n)
			want := [][]*kafka.Message{c.ReadPartition(t, src, 0), c.ReadPartition(t, src, 1)}
			commitOffsets(t, c, "app", src, map[int32]int64{0: 17, 1: int64(n)})
			if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "crash", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
				t.Fatalf("mirror failed:\n%s", cmd.Stderr)
			}
			step("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
			step("cutover", "producers", "--yes", "--rename", src)
			step("verify", "--rename", src)
			step("retire", "--rename", src, "--yes", "--force", "--reason", "crash test", "--quiet-period", "0s")

			topics, err := c.Admin(t).DescribeTopics(ctx, []string{src, dst})
			if err != nil || topics[src] != nil || topics[dst] == nil {
				t.Fatalf("after retire: old exists %v, new exists %v (%v)", topics[src] != nil, topics[dst] != nil, err)
			}
			offsets, err := c.Admin(t).GroupOffsets(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < parts; p++ {
				got := c.ReadPartition(t, dst, p)
				sameRecords(t, fmt.Sprintf("%s/%d", dst, p), got, want[p])
			}
			resumesAt(t, dst+"/0", c.ReadPartition(t, dst, 0), offsets[dst][0], "0/17")
			resumesAt(t, dst+"/1", c.ReadPartition(t, dst, 1), offsets[dst][1], "")
			st, err := state.Open(stateFile, state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rec, _, err := st.Rename(ctx, src)
			if err != nil || rec == nil || rec.Phase != state.PhaseRetired || rec.Step != nil || rec.Deleting != nil {
				t.Fatalf("after retire: %+v (%v), want phase retired, no step or deletion open", rec, err)
			}
			checkAuditHas(t, st, src, "delete "+src+": end")
			checkAuditHas(t, st, src, "phase retired")
			t.Logf("%d runs killed mid-way", kills)
			if kills < 5 {
				t.Errorf("only %d runs were killed: the commands made fewer state writes than their steps", kills)
			}
		})

		t.Run("rollback", func(t *testing.T) {
			const src, dst = "crashback.old_name.v1", "crashback.new.name.v1"
			mapFile, stateFile := appliedRename(t, c, src, dst, parts)
			must := mustCLI(t, c, mapFile, stateFile)
			produceNumbered(t, c, src, parts, 0, n)
			if cmd := mirrorProcess(t, c, mapFile, "--instance-id", "crashback", "--until-caught-up"); waitProcess(cmd, 2*time.Minute) != nil {
				t.Fatalf("mirror failed:\n%s", cmd.Stderr)
			}
			commitOffsets(t, c, "app", src, map[int32]int64{0: int64(n), 1: 10})
			must("cutover", "consumers", "--yes", "--rename", src, "--all-groups")
			must("cutover", "producers", "--yes", "--rename", src)
			direct := dst
			var msgs []*kafka.Message
			for i := range 5 {
				msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &direct, Partition: 0}, Value: []byte(fmt.Sprintf("direct %d", i))})
			}
			delivered := c.Produce(t, msgs...)
			commitOffsets(t, c, "app", dst, map[int32]int64{0: int64(delivered[2].Offset)})

			_, kills := crashEveryWrite(t, c, mapFile, stateFile, "rollback", "--rename", src, "--yes")
			if topics, err := c.Admin(t).DescribeTopics(ctx, []string{dst}); err != nil || topics[dst] != nil {
				t.Fatalf("the new topic still exists after the rollback (err %v)", err)
			}
			old0 := c.ReadPartition(t, src, 0)
			var back []string
			for _, m := range old0 {
				if strings.HasPrefix(string(m.Value), "direct ") {
					back = append(back, string(m.Value))
				}
			}
			if strings.Join(back, ",") != "direct 0,direct 1,direct 2,direct 3,direct 4" {
				t.Errorf("copied back to %s/0: %v, want each direct write once, in order", src, back)
			}
			offsets, err := c.Admin(t).GroupOffsets(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			resumesAt(t, src+"/0", old0, offsets[src][0], "direct 2")
			resumesAt(t, src+"/1", c.ReadPartition(t, src, 1), offsets[src][1], "1/10")
			st, _ := state.Open(stateFile, state.Options{})
			if rec, _, _ := st.Rename(ctx, src); rec == nil || rec.Phase != state.PhaseRolledBack || rec.Step != nil || rec.Deleting != nil {
				t.Fatalf("after rollback: %+v, want phase rolled-back, no step or deletion open", rec)
			}
			t.Logf("%d runs killed mid-way", kills)
			if kills < 3 {
				t.Errorf("only %d runs were killed", kills)
			}
		})

		t.Run("swap", func(t *testing.T) {
			const src, dst = "crashswap.delivery_failed.v1", "crashswap.delivery.failed.v1"
			c.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
			produceNumbered(t, c, src, parts, 0, n)
			want := [][]*kafka.Message{c.ReadPartition(t, src, 0), c.ReadPartition(t, src, 1)}
			commitOffsets(t, c, "mailer", src, map[int32]int64{0: 17, 1: int64(n)})
			mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", src, dst))
			stateFile := filepath.Join(t.TempDir(), "s.db")
			mustCLI(t, c, mapFile, stateFile)("apply", "--yes")

			_, kills := crashEveryWrite(t, c, mapFile, stateFile, "cutover", "swap", "--rename", src, "--yes", "--quiet-for", "100ms",
				// Not the default group, which the bridges of the subtests
				// above left static members in for their session timeout:
				// the swap would wait for them to copy.
				"--bridge-group", "crashswap-bridge")
			topics, err := c.Admin(t).DescribeTopics(ctx, []string{src, dst, plan.StagingTopic(dst)})
			if err != nil || topics[src] != nil || topics[plan.StagingTopic(dst)] != nil || topics[dst] == nil {
				t.Fatalf("after the swap: old %v, staging %v, new %v (%v); want only the new topic", topics[src] != nil, topics[plan.StagingTopic(dst)] != nil, topics[dst] != nil, err)
			}
			for p := int32(0); p < parts; p++ {
				sameRecords(t, fmt.Sprintf("%s/%d", dst, p), c.ReadPartition(t, dst, p), want[p])
			}
			offsets, err := c.Admin(t).GroupOffsets(ctx, "mailer")
			if err != nil {
				t.Fatal(err)
			}
			resumesAt(t, dst+"/0", c.ReadPartition(t, dst, 0), offsets[dst][0], "0/17")
			resumesAt(t, dst+"/1", c.ReadPartition(t, dst, 1), offsets[dst][1], "")
			st, _ := state.Open(stateFile, state.Options{})
			if rec, _, _ := st.Rename(ctx, src); rec == nil || rec.Phase != state.PhaseRetired || rec.Step != nil || rec.Deleting != nil {
				t.Fatalf("after the swap: %+v, want phase retired, no step or deletion open", rec)
			}
			t.Logf("%d runs killed mid-way", kills)
			if kills < 5 {
				t.Errorf("only %d runs were killed", kills)
			}
		})
	})
}

// checkAuditHas fails unless the audit trail of rename has action.
func checkAuditHas(t *testing.T, st *state.Store, rename, action string) {
	t.Helper()
	audit, err := st.Audit(context.Background(), rename)
	if err != nil || len(audit) == 0 {
		t.Fatalf("audit of %s: %v (%d entries)", rename, err, len(audit))
	}
	var actions []string
	for _, a := range audit {
		if a.Action == action {
			return
		}
		actions = append(actions, a.Action)
	}
	t.Errorf("the audit trail of %s lacks %q: %v", rename, action, actions)
}
