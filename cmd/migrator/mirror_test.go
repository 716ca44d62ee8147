package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
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
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// migratorBinary builds the migrator once per test run, for tests that
// kill it.
func migratorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "migrator-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "migrator")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// mirrorProcess starts `migrator mirror` as a child process.
func mirrorProcess(t *testing.T, c *kafkatest.Cluster, mapFile string, args ...string) *exec.Cmd {
	t.Helper()
	full := append([]string{"-b", c.Bootstrap, "--map", mapFile, "mirror", "--no-state", "--refresh", "1s"}, args...)
	cmd := exec.Command(migratorBinary(t), full...)
	cmd.Stderr = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	return cmd
}

// killAtEnd kills cmd when the test ends, should it still run (a test
// that failed before stopping it): a bridge left running would stay a
// member of the bridge's group and fail every later test's reset.
func killAtEnd(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() { _ = cmd.Process.Kill() })
}

// produceNumbered writes n records per partition with values "p/i",
// keyed by i%17 (a few keys, many records each).
func produceNumbered(t *testing.T, c *kafkatest.Cluster, topic string, partitions, from, n int) {
	t.Helper()
	var msgs []*kafka.Message
	for p := 0; p < partitions; p++ {
		for i := from; i < from+n; i++ {
			msgs = append(msgs, &kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(p)},
				Key:            []byte(fmt.Sprintf("key-%d", i%17)),
				Value:          []byte(fmt.Sprintf("%d/%d", p, i)),
				Headers:        []kafka.Header{{Key: "seq", Value: []byte(fmt.Sprint(i))}},
			})
		}
	}
	c.Produce(t, msgs...)
}

// assertExactlyOnce checks that each partition of dst holds every record
// of the same partition of src exactly once, in order.
func assertExactlyOnce(t *testing.T, c *kafkatest.Cluster, src, dst string, partitions int) {
	t.Helper()
	for p := int32(0); p < int32(partitions); p++ {
		want := c.ReadPartition(t, src, p)
		got := c.ReadPartition(t, dst, p)
		if len(got) != len(want) {
			seen := map[int64]int{}
			for _, m := range got {
				o, _ := bridge.OriginOf(m.Headers)
				seen[o.Offset]++
			}
			dups, lost := 0, 0
			for _, m := range want {
				switch seen[int64(m.TopicPartition.Offset)] {
				case 0:
					lost++
				case 1:
				default:
					dups++
				}
			}
			t.Fatalf("partition %d: %d copies of %d records: %d lost, %d duplicated", p, len(got), len(want), lost, dups)
		}
		for i := range want {
			o, ok := bridge.OriginOf(got[i].Headers)
			if !ok || o.Offset != int64(want[i].TopicPartition.Offset) || o.Partition != p || !bytes.Equal(got[i].Value, want[i].Value) {
				t.Fatalf("partition %d record %d: copy %s of origin %v, want %s at offset %d", p, i, got[i].Value, o, want[i].Value, want[i].TopicPartition.Offset)
			}
		}
	}
}

// TestMirrorSurvivesSIGKILL kills the bridge with SIGKILL at random
// moments during one copy, with new records arriving in between, and
// restarts it: no record is lost, none duplicated.
func TestMirrorSurvivesSIGKILL(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst, parts = "kill.old_name.v1", "kill.new.name.v1", 3
		c.CreateTopic(t, src, parts, nil)
		c.CreateTopic(t, dst, parts, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		produceNumbered(t, c, src, parts, 0, 20000)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		kills := 0
		for round := 0; round < 10; round++ {
			cmd := mirrorProcess(t, c, mapFile, "--instance-id", "killed", "--batch-records", "200")
			time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
				kills++
			}
			_ = cmd.Wait()
			if round%3 == 0 {
				produceNumbered(t, c, src, parts, 20000+round*1000, 1000)
			}
		}
		cmd := mirrorProcess(t, c, mapFile, "--instance-id", "killed", "--until-caught-up")
		if err := waitProcess(cmd, 2*time.Minute); err != nil {
			t.Fatalf("final mirror: %v\n%s", err, cmd.Stderr)
		}
		if kills < 10 {
			t.Errorf("only %d of 10 kills landed", kills)
		}
		assertExactlyOnce(t, c, src, dst, parts)
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "-o", "json", "verify")
		if err != nil || !strings.Contains(out, `"compared": 24000`) {
			t.Errorf("verify after the kills: %v\n%s", err, out)
		}
	})
}

// TestMirrorTwoProcessesOneKilled runs two bridge processes in one group;
// one is killed mid-copy, the other takes over its partitions, and a
// SIGTERM stops the survivor cleanly: the copy is still exactly once.
func TestMirrorTwoProcessesOneKilled(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst, parts = "pair.old_name.v1", "pair.new.name.v1", 4
		c.CreateTopic(t, src, parts, nil)
		c.CreateTopic(t, dst, parts, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		produceNumbered(t, c, src, parts, 0, 10000)
		a := mirrorProcess(t, c, mapFile, "--instance-id", "a", "--batch-records", "100")
		b := mirrorProcess(t, c, mapFile, "--instance-id", "b", "--batch-records", "100")
		time.Sleep(1500 * time.Millisecond)
		_ = a.Process.Signal(syscall.SIGKILL)
		_ = a.Wait()
		produceNumbered(t, c, src, parts, 10000, 2000)

		// The survivor copies everything once the group notices the death.
		deadline := time.Now().Add(90 * time.Second)
		for !copiedAll(t, c, src, dst, parts) {
			if time.Now().After(deadline) {
				t.Fatalf("survivor did not copy everything within 90s\n%s", b.Stderr)
			}
			time.Sleep(500 * time.Millisecond)
		}
		_ = b.Process.Signal(syscall.SIGTERM)
		if err := waitProcess(b, 45*time.Second); err != nil {
			t.Fatalf("survivor did not exit cleanly on SIGTERM: %v\n%s", err, b.Stderr)
		}
		assertExactlyOnce(t, c, src, dst, parts)
	})
}

// waitProcess waits for cmd to exit, killing it after timeout.
func waitProcess(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s: killed", timeout)
	}
}

// copiedAll reports whether dst holds at least as many committed records
// as src in every partition.
func copiedAll(t *testing.T, c *kafkatest.Cluster, src, dst string, parts int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := c.Admin(t)
	for p := int32(0); p < int32(parts); p++ {
		n := func(topic string) int64 {
			res, err := cl.Kafka().ListOffsets(ctx, map[kafka.TopicPartition]kafka.OffsetSpec{
				{Topic: &topic, Partition: p}: kafka.LatestOffsetSpec,
			}, kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadCommitted))
			if err != nil {
				return -1
			}
			for _, info := range res.ResultInfos {
				return int64(info.Offset)
			}
			return -1
		}
		// The target's offsets include transaction markers, so compare
		// record counts only once the target is at least as far.
		if n(dst) < n(src) {
			return false
		}
	}
	for p := int32(0); p < int32(parts); p++ {
		if len(c.ReadPartition(t, dst, p)) < len(c.ReadPartition(t, src, p)) {
			return false
		}
	}
	return true
}

// TestMirrorForwardAndReverseTogether runs `mirror` and `mirror --reverse`
// on the same pair while producers write to both topics: afterwards each
// topic holds every record written to either, exactly once, and nothing
// looped.
func TestMirrorForwardAndReverseTogether(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const a, b, parts = "both.old_name.v1", "both.new.name.v1", 2
		c.CreateTopic(t, a, parts, nil)
		c.CreateTopic(t, b, parts, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", a, b))
		fwd := mirrorProcess(t, c, mapFile, "--instance-id", "fwd", "--group", "forward")
		rev := mirrorProcess(t, c, mapFile, "--instance-id", "rev", "--group", "reverse", "--reverse")
		traffic := 20 * time.Second
		if c.Kind == kafkatest.Real {
			traffic = time.Minute
		}
		written := 0
		for start := time.Now(); time.Since(start) < traffic; written++ {
			topic := a
			if written%2 == 1 {
				topic = b
			}
			c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(written % parts)}, Value: []byte(fmt.Sprintf("%s#%d", topic, written))})
			time.Sleep(50 * time.Millisecond)
		}
		counts := func(topic string) map[string]int {
			n := map[string]int{}
			for p := int32(0); p < parts; p++ {
				for _, m := range c.ReadPartition(t, topic, p) {
					n[string(m.Value)]++
				}
			}
			return n
		}
		deadline := time.Now().Add(60 * time.Second)
		for len(counts(a)) < written || len(counts(b)) < written {
			if time.Now().After(deadline) {
				t.Fatalf("copies incomplete after 60s: %d and %d of %d\nforward:\n%s\nreverse:\n%s", len(counts(a)), len(counts(b)), written, fwd.Stderr, rev.Stderr)
			}
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // Room for a loop to show, if there were one.
		for _, p := range []*exec.Cmd{fwd, rev} {
			_ = p.Process.Signal(syscall.SIGTERM)
			if err := waitProcess(p, 45*time.Second); err != nil {
				t.Errorf("bridge did not stop cleanly: %v\n%s", err, p.Stderr)
			}
		}
		for _, topic := range []string{a, b} {
			n := counts(topic)
			if len(n) != written {
				t.Errorf("%s holds %d distinct records, want %d", topic, len(n), written)
			}
			for v, k := range n {
				if k != 1 {
					t.Errorf("%s holds %q %d times", topic, v, k)
				}
			}
		}
	})
}

// TestMirrorMetricsAndState runs the bridge with a state file and a
// metrics endpoint: the rename moves from created to mirroring, and the
// metrics and probes answer.
func TestMirrorMetricsAndState(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "metrics.old_name.v1", "metrics.new.name.v1"
		mapFile, stateFile := appliedRename(t, c, src, dst, 1)
		produceNumbered(t, c, src, 1, 0, 25)
		addr := freeAddr(t)
		cmd := exec.Command(migratorBinary(t), "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--metrics-addr", addr, "--instance-id", "metrics")
		cmd.Stderr = &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = waitProcess(cmd, 45*time.Second)
		}()
		want := fmt.Sprintf("migrator_bridge_records_total{rename=%q} 25", src)
		deadline := time.Now().Add(60 * time.Second)
		for {
			body, code := httpGet("http://" + addr + "/metrics")
			if code == 200 && strings.Contains(body, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics never showed %q:\n%s\n%s", want, body, cmd.Stderr)
			}
			time.Sleep(300 * time.Millisecond)
		}
		for _, probe := range []string{"/healthz", "/readyz"} {
			if _, code := httpGet("http://" + addr + probe); code != 200 {
				t.Errorf("%s answered %d", probe, code)
			}
		}
		body, _ := httpGet("http://" + addr + "/metrics")
		for _, name := range []string{"migrator_bridge_lag_records", "migrator_bridge_transactions_total", "migrator_bridge_transaction_seconds", "migrator_bridge_rebalances_total"} {
			if !strings.Contains(body, name) {
				t.Errorf("metrics lack %s", name)
			}
		}
		st, err := state.Open(stateFile, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec, _, err := st.Rename(context.Background(), src)
		if err != nil || rec.Phase != state.PhaseMirroring {
			t.Errorf("phase = %v (%v), want mirroring", rec, err)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (string, int) {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// TestStatus shows phase, window, lag, DLQ and groups after apply and a
// caught-up bridge.
func TestStatus(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "status.old_name.v1", "status.new.name.v1"
		c.CreateTopic(t, src, 2, nil)
		mapFile := writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nwindow: 30d\nrenames:\n  - {from: %s, to: %s}\n", src, dst))
		stateFile := filepath.Join(t.TempDir(), "s.db")
		if _, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "apply", "--yes"); err != nil {
			t.Fatal(err)
		}
		produceNumbered(t, c, src, 2, 0, 50)
		c.CommitOffsets(t, "billing", src, map[int32]int64{0: 10})
		cmd := exec.Command(migratorBinary(t), "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "mirror", "--until-caught-up", "--instance-id", "status")
		cmd.Stderr = &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := waitProcess(cmd, 2*time.Minute); err != nil {
			t.Fatalf("mirror: %v\n%s", err, cmd.Stderr)
		}
		out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--state", stateFile, "-o", "json", "status")
		if err != nil {
			t.Fatal(err)
		}
		var rows []lifecycle.RenameStatus
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
			t.Fatalf("status output %q: %v", out, err)
		}
		r := rows[0]
		if r.Phase != state.PhaseMirroring || r.DaysLeft == nil || *r.DaysLeft < 29.9 || *r.DaysLeft > 30 {
			t.Errorf("phase %s, days left %v", r.Phase, r.DaysLeft)
		}
		if r.LagRecords == nil || *r.LagRecords != 0 || r.DeadLetters != 0 || r.Copying != dst {
			t.Errorf("lag %v, DLQ %d, copying %q", r.LagRecords, r.DeadLetters, r.Copying)
		}
		if strings.Join(r.GroupsOnOld, ",") != "billing" || len(r.GroupsOnNew) != 0 {
			t.Errorf("groups on old %v, on new %v", r.GroupsOnOld, r.GroupsOnNew)
		}
	})
}
