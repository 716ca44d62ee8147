package kafkatest

// A three-node real Kafka cluster for fault tests: find the node that
// leads a partition or coordinates a transactional id or a group, then
// kill it (SIGKILL), bounce it (SIGTERM and start), or pause it (SIGSTOP,
// SIGCONT). Every wait is on an event the cluster reports (a node gone
// from the metadata, leadership moved, a node back in every ISR), with a
// deadline; never a fixed sleep.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
)

// Environment variables naming the cluster scripts/kafka-up.sh --nodes 3
// started (scripts/test.sh and make test-faults3 start one and set both).
const (
	// EnvCluster3Bootstrap is the cluster's three client addresses.
	EnvCluster3Bootstrap = "KAFKA_CLUSTER3_BOOTSTRAP"
	// EnvCluster3Dir is its state dir: the file "nodes" and a directory
	// per node with its pid file and command line.
	EnvCluster3Dir = "KAFKA_CLUSTER3_DIR"
)

// Topic names Kafka keeps the coordinators' state in.
const (
	offsetsTopic     = "__consumer_offsets"
	transactionTopic = "__transaction_state"
)

// Node is one node (broker and controller) of a Cluster3.
type Node struct {
	ID   int32
	Addr string // host:port of its client listener
	Dir  string // its state dir: server.properties, data, logs, kafka.pid, cmdline
	args []string
	// cmd is the process when this package started it (after a stop), so
	// that it is reaped when it exits.
	cmd *exec.Cmd
}

// Cluster3 is a real Kafka cluster of three combined broker+controller
// nodes (replication factor 3, min.insync.replicas 2) started by
// scripts/kafka-up.sh --nodes 3, whose nodes a test may kill, stop, start
// and pause.
type Cluster3 struct {
	*Cluster
	// Dir is the cluster's state dir.
	Dir   string
	Nodes []*Node // by id: Nodes[i].ID == i+1

	mu     sync.Mutex
	paused map[int32]bool
	ka     *kafka.AdminClient
}

// NewCluster3 returns the cluster named by KAFKA_CLUSTER3_BOOTSTRAP and
// KAFKA_CLUSTER3_DIR with every node running and in every ISR (a node an
// earlier test left stopped or paused is started or resumed), after
// deleting every topic on it and every consumer group without members
// (wipe). It skips the test
// when they are unset, and fails it instead when KAFKA_REQUIRE_REAL=1.
// Tests using it must not run in parallel (they share the cluster), nor
// may two packages use it at once (go test -p 1).
func NewCluster3(t testing.TB) *Cluster3 {
	t.Helper()
	bootstrap, dir := os.Getenv(EnvCluster3Bootstrap), os.Getenv(EnvCluster3Dir)
	if bootstrap == "" || dir == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			t.Fatalf("%s and %s are not set but %s=1: start a cluster with scripts/kafka-up.sh --nodes 3 (make test and make test-faults3 do)", EnvCluster3Bootstrap, EnvCluster3Dir, EnvRequireReal)
		}
		t.Skipf("3-node Kafka: %s and %s are not set (make test and make test-faults3 start a cluster)", EnvCluster3Bootstrap, EnvCluster3Dir)
	}
	c, err := openCluster3(bootstrap, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	c.Heal(t)
	c.wipe(t)
	return c
}

// wipe deletes every non-internal topic and every group that can be
// deleted, after checking the cluster is one the tests started (mayWipe).
// Unlike Cluster.reset it does not wait for a static member of an earlier
// test's group to time out: the fault tests name their groups apart.
func (c *Cluster3) wipe(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Admin(t)
	if err := mayWipe(ctx, cl); err != nil {
		t.Fatalf("3-node cluster at %s: %v", c.Bootstrap, err)
	}
	ka := cl.Kafka()
	if groups, err := ka.ListConsumerGroups(ctx); err == nil && len(groups.Valid) > 0 {
		var ids []string
		for _, g := range groups.Valid {
			ids = append(ids, g.GroupID)
		}
		_, _ = ka.DeleteConsumerGroups(ctx, ids) // a group with a member left is kept
	}
	topics, err := c.topics(ka)
	if err != nil {
		t.Fatalf("wipe: %v", err)
	}
	if len(topics) == 0 {
		return
	}
	res, err := ka.DeleteTopics(ctx, topics)
	if err != nil {
		t.Fatalf("wipe: delete topics: %v", err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrUnknownTopicOrPart {
			t.Fatalf("wipe: delete topic %q: %v", r.Topic, r.Error)
		}
	}
	c.waitFor(t, time.Minute, "deleted topics gone from the metadata", func(md *kafka.Metadata) (bool, string) {
		for _, name := range topics {
			if _, ok := md.Topics[name]; ok {
				return false, name + " still listed"
			}
		}
		return true, ""
	})
}

// StartCluster3 starts a three-node cluster of the test's own on free
// ports with scripts/kafka-up.sh --nodes 3, stopped when the test ends.
// Like StartBroker it is skipped when the environment has no real Kafka
// (neither KAFKA_BOOTSTRAP_SERVERS nor KAFKA_CLUSTER3_BOOTSTRAP set), and
// fails instead when KAFKA_REQUIRE_REAL=1.
func StartCluster3(t testing.TB) *Cluster3 {
	t.Helper()
	if os.Getenv(EnvBootstrap) == "" && os.Getenv(EnvCluster3Bootstrap) == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			t.Fatalf("neither %s nor %s is set but %s=1", EnvBootstrap, EnvCluster3Bootstrap, EnvRequireReal)
		}
		t.Skipf("own 3-node cluster: no real Kafka in this environment (%s unset; make test starts one)", EnvBootstrap)
	}
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePorts(t, 6)
	cmd := exec.Command(filepath.Join(repo, "scripts", "kafka-up.sh"), "--nodes", "3")
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+strconv.Itoa(port), "KAFKA_STATE_DIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(repo, "scripts", "kafka-down.sh"))
		down.Env = append(os.Environ(), "KAFKA_STATE_DIR="+dir)
		_ = down.Run()
	})
	if err != nil {
		t.Fatalf("start own 3-node cluster: %v\n%s", err, stderr.String())
	}
	var bootstrap string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if v, ok := strings.CutPrefix(line, EnvCluster3Bootstrap+"="); ok {
			bootstrap = v
		}
	}
	if bootstrap == "" {
		t.Fatalf("kafka-up.sh --nodes 3 printed no %s:\n%s", EnvCluster3Bootstrap, out)
	}
	c, err := openCluster3(bootstrap, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	c.WaitHealthy(t)
	return c
}

// openCluster3 reads the nodes of the cluster whose state dir is dir.
func openCluster3(bootstrap, dir string) (*Cluster3, error) {
	c := &Cluster3{Cluster: &Cluster{Kind: Real, Bootstrap: bootstrap}, Dir: dir, paused: map[int32]bool{}}
	f, err := os.Open(filepath.Join(dir, "nodes"))
	if err != nil {
		return nil, fmt.Errorf("3-node cluster at %s: %w (is %s the state dir of scripts/kafka-up.sh --nodes 3?)", bootstrap, err, dir)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			continue
		}
		id, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s/nodes: %q: %w", dir, sc.Text(), err)
		}
		raw, err := os.ReadFile(filepath.Join(fields[3], "cmdline"))
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", id, err)
		}
		n := &Node{ID: int32(id), Addr: fields[1], Dir: fields[3], args: strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")}
		if int(n.ID) != len(c.Nodes)+1 {
			return nil, fmt.Errorf("%s/nodes: node %d out of order", dir, n.ID)
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(c.Nodes) != 3 {
		return nil, fmt.Errorf("%s/nodes lists %d nodes, want 3", dir, len(c.Nodes))
	}
	ka, err := kafka.NewAdminClient(c.ConfigMap(kafka.ConfigMap{
		// Find a restarted node again quickly, and give up soon on a
		// paused one (it accepts connections but answers nothing):
		// librdkafka would otherwise keep asking it for the metadata
		// until the default socket timeout of a minute.
		"reconnect.backoff.max.ms": 1000,
		"socket.timeout.ms":        3000,
		// It watches nodes die: connection errors are expected.
		"log_level": 0,
	}))
	if err != nil {
		return nil, fmt.Errorf("admin client for %s: %w", bootstrap, err)
	}
	c.ka = ka
	return c, nil
}

func (c *Cluster3) close() {
	if c.ka != nil {
		c.ka.Close()
	}
}

// Node returns the node with id.
func (c *Cluster3) Node(id int32) *Node {
	if id < 1 || int(id) > len(c.Nodes) {
		panic(fmt.Sprintf("kafkatest: no node %d", id))
	}
	return c.Nodes[id-1]
}

// CreateTopic creates a topic replicated on all three nodes (the cluster's
// default replication factor and min.insync.replicas 2) and waits until
// every partition has a leader and all three replicas in sync. It shadows
// Cluster.CreateTopic, which makes single-replica topics.
func (c *Cluster3) CreateTopic(t testing.TB, name string, partitions int, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Admin(t)
	res, err := cl.CreateTopics(ctx, []admin.TopicSpec{{Name: name, Partitions: partitions, ReplicationFactor: 3, Configs: configs}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res[name] != nil {
		t.Fatal(res[name])
	}
	c.waitFor(t, time.Minute, "topic "+name+" fully replicated", func(md *kafka.Metadata) (bool, string) {
		tm, ok := md.Topics[name]
		if !ok || tm.Error.Code() != kafka.ErrNoError || len(tm.Partitions) != partitions {
			return false, "not in the metadata yet"
		}
		for _, p := range tm.Partitions {
			if p.Leader < 0 || len(p.Isrs) != 3 {
				return false, fmt.Sprintf("partition %d: leader %d, ISR %v", p.ID, p.Leader, p.Isrs)
			}
		}
		return true, ""
	})
}

// metadata is the cluster's metadata (all topics, internal ones too).
func (c *Cluster3) metadata() (*kafka.Metadata, error) {
	return c.ka.GetMetadata(nil, true, 5000)
}

// waitFor polls the metadata until ready says so, failing the test after
// timeout with what ready said last.
func (c *Cluster3) waitFor(t testing.TB, timeout time.Duration, what string, ready func(md *kafka.Metadata) (bool, string)) {
	t.Helper()
	if err := c.waitForErr(timeout, what, ready, t.Logf); err != nil {
		t.Fatal(err)
	}
}

// waitForErr polls the metadata until ready says so, or fails after
// timeout; every 20 s it logs (when logf is set) what it still waits for.
func (c *Cluster3) waitForErr(timeout time.Duration, what string, ready func(md *kafka.Metadata) (bool, string), logf func(string, ...any)) error {
	start := time.Now()
	deadline := start.Add(timeout)
	nextLog := start.Add(20 * time.Second)
	last := ""
	for {
		if logf != nil && time.Now().After(nextLog) {
			logf("3-node cluster: %s: still waiting after %s (%s)", what, time.Since(start).Round(time.Second), last)
			nextLog = nextLog.Add(20 * time.Second)
		}
		md, err := c.metadata()
		if err == nil {
			var ok bool
			if ok, last = ready(md); ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("3-node cluster: %s: not within %s (%s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Leader returns the node leading a partition (by the metadata), waiting
// up to 30 s for the partition to have one.
func (c *Cluster3) Leader(t testing.TB, topic string, partition int32) int32 {
	t.Helper()
	var leader int32 = -1
	c.waitFor(t, 30*time.Second, fmt.Sprintf("a leader of %s/%d", topic, partition), func(md *kafka.Metadata) (bool, string) {
		leader = leaderOf(md, topic, partition)
		return leader > 0, fmt.Sprintf("leader %d", leader)
	})
	return leader
}

func leaderOf(md *kafka.Metadata, topic string, partition int32) int32 {
	for _, p := range md.Topics[topic].Partitions {
		if p.ID == partition {
			return p.Leader
		}
	}
	return -1
}

// TransactionCoordinator returns the node coordinating transactionalID:
// the leader of its partition of __transaction_state, the partition Kafka
// picks by the Java hash of the id (TransactionStateManager.partitionFor).
// It waits up to 30 s for the topic (made on the first transaction) to
// have that leader.
func (c *Cluster3) TransactionCoordinator(t testing.TB, transactionalID string) int32 {
	t.Helper()
	return c.coordinatorByHash(t, transactionTopic, transactionalID)
}

// GroupCoordinator returns the node coordinating group: the leader of the
// group's partition of __consumer_offsets (by the Java hash of the group
// id, as Kafka's group coordinator picks it), from the metadata alone.
// It does not ask DescribeConsumerGroups: librdkafka's admin requests to a
// group coordinator that is moving crashed the test process (an assertion
// in rd_kafka_enq_once_del_source_return; ListConsumerGroupOffsets:
// confluentinc/librdkafka#5040). TestCluster3Roles checks the answer
// against the broker's own FindCoordinator.
func (c *Cluster3) GroupCoordinator(t testing.TB, group string) int32 {
	t.Helper()
	return c.coordinatorByHash(t, offsetsTopic, group)
}

// CoordinatorPartition is the partition of Kafka's internal topic with
// the given partition count that holds the state of key (a group id or a
// transactional id): Utils.abs(key.hashCode()) % partitions, with Java's
// String.hashCode over UTF-16 code units.
func CoordinatorPartition(key string, partitions int) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(key)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 { // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
		h = 0
	}
	if h < 0 {
		h = -h
	}
	return h % int32(partitions)
}

func (c *Cluster3) coordinatorByHash(t testing.TB, topic, key string) int32 {
	t.Helper()
	var leader int32 = -1
	c.waitFor(t, 30*time.Second, fmt.Sprintf("the coordinator of %q (a leader in %s)", key, topic), func(md *kafka.Metadata) (bool, string) {
		tm, ok := md.Topics[topic]
		if !ok || len(tm.Partitions) == 0 {
			return false, topic + " does not exist yet"
		}
		leader = leaderOf(md, topic, CoordinatorPartition(key, len(tm.Partitions)))
		return leader > 0, fmt.Sprintf("leader %d", leader)
	})
	return leader
}

// pid is the node's JVM, from its pid file.
func (n *Node) pid() (int, error) {
	raw, err := os.ReadFile(filepath.Join(n.Dir, "kafka.pid"))
	if err != nil {
		return 0, fmt.Errorf("node %d: %w", n.ID, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// running reports whether the node's JVM is alive (a zombie is not: the
// test container's init may never reap a killed node).
func (n *Node) running() bool {
	pid, err := n.pid()
	if err != nil || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) STATE ...; comm may hold spaces or parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	if s[i+2] == 'Z' || s[i+2] == 'X' {
		return false
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(cmdline, []byte(filepath.Join(n.Dir, "server.properties")))
}

func (c *Cluster3) signal(t testing.TB, id int32, sig syscall.Signal) int {
	t.Helper()
	n := c.Node(id)
	pid, err := n.pid()
	if err != nil {
		t.Fatal(err)
	}
	if !n.running() {
		t.Fatalf("node %d (pid %d) is not running", id, pid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("node %d: %v: %v", id, sig, err)
	}
	return pid
}

// waitExit waits until the node's JVM has exited.
func (c *Cluster3) waitExit(t testing.TB, id int32, timeout time.Duration) {
	t.Helper()
	n := c.Node(id)
	deadline := time.Now().Add(timeout)
	for n.running() {
		if time.Now().After(deadline) {
			t.Fatalf("node %d still running %s after it was told to stop", id, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills a node with SIGKILL, then waits until the cluster has fenced
// it: it is gone from the metadata and leads no partition that has
// another replica in sync (unclean leader election is off, so a partition
// whose only in-sync replica it was stays without a leader).
func (c *Cluster3) Kill(t testing.TB, id int32) {
	t.Helper()
	c.signal(t, id, syscall.SIGKILL)
	c.setPaused(id, false)
	c.waitExit(t, id, 30*time.Second)
	c.WaitGone(t, id)
}

// Stop stops a node cleanly (SIGTERM: a controlled shutdown that moves its
// leaderships first) and waits until it has exited and is gone from the
// metadata.
func (c *Cluster3) Stop(t testing.TB, id int32) {
	t.Helper()
	pid := c.signal(t, id, syscall.SIGTERM)
	if c.isPaused(id) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		c.setPaused(id, false)
	}
	c.waitExit(t, id, 90*time.Second)
	c.WaitGone(t, id)
}

// Bounce stops a node cleanly and starts it again (Stop, then Start).
func (c *Cluster3) Bounce(t testing.TB, id int32) {
	t.Helper()
	c.Stop(t, id)
	c.Start(t, id)
}

// Pause stops a node's JVM with SIGSTOP: it holds its sockets open and
// answers nothing, as a node in a long GC pause or on a frozen VM.
func (c *Cluster3) Pause(t testing.TB, id int32) {
	t.Helper()
	c.signal(t, id, syscall.SIGSTOP)
	c.setPaused(id, true)
}

// Resume continues a paused node (SIGCONT) and waits until it is back in
// every ISR it belongs to.
func (c *Cluster3) Resume(t testing.TB, id int32) {
	t.Helper()
	c.signal(t, id, syscall.SIGCONT)
	c.setPaused(id, false)
	c.WaitInSync(t, id)
}

func (c *Cluster3) setPaused(id int32, p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused[id] = p
}

func (c *Cluster3) isPaused(id int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[id]
}

// WaitGone waits until a node is gone from the metadata (fenced, or shut
// down) and leads no partition any other in-sync replica could lead.
func (c *Cluster3) WaitGone(t testing.TB, id int32) {
	t.Helper()
	c.waitFor(t, 90*time.Second, fmt.Sprintf("node %d gone from the metadata and its leaderships moved", id), func(md *kafka.Metadata) (bool, string) {
		for _, b := range md.Brokers {
			if b.ID == id {
				return false, "still listed as a broker"
			}
		}
		for name, tm := range md.Topics {
			for _, p := range tm.Partitions {
				if p.Leader == id && slices.ContainsFunc(p.Isrs, func(r int32) bool { return r != id }) {
					return false, fmt.Sprintf("still leads %s/%d (ISR %v)", name, p.ID, p.Isrs)
				}
			}
		}
		return true, ""
	})
}

// Start starts a stopped or killed node again on its data and waits until
// it is back in the metadata and in the ISR of every partition it
// replicates.
func (c *Cluster3) Start(t testing.TB, id int32) {
	t.Helper()
	if err := c.start(id); err != nil {
		t.Fatal(err)
	}
	c.WaitInSync(t, id)
}

func (c *Cluster3) start(id int32) error {
	n := c.Node(id)
	if n.running() {
		return fmt.Errorf("node %d is already running", id)
	}
	logf, err := os.OpenFile(filepath.Join(n.Dir, "logs", "kafka.out"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = n.Dir, logf, logf
	// Its own session, as kafka-up.sh starts it: a signal to the test's
	// process group does not reach it, and kafka-down.sh stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node %d: %w", id, err)
	}
	n.cmd = cmd
	go func() { _ = cmd.Wait() }() // Reap it when it exits.
	return os.WriteFile(filepath.Join(n.Dir, "kafka.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

// WaitInSync waits until a node is listed in the metadata and is in the
// ISR of every partition it replicates (the internal topics' too).
func (c *Cluster3) WaitInSync(t testing.TB, id int32) {
	t.Helper()
	if err := c.waitInSync(id, 3*time.Minute, t.Logf); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster3) waitInSync(id int32, timeout time.Duration, logf func(string, ...any)) error {
	return c.waitForErr(timeout, fmt.Sprintf("node %d back in the metadata and in every ISR", id), func(md *kafka.Metadata) (bool, string) {
		if !slices.ContainsFunc(md.Brokers, func(b kafka.BrokerMetadata) bool { return b.ID == id }) {
			return false, "not listed as a broker"
		}
		for name, tm := range md.Topics {
			for _, p := range tm.Partitions {
				if slices.Contains(p.Replicas, id) && !slices.Contains(p.Isrs, id) {
					return false, fmt.Sprintf("not in the ISR of %s/%d (%v)", name, p.ID, p.Isrs)
				}
			}
		}
		return true, ""
	}, logf)
}

// WaitHealthy waits until all three nodes are in the metadata and every
// partition has a leader and all its replicas in sync.
func (c *Cluster3) WaitHealthy(t testing.TB) {
	t.Helper()
	if err := c.waitHealthy(3*time.Minute, t.Logf); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster3) waitHealthy(timeout time.Duration, logf func(string, ...any)) error {
	return c.waitForErr(timeout, "all three nodes up and every replica in sync", func(md *kafka.Metadata) (bool, string) {
		if len(md.Brokers) != len(c.Nodes) {
			return false, fmt.Sprintf("%d brokers listed", len(md.Brokers))
		}
		for name, tm := range md.Topics {
			for _, p := range tm.Partitions {
				if p.Leader < 0 || len(p.Isrs) != len(p.Replicas) {
					return false, fmt.Sprintf("%s/%d: leader %d, replicas %v, ISR %v", name, p.ID, p.Leader, p.Replicas, p.Isrs)
				}
			}
		}
		return true, ""
	}, logf)
}

// Heal resumes a paused node and starts a stopped one (a test that failed
// half-way may leave either), then waits until the cluster is healthy.
func (c *Cluster3) Heal(t testing.TB) {
	t.Helper()
	for _, n := range c.Nodes {
		if n.running() {
			if pid, err := n.pid(); err == nil {
				_ = syscall.Kill(pid, syscall.SIGCONT) // a no-op unless it is paused
			}
			c.setPaused(n.ID, false)
			continue
		}
		t.Logf("3-node cluster: node %d is not running; starting it", n.ID)
		if err := c.start(n.ID); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitHealthy(t)
}

// Running reports which nodes' processes are alive.
func (c *Cluster3) Running() []int32 {
	var out []int32
	for _, n := range c.Nodes {
		if n.running() {
			out = append(out, n.ID)
		}
	}
	return out
}

// ScanPartition reads every record of one partition from its start to
// its end (the last stable offset when isolation is read_committed) and
// calls fn for each, in offset order, without holding them all: for
// partitions too large for ReadPartition.
func (c *Cluster) ScanPartition(topic string, partition int32, isolation string, fn func(*kafka.Message) error) error {
	cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{
		"group.id":             "kafkatest-scanner",
		"enable.auto.commit":   false,
		"isolation.level":      isolation,
		"enable.partition.eof": true,
		"fetch.wait.max.ms":    10,
	}))
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer cons.Close()
	low, high, err := cons.QueryWatermarkOffsets(topic, partition, 10000)
	if err != nil {
		return fmt.Errorf("watermarks of %s/%d: %w", topic, partition, err)
	}
	if high <= low {
		return nil
	}
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: partition, Offset: kafka.Offset(low)}}); err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	// Stalled is measured from the last record: a large partition may take
	// longer than any fixed bound to read.
	last := time.Now()
	for time.Since(last) < time.Minute {
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			last = time.Now()
			if ev.TopicPartition.Error != nil {
				return ev.TopicPartition.Error
			}
			if int64(ev.TopicPartition.Offset) >= high {
				return nil // written after the end was read
			}
			if err := fn(ev); err != nil {
				return err
			}
			if int64(ev.TopicPartition.Offset) >= high-1 {
				return nil
			}
		case kafka.PartitionEOF:
			return nil
		case kafka.Error:
			if ev.IsFatal() {
				return ev
			}
		}
	}
	return fmt.Errorf("read of %s/%d stalled for a minute", topic, partition)
}

// freePorts returns a port p such that p..p+n-1 are all free on
// 127.0.0.1. They are picked below the kernel's ephemeral range (the
// default starts at 32768), from which a port net.Listen(":0") returned
// would be taken again by any outgoing connection before the broker binds
// it.
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(12000-n)
		ok := true
		for j := 0; j < n && ok; j++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+j))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatalf("no %d free consecutive ports in 20000-32000", n)
	return 0
}
