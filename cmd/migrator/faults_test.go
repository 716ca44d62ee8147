package main

// The fault suite (make test-faults; also part of make test): the bridge
// and the lifecycle under the failures a production cluster sees.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
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

	cmd := mirrorProcess(t, c, mapFile, "--instance-id", "outage", "--batch-records", "500")
	defer func() { _ = cmd.Process.Kill() }()
	cl := c.Admin(t)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, high, err := cl.Producer().QueryWatermarkOffsets(dst, 0, 1000); err == nil && high > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge copied nothing within a minute\n%s", cmd.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Stop(t)
	out, _, err := run(t, "-b", c.Bootstrap, "--map", mapFile, "--timeout", "3s", "status")
	if err == nil || !strings.Contains(err.Error(), "cannot reach Kafka at "+c.Bootstrap) {
		t.Errorf("status during the outage: %v\n%s; want 'cannot reach Kafka at %s'", err, out, c.Bootstrap)
	}
	time.Sleep(3 * time.Second)
	if cmd.ProcessState != nil {
		t.Fatalf("the bridge exited during the outage\n%s", cmd.Stderr)
	}
	b.Start(t)
	produceNumbered(t, c, src, parts, 100_000, 1000)

	deadline = time.Now().Add(3 * time.Minute)
	for !copiedAll(t, c, src, dst, parts) {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not catch up within 3 minutes of the restart\n%s", lastLinesOf(cmd.Stderr, 30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("the bridge is gone: %v\n%s", err, lastLinesOf(cmd.Stderr, 30))
	}
	if err := waitProcess(cmd, time.Minute); err != nil {
		t.Fatalf("the bridge after the outage: %v\n%s", err, lastLinesOf(cmd.Stderr, 30))
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

// lastLinesOf returns the last n lines a process wrote to its buffer.
func lastLinesOf(w any, n int) string {
	b, ok := w.(*bytes.Buffer)
	if !ok {
		return ""
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
