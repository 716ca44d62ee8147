package main

// The three-node fault suite (make test-faults3; also part of make test):
// the bridge copying while a node of a replicated cluster (replication
// factor 3, min.insync.replicas 2) is killed or bounced, the node being
// the old topic's partition leader, the bridge's transaction coordinator
// or its group coordinator; and a bridge frozen past its transaction
// timeout while a successor with its instance id takes over. Each test
// ends with checkCopy, which reads both topics completely
// (read_committed): every source record copied exactly once, in order,
// byte for byte. make chaos runs random faults of these kinds for a while
// (TestThreeNodeChaos).

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// bridgeTransactionTimeout is the bridge's transaction timeout
// (`migrator mirror --transaction-timeout`): short, so that the zombie
// need not be frozen long and a hung client call (librdkafka#5511) ends
// the bridge 15 s past it, well before the watchdog would.
const bridgeTransactionTimeout = 10 * time.Second

const (
	threeNodeParts   = 3
	threeNodeBacklog = 100_002 // 33,334 per partition
	valueSize        = 100
	liveRate         = 1000 // records per second, during the fault
)

// nodeRole names the node a fault hits.
type nodeRole string

const (
	roleLeader    nodeRole = "leader of the old topic's partition 0"
	roleTxnCoord  nodeRole = "transaction coordinator of the bridge"
	roleGroupCoor nodeRole = "group coordinator of the bridge"
)

func TestThreeNodeLeaderKilled(t *testing.T)          { nodeFault(t, roleLeader, true) }
func TestThreeNodeLeaderBounced(t *testing.T)         { nodeFault(t, roleLeader, false) }
func TestThreeNodeTxnCoordinatorKilled(t *testing.T)  { nodeFault(t, roleTxnCoord, true) }
func TestThreeNodeTxnCoordinatorBounced(t *testing.T) { nodeFault(t, roleTxnCoord, false) }
func TestThreeNodeGroupCoordinatorKilled(t *testing.T) {
	nodeFault(t, roleGroupCoor, true)
}
func TestThreeNodeGroupCoordinatorBounced(t *testing.T) {
	nodeFault(t, roleGroupCoor, false)
}

// threeNodeRig is one test's topics, bridge group and records on the
// shared three-node cluster.
type threeNodeRig struct {
	c         *kafkatest.Cluster3
	src, dst  string
	group, id string
	mapFile   string
	// offsets is a consumer of the bridge's group that never joins it:
	// it reads what the bridge committed.
	offsets *kafka.Consumer
}

// newRig makes the old and new topics (3 partitions, replication factor
// 3) named after the test, and writes the backlog to the old one.
func newRig(t *testing.T, name string, backlog int) *threeNodeRig {
	t.Helper()
	c := kafkatest.NewCluster3(t)
	r := &threeNodeRig{
		c:   c,
		src: name + ".old_name.v1", dst: name + ".new.name.v1",
		// A group and instance id of the test's own: a static member of
		// an earlier test's group may still be registered.
		group: fmt.Sprintf("bridge-%s-%d", name, time.Now().UnixNano()%1_000_000),
		id:    name,
	}
	c.CreateTopic(t, r.src, threeNodeParts, map[string]string{"retention.ms": "-1"})
	c.CreateTopic(t, r.dst, threeNodeParts, map[string]string{"retention.ms": "-1"})
	r.mapFile = writeFile(t, "map.yaml", fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", r.src, r.dst))
	offsets, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{
		"group.id": r.group, "enable.auto.commit": false,
		// Connection errors while a node is down are expected: not logged.
		"log_level": 0,
		// require_stable: offsets a transaction is still committing are
		// waited for, never read half-done.
		"isolation.level": "read_committed",
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = offsets.Close() })
	r.offsets = offsets
	start := time.Now()
	produceValues(t, c.Cluster, r.src, threeNodeParts, "backlog", backlog)
	t.Logf("backlog of %d records × %d B written in %s", backlog, valueSize, time.Since(start).Round(time.Millisecond))
	return r
}

// mirrorArgs are the bridge's flags: its group and instance id, and
// batches small enough that a fault lands inside many transactions.
func (r *threeNodeRig) mirrorArgs() []string {
	return []string{"--group", r.group, "--instance-id", r.id, "--batch-records", "1000",
		"--transaction-timeout", bridgeTransactionTimeout.String()}
}

// transactionalID is the bridge's transactional id (bridge.Bridge.open).
func (r *threeNodeRig) transactionalID() string { return r.group + "-" + r.id }

// target finds the node playing role.
func (r *threeNodeRig) target(t *testing.T, role nodeRole) int32 {
	t.Helper()
	switch role {
	case roleLeader:
		return r.c.Leader(t, r.src, 0)
	case roleTxnCoord:
		return r.c.TransactionCoordinator(t, r.transactionalID())
	case roleGroupCoor:
		return r.c.GroupCoordinator(t, r.group)
	}
	t.Fatalf("unknown role %q", role)
	return 0
}

// nodeFault kills (hard) or cleanly stops the node playing role while the
// bridge copies the backlog and new records arrive, waits until the
// bridge copies with that node down, starts the node again, and checks
// the copy.
func nodeFault(t *testing.T, role nodeRole, hard bool) {
	name := map[nodeRole]string{roleLeader: "leader", roleTxnCoord: "txncoord", roleGroupCoor: "groupcoord"}[role]
	how := "bounce"
	if hard {
		how = "kill"
	}
	began := time.Now()
	r := newRig(t, name+"-"+how, threeNodeBacklog)
	c := r.c
	br := superviseMirror(t, c.Cluster, r.mapFile, r.mirrorArgs()...)
	// Copying: a few transactions committed (the group and the
	// transaction coordinator are in use), most of the backlog ahead.
	r.waitCommitted(t, 5000, time.Minute, br)
	wd := r.startWatchdog(t, br)
	live := startSteadyProducer(t, c.Cluster, r.src, threeNodeParts, liveRate)

	node := r.target(t, role)
	groupCoord := r.target(t, roleGroupCoor)
	before := r.committed(t)
	faultAt := time.Now()
	if hard {
		c.Kill(t, node)
	} else {
		c.Stop(t, node)
	}
	t.Logf("%s: node %d (%s) down and fenced after %s; the bridge had committed %d records",
		how, node, role, time.Since(faultAt).Round(time.Millisecond), before)
	// Two of three replicas are enough (min.insync.replicas=2): the bridge
	// should keep copying with the node down.
	stalled := !r.committedWithin(t, r.committed(t)+liveRate, downProgressTimeout)
	downFor := time.Since(faultAt)
	if stalled {
		msg := fmt.Sprintf("the bridge copied nothing in the %s node %d (%s) was down", downFor.Round(time.Second), node, role)
		if node == groupCoord {
			// librdkafka: SendOffsetsToTransaction can wait for good on a
			// group coordinator that left the metadata
			// (confluentinc/librdkafka#5511, #5456); the bridge gives
			// the call up 15 s past its transaction timeout and exits for
			// its supervisor to restart it. docs/reliability.md.
			t.Logf("STALL (known: the node was the group coordinator, librdkafka#5511): %s", msg)
		} else {
			t.Errorf("%s\n%s", msg, br.tail())
		}
	}
	c.Start(t, node)
	t.Logf("node %d down for %s, back in every ISR after %s", node, downFor.Round(time.Millisecond), time.Since(faultAt).Round(time.Millisecond))
	// Once the node is back the bridge must copy again (restarted by its
	// supervisor if it gave up a hung call).
	r.waitCommitted(t, r.committed(t)+liveRate, watchdogStall+2*time.Minute, br)
	produced := live.stop(t)

	r.waitCaughtUp(t, watchdogStall+3*time.Minute, br)
	hung := wd.check(t)
	stopBridge(t, br)
	rep := checkCopy(t, c.Cluster, r.src, r.dst, threeNodeParts)
	t.Logf("RESULT %s %s node=%d group-coordinator=%d records=%d (backlog %d, live %d) %s bridge-restarts=%d stalled-while-down=%v watchdog-restarts=%d elapsed=%s",
		how, name, node, groupCoord, rep.Source, threeNodeBacklog, produced, rep, br.exits(), stalled, len(hung), time.Since(began).Round(time.Second))
	if rep.Source != threeNodeBacklog+produced {
		t.Errorf("the old topic holds %d records, %d were acknowledged", rep.Source, threeNodeBacklog+produced)
	}
	rep.assertExact(t)
	if n := br.exits() - len(hung); n > 3 {
		t.Errorf("the bridge exited %d times (besides the watchdog's restarts), want at most 3\n%s", n, br.tail())
	}
}

// TestThreeNodeZombieBridge freezes the bridge (SIGSTOP) for longer than
// its transaction timeout while a second bridge with the same instance id
// takes over, then lets the first run again (SIGCONT): the zombie is
// fenced (its transactional id and its static group membership belong to
// the successor) and copies nothing twice; it exits non-zero, or stays
// fenced.
func TestThreeNodeZombieBridge(t *testing.T) {
	began := time.Now()
	r := newRig(t, "zombie", threeNodeBacklog)
	c := r.c
	zombie := mirrorProcess(t, c.Cluster, r.mapFile, r.mirrorArgs()...)
	t.Cleanup(func() { _ = zombie.Process.Signal(syscall.SIGCONT); _ = zombie.Process.Kill() })
	r.waitCommitted(t, 5000, time.Minute, nil)
	live := startSteadyProducer(t, c.Cluster, r.src, threeNodeParts, liveRate)

	if err := zombie.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	frozen := r.committed(t)
	successor := mirrorProcess(t, c.Cluster, r.mapFile, r.mirrorArgs()...)
	t.Cleanup(func() { _ = successor.Process.Kill() })
	successorDone := make(chan error, 1)
	go func() { successorDone <- successor.Wait() }()
	// The successor fences the zombie's producer (InitTransactions aborts
	// its open transaction) and its group member, and copies on.
	r.waitCommitted(t, frozen+2*liveRate, 2*time.Minute, nil)
	t.Logf("zombie frozen with %d records committed; successor committed past %d within %s", frozen, frozen+2*liveRate, time.Since(frozenAt).Round(time.Millisecond))
	// Keep it frozen past its transaction timeout: the coordinator would
	// abort its transaction by now even without the successor.
	for time.Since(frozenAt) < bridgeTransactionTimeout+5*time.Second {
		select {
		case err := <-successorDone:
			t.Fatalf("the successor exited while the zombie was frozen: %v\n%s", err, lastLinesOf(successor.Stderr, 30))
		case <-time.After(time.Second):
		}
	}
	thawedAt := time.Now()
	if err := zombie.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	zombieErr := waitProcess(zombie, 90*time.Second)
	zombieOut := lastLinesOf(zombie.Stderr, 15)
	var exitErr *exec.ExitError
	switch {
	case errors.As(zombieErr, &exitErr) && exitErr.ExitCode() > 0:
		t.Logf("the zombie exited %d %s after SIGCONT:\n%s", exitErr.ExitCode(), time.Since(thawedAt).Round(time.Millisecond), zombieOut)
		if !strings.Contains(strings.ToLower(zombieOut), "fenced") {
			t.Errorf("the zombie exited without saying it was fenced:\n%s", zombieOut)
		}
	case zombieErr == nil:
		t.Errorf("the zombie exited 0 after SIGCONT; a fenced bridge must exit non-zero\n%s", zombieOut)
	default: // still running after 90 s: killed by waitProcess; the copy check says whether it wrote
		t.Logf("the zombie stayed up (fenced?) for 90 s after SIGCONT: %v\n%s", zombieErr, zombieOut)
	}
	// The successor keeps copying after the zombie woke up.
	r.waitCommitted(t, r.committed(t)+liveRate, 2*time.Minute, nil)
	produced := live.stop(t)
	r.waitCaughtUp(t, 3*time.Minute, nil)
	select {
	case err := <-successorDone:
		t.Fatalf("the successor exited on its own: %v\n%s", err, lastLinesOf(successor.Stderr, 30))
	default:
	}
	_ = successor.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-successorDone:
		switch out := lastLinesOf(successor.Stderr, 30); {
		case err == nil:
		case sigtermDuringRefresh(out):
			t.Logf("KNOWN (bridge): SIGTERM during a route refresh ended the successor with %v instead of exit status 0", err)
		default:
			t.Errorf("the successor did not stop cleanly on SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(time.Minute):
		t.Errorf("the successor still runs a minute after SIGTERM")
	}
	rep := checkCopy(t, c.Cluster, r.src, r.dst, threeNodeParts)
	zombieExit := "running (killed)"
	if exitErr != nil {
		zombieExit = fmt.Sprint(exitErr.ExitCode())
	} else if zombieErr == nil {
		zombieExit = "0"
	}
	t.Logf("RESULT zombie frozen=%s records=%d (backlog %d, live %d) %s zombie-exit=%s elapsed=%s",
		thawedAt.Sub(frozenAt).Round(time.Second), rep.Source, threeNodeBacklog, produced, rep, zombieExit, time.Since(began).Round(time.Second))
	rep.assertExact(t)
}

// TestThreeNodeChaos injects random faults of every kind above, one after
// the other, for CHAOS_DURATION (make chaos DURATION=10m), into one bridge
// copying a backlog and a steady stream: node kills and bounces (the old
// topic's leader, the bridge's transaction and group coordinators, or any
// node), a node paused for seconds, the bridge killed, and a zombie bridge
// fenced by a successor. Each fault is followed by a recovery to a healthy
// cluster and a bridge that copies again; the copy is checked at the end.
func TestThreeNodeChaos(t *testing.T) {
	d := os.Getenv("CHAOS_DURATION")
	if d == "" {
		t.Skip("CHAOS_DURATION is not set (make chaos DURATION=10m)")
	}
	duration, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("CHAOS_DURATION=%q: %v", d, err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	t.Logf("chaos for %s, seed %d", duration, seed)
	began := time.Now()
	r := newRig(t, "chaos", threeNodeBacklog)
	c := r.c
	br := superviseMirror(t, c.Cluster, r.mapFile, r.mirrorArgs()...)
	r.waitCommitted(t, 5000, time.Minute, br)
	wd := r.startWatchdog(t, br)
	const rate = 1000
	live := startSteadyProducer(t, c.Cluster, r.src, threeNodeParts, rate)

	kinds := []string{"kill leader", "bounce leader", "kill txn coordinator", "bounce txn coordinator",
		"kill group coordinator", "bounce group coordinator", "kill any node", "pause a node", "kill the bridge", "zombie bridge"}
	counts := map[string]int{}
	deadline := began.Add(duration)
	for n := 1; time.Now().Before(deadline); n++ {
		kind := kinds[rng.IntN(len(kinds))]
		start := time.Now()
		detail := ""
		switch kind {
		case "kill leader", "bounce leader", "kill txn coordinator", "bounce txn coordinator", "kill group coordinator", "bounce group coordinator", "kill any node":
			var node int32
			switch {
			case strings.HasSuffix(kind, "leader"):
				node = c.Leader(t, r.src, int32(rng.IntN(threeNodeParts)))
			case strings.HasSuffix(kind, "txn coordinator"):
				node = r.target(t, roleTxnCoord)
			case strings.HasSuffix(kind, "group coordinator"):
				node = r.target(t, roleGroupCoor)
			default:
				node = int32(1 + rng.IntN(3))
			}
			groupCoord := r.target(t, roleGroupCoor)
			if strings.HasPrefix(kind, "kill") {
				c.Kill(t, node)
			} else {
				c.Stop(t, node)
			}
			// Down for 0-15 s more, copying.
			time.Sleep(time.Duration(rng.IntN(15_000)) * time.Millisecond)
			c.Start(t, node)
			detail = fmt.Sprintf("node %d (group coordinator: node %d)", node, groupCoord)
		case "pause a node":
			node := int32(1 + rng.IntN(3))
			pause := time.Duration(2_000+rng.IntN(20_000)) * time.Millisecond
			c.Pause(t, node)
			time.Sleep(pause)
			c.Resume(t, node)
			detail = fmt.Sprintf("node %d for %s", node, pause.Round(time.Millisecond))
		case "kill the bridge":
			br.mu.Lock()
			_ = br.cmd.Process.Signal(syscall.SIGKILL)
			br.mu.Unlock()
		case "zombie bridge":
			frozenFor := chaosZombie(t, r, br, rng)
			detail = fmt.Sprintf("frozen %s", frozenFor.Round(time.Second))
		}
		counts[kind]++
		// Recovered: every node up and in sync, and the bridge copying.
		c.WaitHealthy(t)
		r.waitCommitted(t, r.committed(t)+rate, watchdogStall+3*time.Minute, br)
		t.Logf("fault %d: %s %s; recovered after %s (bridge restarts so far: %d)", n, kind, detail, time.Since(start).Round(time.Millisecond), br.exits())
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
	}
	produced := live.stop(t)
	r.waitCaughtUp(t, watchdogStall+5*time.Minute, br)
	hung := wd.check(t)
	stopBridge(t, br)
	rep := checkCopy(t, c.Cluster, r.src, r.dst, threeNodeParts)
	total := 0
	var summary []string
	for _, k := range kinds {
		total += counts[k]
		summary = append(summary, fmt.Sprintf("%s: %d", k, counts[k]))
	}
	t.Logf("RESULT chaos duration=%s faults=%d (%s) records=%d (backlog %d, live %d) %s bridge-restarts=%d watchdog-restarts=%d %v seed=%d",
		time.Since(began).Round(time.Second), total, strings.Join(summary, ", "), rep.Source, threeNodeBacklog, produced, rep, br.exits(), len(hung), hung, seed)
	rep.assertExact(t)
}

// chaosZombie freezes the supervised bridge, starts a successor with its
// instance id, lets it copy, then thaws the zombie: the zombie must exit
// fenced; its supervisor's restart in turn fences the successor.
func chaosZombie(t *testing.T, r *threeNodeRig, br *supervisedMirror, rng *rand.Rand) time.Duration {
	t.Helper()
	br.mu.Lock()
	zombie := br.cmd
	br.mu.Unlock()
	if err := zombie.Process.Signal(syscall.SIGSTOP); err != nil {
		return 0 // it just exited; the supervisor restarts it
	}
	frozenAt := time.Now()
	successor := mirrorProcess(t, r.c.Cluster, r.mapFile, r.mirrorArgs()...)
	done := make(chan error, 1)
	go func() { done <- successor.Wait() }()
	r.waitCommitted(t, r.committed(t)+1000, 2*time.Minute, nil)
	// Frozen for 5-75 s: some shorter, some longer than the transaction
	// timeout.
	frozenFor := time.Duration(5_000+rng.IntN(70_000)) * time.Millisecond
	for time.Since(frozenAt) < frozenFor {
		time.Sleep(200 * time.Millisecond)
	}
	restarts := br.exits()
	frozen := time.Since(frozenAt)
	_ = zombie.Process.Signal(syscall.SIGCONT)
	// The zombie exits (fenced) and is restarted by its supervisor, whose
	// new process fences the successor in turn.
	deadline := time.Now().Add(2 * time.Minute)
	for br.exits() == restarts {
		if time.Now().After(deadline) {
			t.Fatalf("the zombie bridge did not exit within 2 minutes of SIGCONT\n%s", br.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = successor.Process.Kill()
		<-done
		t.Logf("the successor was still running 2 minutes after the zombie's restart; killed")
	}
	return frozen
}

// stopBridge stops the supervised bridge with SIGTERM, which must end it
// with exit status 0.
func stopBridge(t *testing.T, br *supervisedMirror) {
	t.Helper()
	err := br.stop()
	switch {
	case err == nil:
	case sigtermDuringRefresh(br.tail()):
		t.Logf("KNOWN (bridge): SIGTERM during a route refresh ended the bridge with %v instead of exit status 0", err)
	default:
		t.Errorf("the bridge did not stop cleanly on SIGTERM: %v\n%s", err, br.tail())
	}
}

// sigtermDuringRefresh recognises a known bridge bug, logged rather than
// failed: a SIGTERM that lands while the bridge re-reads its routes
// cancels the describe call, and the bridge exits 1 with "routes: cannot
// reach Kafka ... context canceled" instead of 0 (bridge.loop returns the
// error of refreshRoutes without checking whether ctx was cancelled).
// docs/reliability.md.
func sigtermDuringRefresh(out string) bool {
	return strings.Contains(out, "routes: cannot reach Kafka") && strings.Contains(out, "context canceled")
}

// stacks makes the current bridge process print its goroutines and exit
// (SIGQUIT), and returns them: for a bridge that stopped copying.
func (s *supervisedMirror) stacks() string {
	s.mu.Lock()
	cmd, exited := s.cmd, s.failed
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return err.Error()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.exits() == exited {
		if time.Now().After(deadline) {
			return "(no exit 10 s after SIGQUIT)"
		}
		time.Sleep(50 * time.Millisecond)
	}
	return lastLinesOf(cmd.Stderr, 400)
}

// watchdogStall is how long the supervised bridge may commit nothing while
// the old topic holds records it has not copied before the watchdog
// restarts it.
const watchdogStall = 60 * time.Second

// watchdog restarts a supervised bridge that stopped copying, as a
// liveness probe on progress would. It makes the process print its
// goroutines first (SIGQUIT, which also ends it; the supervisor starts it
// again) and records where it hung. The bridge itself gives up a client
// call that blocks past its transaction timeout (bridge.HungError, seen
// in rd_kafka_send_offsets_to_transaction after its group coordinator
// left the metadata: confluentinc/librdkafka#5511, #5456;
// docs/reliability.md) and exits, so a restart by the watchdog means a
// hang the bridge did not catch: it fails the test, unless
// THREE_NODE_LENIENT_LIVENESS=1 (then it is logged).
type watchdog struct {
	mu    sync.Mutex
	kills []string
	stopc chan struct{}
	done  chan struct{}
}

func (r *threeNodeRig) startWatchdog(t *testing.T, br *supervisedMirror) *watchdog {
	t.Helper()
	cons, err := kafka.NewConsumer(r.c.ConfigMap(kafka.ConfigMap{"group.id": r.group, "enable.auto.commit": false, "isolation.level": "read_committed", "log_level": 0}))
	if err != nil {
		t.Fatal(err)
	}
	w := &watchdog{stopc: make(chan struct{}), done: make(chan struct{})}
	tps := make([]kafka.TopicPartition, threeNodeParts)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: &r.src, Partition: int32(p)}
	}
	go func() {
		defer close(w.done)
		defer cons.Close()
		last, lastProgress := int64(-1), time.Now()
		for {
			select {
			case <-w.stopc:
				return
			case <-time.After(time.Second):
			}
			res, err := cons.Committed(tps, 5000)
			if err != nil {
				continue
			}
			var committed, end int64
			behind := false
			for _, tp := range res {
				committed += max(int64(tp.Offset), 0)
				_, high, err := cons.QueryWatermarkOffsets(r.src, tp.Partition, 5000)
				if tp.Error != nil || err != nil {
					behind, end = true, -1 // unknown: assume behind
					continue
				}
				if high > max(int64(tp.Offset), 0) {
					behind = true
				}
				if end >= 0 {
					end += high
				}
			}
			if committed != last || !behind {
				last, lastProgress = committed, time.Now()
				continue
			}
			if time.Since(lastProgress) < watchdogStall {
				continue
			}
			where := hungAt(br.stacks())
			w.mu.Lock()
			w.kills = append(w.kills, where)
			w.mu.Unlock()
			t.Logf("LIVENESS: the bridge committed nothing for %s at %d offsets copied (of %d; -1: unknown); restarted it (it hung in %s)", watchdogStall, committed, end, where)
			lastProgress = time.Now()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop stops the watchdog and returns where each bridge it restarted had
// hung.
func (w *watchdog) stop() []string {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.kills)
}

// check fails the test on a watchdog restart unless THREE_NODE_LENIENT_LIVENESS=1.
func (w *watchdog) check(t *testing.T) []string {
	t.Helper()
	kills := w.stop()
	if len(kills) > 0 && os.Getenv("THREE_NODE_LENIENT_LIVENESS") != "1" {
		t.Errorf("the watchdog restarted a bridge that had stopped copying %d time(s): %v", len(kills), kills)
	}
	return kills
}

var (
	cgoCallRE     = regexp.MustCompile(`_Cfunc_(rd_kafka_\w+)`)
	bridgeFrameRE = regexp.MustCompile(`/(bridge/\w+\.go:\d+)`)
)

// hungAt names the librdkafka call and the bridge line a goroutine dump
// shows goroutine 1 (the copy loop) in.
func hungAt(dump string) string {
	if i := strings.Index(dump, "goroutine 1 "); i >= 0 {
		dump = dump[i:]
		if j := strings.Index(dump[1:], "\ngoroutine "); j >= 0 {
			dump = dump[:j+1]
		}
	}
	where := []string{}
	if m := cgoCallRE.FindStringSubmatch(dump); m != nil {
		where = append(where, m[1])
	}
	if m := bridgeFrameRE.FindStringSubmatch(dump); m != nil {
		where = append(where, m[1])
	}
	if len(where) == 0 {
		return "an unknown place (no goroutine dump)"
	}
	return strings.Join(where, " at ")
}

// committed is the sum of the bridge group's committed offsets on the old
// topic (what the bridge has copied and committed, transaction by
// transaction), retrying for a minute while its coordinator moves.
func (r *threeNodeRig) committed(t *testing.T) int64 {
	t.Helper()
	offsets, err := r.committedOffsets(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}

// committedOffsets reads the bridge group's committed offsets on the old
// topic, partition by partition (-1: none yet). It asks with a consumer of
// the group that never joins it, not with the admin client:
// ListConsumerGroupOffsets crashes librdkafka (a NULL consumer group
// handle in rd_kafka_handle_OffsetFetch, confluentinc/librdkafka#5040) when
// the coordinator answers NOT_COORDINATOR, which it does while it moves.
func (r *threeNodeRig) committedOffsets(timeout time.Duration) ([]int64, error) {
	tps := make([]kafka.TopicPartition, threeNodeParts)
	for p := range tps {
		tps[p] = kafka.TopicPartition{Topic: &r.src, Partition: int32(p)}
	}
	deadline := time.Now().Add(timeout)
	for {
		res, err := r.offsets.Committed(tps, 10_000)
		if err == nil {
			out := make([]int64, threeNodeParts)
			for _, tp := range res {
				if tp.Error != nil {
					err = tp.Error
					break
				}
				out[tp.Partition] = int64(tp.Offset)
			}
			if err == nil {
				return out, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("committed offsets of group %s: %w", r.group, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// downProgressTimeout bounds the wait for the bridge to copy with a node
// down.
const downProgressTimeout = 30 * time.Second

// committedWithin reports whether the bridge group committed at least n
// offsets on the old topic within timeout.
func (r *threeNodeRig) committedWithin(t *testing.T, n int64, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for r.committed(t) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// waitCommitted waits until the bridge group has committed at least n
// offsets on the old topic.
func (r *threeNodeRig) waitCommitted(t *testing.T, n int64, timeout time.Duration, br *supervisedMirror) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.committed(t)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			tail := ""
			if br != nil {
				tail = br.tail() + "\n--- its goroutines:\n" + br.stacks()
			}
			t.Fatalf("the bridge committed %d of the old topic's offsets, not %d, within %s\n%s", got, n, timeout, tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCaughtUp waits until the bridge group's committed offset is the end
// of every partition of the old topic: everything is copied and
// committed.
func (r *threeNodeRig) waitCaughtUp(t *testing.T, timeout time.Duration, br *supervisedMirror) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		behind := ""
		offsets, err := r.committedOffsets(10 * time.Second)
		if err != nil {
			behind = err.Error()
		}
		for p := int32(0); p < threeNodeParts && behind == ""; p++ {
			_, high, err := r.offsets.QueryWatermarkOffsets(r.src, p, 10000)
			if err != nil {
				behind = err.Error()
			} else if got := offsets[p]; got < high {
				behind = fmt.Sprintf("partition %d: committed %d of %d", p, got, high)
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			tail := ""
			if br != nil {
				tail = br.tail()
			}
			t.Fatalf("the bridge did not catch up within %s: %s\n%s", timeout, behind, tail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// recordValue is the value of record i of a partition: a readable prefix,
// then pseudo-random bytes (any byte value) up to valueSize.
func recordValue(kind string, p, i int) []byte {
	v := fmt.Appendf(make([]byte, 0, valueSize), "%s/%d/%d/", kind, p, i)
	rng := rand.New(rand.NewPCG(uint64(p)<<32|uint64(i), uint64(len(kind))))
	for len(v) < valueSize {
		v = append(v, byte(rng.Uint32()))
	}
	return v
}

// produceValues writes n records spread over the partitions, idempotently.
func produceValues(t *testing.T, c *kafkatest.Cluster, topic string, partitions int, kind string, n int) {
	t.Helper()
	msgs := make([]*kafka.Message, 0, n)
	for i := 0; i < n; i++ {
		p := i % partitions
		msgs = append(msgs, &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(p)},
			Key:            fmt.Appendf(nil, "key-%d", i%17),
			Value:          recordValue(kind, p, i),
		})
	}
	c.Produce(t, msgs...)
}

// steadyProducer writes records at a steady rate until stopped, with an
// idempotent producer (acks=all) that retries through leader changes.
type steadyProducer struct {
	p                   *kafka.Producer
	stopc, done         chan struct{}
	acked, failed, sent atomic.Int64
	lastErr             atomic.Value
}

func startSteadyProducer(t *testing.T, c *kafkatest.Cluster, topic string, partitions, rate int) *steadyProducer {
	t.Helper()
	// linger.ms 50: an idempotent librdkafka producer (2.11) lingering 5 ms
	// polls in a busy loop, half a core at this rate on a 2-core machine.
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"enable.idempotence": true, "linger.ms": 50, "log_level": 0}))
	if err != nil {
		t.Fatal(err)
	}
	sp := &steadyProducer{p: p, stopc: make(chan struct{}), done: make(chan struct{})}
	reports := make(chan kafka.Event, 10_000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range reports {
			m := ev.(*kafka.Message)
			if m.TopicPartition.Error != nil {
				sp.failed.Add(1)
				sp.lastErr.Store(m.TopicPartition.Error.Error())
			} else {
				sp.acked.Add(1)
			}
		}
	}()
	go func() {
		defer close(sp.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(rate/100, 1)
		for i := 0; ; {
			select {
			case <-sp.stopc:
				for p.Flush(1000) > 0 && sp.acked.Load()+sp.failed.Load() < sp.sent.Load() {
				}
				close(reports)
				wg.Wait()
				return
			case <-tick.C:
			}
			for j := 0; j < perTick; j, i = j+1, i+1 {
				part := i % partitions
				err := p.Produce(&kafka.Message{
					TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(part)},
					Key:            fmt.Appendf(nil, "key-%d", i%17),
					Value:          recordValue("live", part, i),
				}, reports)
				if err != nil {
					sp.failed.Add(1)
					sp.lastErr.Store(err.Error())
					continue
				}
				sp.sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-sp.stopc:
		default:
			close(sp.stopc)
		}
		<-sp.done
		p.Close()
	})
	return sp
}

// stop stops producing, waits for every delivery report and returns how
// many records were acknowledged. A record that failed is not in the old
// topic, so the copy check is unaffected, but it is reported.
func (sp *steadyProducer) stop(t *testing.T) int {
	t.Helper()
	close(sp.stopc)
	select {
	case <-sp.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the steady producer's deliveries did not finish within 5 minutes")
	}
	if n := sp.failed.Load(); n > 0 {
		t.Logf("the steady producer had %d failed deliveries (last: %v)", n, sp.lastErr.Load())
	}
	return int(sp.acked.Load())
}

// copyReport is what checkCopy found.
type copyReport struct {
	Source     int // records in the old topic
	Copies     int // records in the new topic (committed)
	Lost       int // source records without a copy
	Duplicated int // copies beyond the first of a source record
	Reordered  int // copies whose origin offset is not above the previous copy's (per partition)
	Altered    int // copies whose key or value differs from the source record's
	Foreign    int // copies without an origin in the old topic's same partition
}

func (r copyReport) String() string {
	return fmt.Sprintf("copies=%d lost=%d duplicated=%d reordered=%d altered=%d foreign=%d",
		r.Copies, r.Lost, r.Duplicated, r.Reordered, r.Altered, r.Foreign)
}

func (r copyReport) assertExact(t *testing.T) {
	t.Helper()
	if r.Lost != 0 || r.Duplicated != 0 || r.Reordered != 0 || r.Altered != 0 || r.Foreign != 0 || r.Copies != r.Source {
		t.Errorf("the copy is not exact: %d source records, %s", r.Source, r)
	}
}

// checkCopy reads the old and the new topic completely (read_committed)
// and checks, per partition, that every source record has exactly one
// copy whose X-Migrator-Origin names it, that the copies' origin offsets
// rise strictly (the order is kept), and that each copy's key and value
// are the source's, byte for byte.
func checkCopy(t *testing.T, c *kafkatest.Cluster, src, dst string, parts int) copyReport {
	t.Helper()
	var rep copyReport
	type record struct {
		key, value []byte
		keyNil     bool
	}
	for p := int32(0); p < int32(parts); p++ {
		var offsets []int64
		var records []record
		err := c.ScanPartition(src, p, "read_committed", func(m *kafka.Message) error {
			offsets = append(offsets, int64(m.TopicPartition.Offset))
			records = append(records, record{key: m.Key, value: m.Value, keyNil: m.Key == nil})
			return nil
		})
		if err != nil {
			t.Fatalf("read %s/%d: %v", src, p, err)
		}
		rep.Source += len(records)
		seen := make([]int, len(records))
		last := int64(-1)
		err = c.ScanPartition(dst, p, "read_committed", func(m *kafka.Message) error {
			rep.Copies++
			o, ok := bridge.OriginOf(m.Headers)
			if !ok || o.Topic != src || o.Partition != p {
				rep.Foreign++
				return nil
			}
			if o.Offset <= last {
				rep.Reordered++
			}
			last = o.Offset
			i := sort.Search(len(offsets), func(i int) bool { return offsets[i] >= o.Offset })
			if i == len(offsets) || offsets[i] != o.Offset {
				rep.Foreign++
				return nil
			}
			if seen[i]++; seen[i] > 1 {
				rep.Duplicated++
			}
			want := records[i]
			if !bytes.Equal(m.Value, want.value) || !bytes.Equal(m.Key, want.key) || (m.Key == nil) != want.keyNil {
				rep.Altered++
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read %s/%d: %v", dst, p, err)
		}
		for _, n := range seen {
			if n == 0 {
				rep.Lost++
			}
		}
	}
	return rep
}

// TestCheckCopyCatchesFaults runs the checker on copies made wrong on
// purpose (on kfake): a lost, a duplicated, a reordered, an altered and a
// foreign copy are each counted.
func TestCheckCopyCatchesFaults(t *testing.T) {
	c := kafkatest.NewFake(t)
	const src, dst = "check.old_name.v1", "check.new.name.v1"
	c.CreateTopic(t, src, 1, nil)
	c.CreateTopic(t, dst, 1, nil)
	produceValues(t, c, src, 1, "backlog", 6)
	source := c.ReadPartition(t, src, 0)
	topic := dst
	copyOf := func(i int, value []byte) *kafka.Message {
		m := source[i]
		if value == nil {
			value = m.Value
		}
		return &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
			Key:            m.Key, Value: value,
			Headers: []kafka.Header{{Key: bridge.HeaderOrigin, Value: []byte(bridge.Origin{Topic: src, Partition: 0, Offset: int64(m.TopicPartition.Offset)}.String())}},
		}
	}
	foreign := copyOf(5, nil)
	foreign.Headers = nil
	// 0, 2, 1 (reordered), 2 (a duplicate), 3 altered, no 4 (lost), 5 without an origin.
	c.Produce(t, copyOf(0, nil), copyOf(2, nil), copyOf(1, nil), copyOf(2, nil), copyOf(3, []byte("other")), foreign)
	got := checkCopy(t, c, src, dst, 1)
	want := copyReport{Source: 6, Copies: 6, Lost: 2, Duplicated: 1, Reordered: 1, Altered: 1, Foreign: 1}
	if got != want { // lost: 4, and 5, whose only copy has no origin
		t.Errorf("checkCopy = %+v, want %+v", got, want)
	}
}
