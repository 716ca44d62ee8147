package main

// The fault suite (make test-faults; also part of make test): the bridge
// and the lifecycle under the failures a production cluster sees.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/state"
)

// TestFaultBrokerRestartMidCopy stops the broker (its own, so that other
// tests are not disturbed) while the bridge copies, keeps it down for a
// few seconds and starts it again: the bridge waits, resumes, and the copy
// is exactly once; while the broker is down, status says it cannot reach
// Kafka.
func TestFaultBrokerRestartMidCopy(t *testing.T) {
	b := kafkatest.StartBroker(t)
	c := b.Cluster
	const src, dst, parts = "outage.old_name.v1", "outage.new.name.v1", 3
	c.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
	c.CreateTopic(t, dst, parts, map[string]string{"retention.ms": "-1"})
	mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
	produceNumbered(t, c, src, parts, 0, 100_000)

	// The bridge runs as systemd or Kubernetes run it (deploy/): when it
	// exits with an error it is started again. It must ride out the
	// outage itself; after the restart, librdkafka may find its static
	// member fenced by its own rejoin, a fatal error after which the
	// process exits and is restarted from its committed offsets.
	br := superviseMirror(t, c, mapFile, "--instance-id", "outage", "--batch-records", "500")
	cl := c.Admin(t)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, high, err := cl.Producer().QueryWatermarkOffsets(dst, 0, 1000); err == nil && high > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge copied nothing within a minute\n%s", br.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Stop(t)
	out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--timeout", "3s", "status")
	if err == nil || !strings.Contains(err.Error(), "cannot reach Kafka at "+c.Bootstrap) {
		t.Errorf("status during the outage: %v\n%s; want 'cannot reach Kafka at %s'", err, out, c.Bootstrap)
	}
	time.Sleep(3 * time.Second)
	if n := br.exits(); n > 0 {
		t.Fatalf("the bridge exited %d time(s) while the broker was down; it must wait\n%s", n, br.tail())
	}
	b.Start(t)
	produceNumbered(t, c, src, parts, 100_000, 1000)

	deadline = time.Now().Add(3 * time.Minute)
	for !copiedAll(t, c, src, dst, parts) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not catch up within 3 minutes of the restart\n%s", br.tail())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := br.stop(); err != nil {
		t.Fatalf("the bridge after the outage: %v\n%s", err, br.tail())
	}
	if n := br.exits(); n > 0 {
		t.Logf("the bridge was restarted %d time(s) after the broker came back", n)
		if n > 3 {
			t.Errorf("the bridge exited %d times after the broker came back, want at most 3\n%s", n, br.tail())
		}
	}
	assertExactlyOnce(t, c, src, dst, parts)
	out, _, err = run(t, "-b", c.Bootstrap, "--map", mapFile, "-o", "json", "verify")
	if err != nil || !strings.Contains(out, `"compared": 101000`) {
		t.Errorf("verify after the outage: %v\n%s", err, out)
	}
}

// TestFaultBridgeKilled20Times kills the bridge with SIGKILL twenty times
// at random moments during a copy of a million records (100,000 on kfake)
// and restarts it each time: verify passes, nothing lost, nothing twice.
func TestFaultBridgeKilled20Times(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst, parts = "kill20.old_name.v1", "kill20.new.name.v1", 4
		perPartition := 25_000
		if c.Kind == kafkatest.Real {
			perPartition = 250_000
		}
		c.CreateTopic(t, src, parts, map[string]string{"retention.ms": "-1"})
		c.CreateTopic(t, dst, parts, map[string]string{"retention.ms": "-1"})
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		produceNumbered(t, c, src, parts, 0, perPartition)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		kills := 0
		for round := 0; round < 20; round++ {
			cmd := mirrorProcess(t, c, mapFile, "--instance-id", "kill20", "--batch-records", "2000")
			time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
				kills++
			}
			_ = cmd.Wait()
		}
		cmd := mirrorProcess(t, c, mapFile, "--instance-id", "kill20", "--until-caught-up")
		if err := waitProcess(cmd, 5*time.Minute); err != nil {
			t.Fatalf("final mirror: %v\n%s", err, lastLinesOf(cmd.Stderr, 30))
		}
		if kills < 20 {
			t.Errorf("only %d of 20 kills landed", kills)
		}
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "-o", "json", "verify")
		if err != nil || !strings.Contains(out, fmt.Sprintf(`"compared": %d`, perPartition)) || strings.Contains(out, `"divergence"`) {
			t.Fatalf("verify after %d kills: %v\n%s", kills, err, out)
		}
		assertExactlyOnce(t, c, src, dst, parts)
	})
}

// lastLinesOf returns the last n lines a process wrote to its stderr
// buffer.
func lastLinesOf(w io.Writer, n int) string {
	if b, ok := w.(*bytes.Buffer); ok {
		return lastLines(b.String(), n)
	}
	return ""
}

// TestFaultOddRecords copies records of every odd shape: each is copied
// unchanged (a 0-byte key stays 0 bytes, a null key stays null, invalid
// UTF-8 and non-JSON values untouched, JSON without the contract field
// too), or, when the target cannot take it, lands in the DLQ with the
// reason; none is lost.
func TestFaultOddRecords(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "odd.old_name.v1", "odd.new.name.v1"
		c.CreateTopic(t, src, 1, map[string]string{"retention.ms": "-1", "max.message.bytes": "2000000"})
		c.CreateTopic(t, dst, 1, map[string]string{"retention.ms": "-1"})
		topic := src
		huge := bytes.Repeat([]byte{'h'}, 1<<20)
		shapes := []struct {
			name       string
			key, value []byte
		}{
			{"empty value", []byte("k"), []byte{}},
			{"0-byte key", []byte{}, []byte("v")},
			{"null key", nil, []byte("v")},
			{"null value", []byte("k"), nil},
			{"1 MiB value", []byte("big"), huge},
			{"invalid UTF-8", []byte{0xff, 0xfe}, []byte{0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc}},
			{"not JSON", []byte("k"), []byte("{not json")},
			{"JSON without the contract field", []byte("k"), []byte(`{"event_id":"e-1","data":{"essay_id":"x"}}`)},
			{"JSON with it", []byte("b-1"), []byte(`{"event_id":"e-2","correlation_id":"c-2","data":{"batch_id":"b-1"}}`)},
		}
		var msgs []*kafka.Message
		for _, s := range shapes {
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Key: s.key, Value: s.value})
		}
		c.Produce(t, msgs...)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\npartition_keys:\n  odd: data.batch_id\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		cmd := mirrorProcess(t, c, mapFile, "--until-caught-up")
		if err := waitProcess(cmd, 2*time.Minute); err != nil {
			t.Fatalf("mirror: %v\n%s", err, lastLinesOf(cmd.Stderr, 30))
		}
		copies := c.ReadPartition(t, dst, 0)
		dead := c.ReadPartition(t, dst+".dlq.v1", 0)
		if len(copies) != len(shapes)-1 || len(dead) != 1 {
			t.Fatalf("%d copies and %d dead letters, want %d and 1", len(copies), len(dead), len(shapes)-1)
		}
		i := 0
		for _, s := range shapes {
			if s.name == "1 MiB value" {
				continue
			}
			got := copies[i]
			i++
			if !bytes.Equal(got.Key, s.key) || (got.Key == nil) != (s.key == nil) || !bytes.Equal(got.Value, s.value) || (got.Value == nil) != (s.value == nil) {
				t.Errorf("%s: copied as key %q (nil %v) value %q (nil %v)", s.name, got.Key, got.Key == nil, got.Value, got.Value == nil)
			}
		}
		dl, err := bridge.DecodeDeadLetter(dead[0].Value)
		if err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		if dl.OriginalEvent.Offset != 4 || dl.OriginalEvent.ValueBytes != 1<<20 || dl.ErrorMessage == "" || dl.OriginalTopic != src {
			t.Errorf("dead letter = %+v, want offset 4, 1 MiB and a reason", dl)
		}
		if !strings.Contains(strings.ToLower(dl.ErrorMessage+dl.ErrorType), "large") && !strings.Contains(dl.ErrorMessage, "max.message.bytes") {
			t.Errorf("dead letter reason %q / %q does not say the record is too large", dl.ErrorType, dl.ErrorMessage)
		}
		// A record only in the DLQ fails verify, naming it, until the
		// operator accepts its dead letter.
		_, _, err = run(t, "-b", c.Bootstrap, "--map", mapFile, "-o", "json", "verify")
		if exitCode(err) != exitDivergent || !strings.Contains(fmt.Sprint(err), "only in the DLQ") || !strings.Contains(fmt.Sprint(err), src+"/0/4") {
			t.Errorf("verify with a dead letter: %v (exit %d), want exit %d naming %s/0/4", err, exitCode(err), exitDivergent, src)
		}
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "-o", "json", "verify", "--accept-dead-letters", src+"/0/4")
		if err != nil || !strings.Contains(out, `"dead_lettered": 1`) || !strings.Contains(out, `"compared": 8`) {
			t.Errorf("verify: %v\n%s", err, out)
		}
	})
}

// TestFaultTwoOperators runs two applies and then two consumer cutovers
// at the same moment on one state file: each either waits for the other
// or is refused with a clear message, and the state ends consistent: the
// rename created once, the group moved once.
func TestFaultTwoOperators(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "twoops.old_name.v1", "twoops.new.name.v1"
		c.CreateTopic(t, src, 2, map[string]string{"retention.ms": "-1"})
		produceNumbered(t, c, src, 2, 0, 200)
		commitOffsets(t, c, "twoops-readers", src, map[int32]int64{0: 50, 1: 150})
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		both := func(args ...string) []string {
			t.Helper()
			full := append([]string{"-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "--lock-timeout", "20s"}, args...)
			cmds := []*exec.Cmd{exec.Command(migratorBinary(t), full...), exec.Command(migratorBinary(t), full...)}
			outs := make([]bytes.Buffer, 2)
			for i, cmd := range cmds {
				cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
			}
			var res []string
			for i, cmd := range cmds {
				err := waitProcess(cmd, 2*time.Minute)
				out := outs[i].String()
				if err != nil && !strings.Contains(out, "another operator is changing this migration") && !strings.Contains(out, "has no committed offsets on "+src) {
					t.Errorf("%v run %d failed without a clear reason: %v\n%s", args, i, err, out)
				}
				res = append(res, out)
			}
			return res
		}
		both("apply", "--yes")
		mirror := mirrorProcess(t, c, mapFile, "--until-caught-up")
		if err := waitProcess(mirror, 2*time.Minute); err != nil {
			t.Fatalf("mirror: %v", err)
		}
		both("cutover", "consumers", "--yes", "--rename", src, "--group", "twoops-readers", "--bridge-group", "topic-migrator-bridge")

		st, err := state.Open(stateFile, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := st.Rename(context.Background(), src)
		if err != nil || rec.Phase != state.PhaseConsumersCut || rec.Step != nil {
			t.Fatalf("state after two operators: %+v, %v; want consumers-cut and no step in progress", rec, err)
		}
		audit, err := st.Audit(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		// The two applies ran one after the other (the second found the
		// topic made and re-recorded it), never interleaved; the group
		// moved once (the second cutover found it moved).
		counts := map[string]int{}
		var applies []string
		for _, e := range audit {
			counts[e.Action]++
			if strings.HasPrefix(e.Action, "apply: ") {
				applies = append(applies, e.Action)
			}
		}
		for i, a := range applies {
			if want := []string{"apply: begin", "apply: end"}[i%2]; a != want {
				t.Errorf("apply audit entries interleave: %v", applies)
				break
			}
		}
		if counts["move group: begin"] != 1 || counts["move group: end"] != 1 {
			t.Errorf("audit: the group moved %d times (%d begun); want once: %v", counts["move group: end"], counts["move group: begin"], counts)
		}
		offsets, err := c.Admin(t).GroupOffsets(context.Background(), "twoops-readers")
		if err != nil || len(offsets[src]) != 0 || len(offsets[dst]) != 2 {
			t.Errorf("group offsets after the moves: %v %v; want only %s's", offsets, err, dst)
		}
	})
}

// supervisedMirror is a `migrator mirror` process restarted whenever it
// exits, as its service manager would.
type supervisedMirror struct {
	mu      sync.Mutex
	cmd     *exec.Cmd
	failed  int
	stopped bool
	done    chan error
	last    string
}

// superviseMirror starts `migrator mirror` and keeps it running.
func superviseMirror(t *testing.T, c *kafkatest.Cluster, mapFile string, args ...string) *supervisedMirror {
	t.Helper()
	s := &supervisedMirror{done: make(chan error, 1)}
	start := func() *exec.Cmd {
		cmd := mirrorProcess(t, c, mapFile, args...)
		s.mu.Lock()
		s.cmd = cmd
		s.mu.Unlock()
		return cmd
	}
	cmd := start()
	go func() {
		for {
			err := cmd.Wait()
			s.mu.Lock()
			s.last = lastLinesOf(cmd.Stderr, 30)
			if s.stopped {
				s.mu.Unlock()
				s.done <- err
				return
			}
			s.failed++
			s.mu.Unlock()
			time.Sleep(time.Second)
			cmd = start()
		}
	}()
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.stopped {
			s.stopped = true
			_ = s.cmd.Process.Kill()
		}
	})
	return s
}

// exits counts the exits that were not asked for.
func (s *supervisedMirror) exits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// tail is the end of the current (or last) process's stderr.
func (s *supervisedMirror) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last + "\n--- current process:\n" + lastLinesOf(s.cmd.Stderr, 30)
}

// stop sends SIGTERM and returns how the process ended.
func (s *supervisedMirror) stop() error {
	s.mu.Lock()
	s.stopped = true
	err := s.cmd.Process.Signal(syscall.SIGTERM)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-s.done:
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("still running a minute after SIGTERM")
	}
}
