package kafkatest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestCoordinatorPartition checks the Java hash against values Java
// computed ("s".hashCode(), Utils.abs, % 50 and % 6), including a hash of
// Integer.MIN_VALUE, non-ASCII text and a surrogate pair.
func TestCoordinatorPartition(t *testing.T) {
	for _, c := range []struct {
		key         string
		mod50, mod6 int32
	}{
		{"topic-migrator-bridge", 21, 1},
		{"topic-migrator-bridge-faults3", 30, 4},
		{"é-ü-日本", 40, 0},
		{"polygenelubricants", 0, 0}, // hashCode() == Integer.MIN_VALUE
		{"", 0, 0},
		{"aaaaaa", 14, 4},
		{"x😀y", 10, 2},
	} {
		if got := CoordinatorPartition(c.key, 50); got != c.mod50 {
			t.Errorf("CoordinatorPartition(%q, 50) = %d, want %d", c.key, got, c.mod50)
		}
		if got := CoordinatorPartition(c.key, 6); got != c.mod6 {
			t.Errorf("CoordinatorPartition(%q, 6) = %d, want %d", c.key, got, c.mod6)
		}
	}
}

// TestCluster3Roles checks the three ways of finding a node against the
// brokers' own answers: the coordinator of a group and of a transactional
// id as FindCoordinator names it, and the leaders the metadata lists.
func TestCluster3Roles(t *testing.T) {
	c := NewCluster3(t)
	const topic = "roles.records.v1"
	c.CreateTopic(t, topic, 3, nil)
	leaders := map[int32]bool{}
	for p := int32(0); p < 3; p++ {
		leaders[c.Leader(t, topic, p)] = true
	}
	if len(leaders) < 2 {
		t.Errorf("3 partitions led by %v: the cluster does not spread leaders", leaders)
	}

	// A transaction makes __transaction_state; a commit, __consumer_offsets.
	const txnID, group = "roles-txn", "roles-group"
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"transactional.id": txnID}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	c.CommitOffsets(t, group, topic, map[int32]int64{0: 0})

	for _, k := range []struct {
		key     string
		keyType int8
		got     func() int32
	}{
		{txnID, 1, func() int32 { return c.TransactionCoordinator(t, txnID) }},
		{group, 0, func() int32 { return c.GroupCoordinator(t, group) }},
		{"never-used-group", 0, func() int32 { return c.GroupCoordinator(t, "never-used-group") }},
	} {
		want, err := findCoordinator(c.Nodes[0].Addr, k.key, k.keyType)
		if err != nil {
			t.Fatalf("FindCoordinator(%q): %v", k.key, err)
		}
		if got := k.got(); got != want {
			t.Errorf("coordinator of %q = node %d, the broker says %d", k.key, got, want)
		}
	}
}

// TestCluster3Faults kills, bounces and pauses nodes of the cluster while
// a producer writes with acks=all: each wait returns on its event, the
// leaderships move, and every record acknowledged is there afterwards.
func TestCluster3Faults(t *testing.T) {
	c := NewCluster3(t)
	const topic = "faults.records.v1"
	c.CreateTopic(t, topic, 3, nil)
	// A request in flight to the paused node is given up after
	// socket.timeout.ms (a minute by default), then sent to the new leader.
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"enable.idempotence": true, "linger.ms": 5, "socket.timeout.ms": 10000}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	acked, name := 0, topic
	produce := func(n int) {
		t.Helper()
		reports := make(chan kafka.Event, n)
		for i := 0; i < n; i++ {
			tp := kafka.TopicPartition{Topic: &name, Partition: int32(i % 3)}
			if err := p.Produce(&kafka.Message{TopicPartition: tp, Value: fmt.Appendf(nil, "%d", acked+i)}, reports); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			m := (<-reports).(*kafka.Message)
			if m.TopicPartition.Error != nil {
				t.Fatalf("delivery with one node down: %v", m.TopicPartition.Error)
			}
		}
		acked += n
	}
	produce(300)

	leader := c.Leader(t, topic, 0)
	start := time.Now()
	c.Kill(t, leader)
	t.Logf("node %d killed: fenced and its leaderships moved after %s", leader, time.Since(start).Round(time.Millisecond))
	if got := c.Leader(t, topic, 0); got == leader {
		t.Fatalf("partition 0 still led by the killed node %d", leader)
	}
	if slices.Contains(c.Running(), leader) {
		t.Errorf("node %d still running after Kill", leader)
	}
	produce(300) // two of three in sync: min.insync.replicas=2 holds
	start = time.Now()
	c.Start(t, leader)
	t.Logf("node %d restarted and back in every ISR after %s", leader, time.Since(start).Round(time.Millisecond))

	coord := c.GroupCoordinator(t, "faults-group")
	start = time.Now()
	c.Bounce(t, coord)
	t.Logf("node %d bounced in %s", coord, time.Since(start).Round(time.Millisecond))
	produce(300)

	paused := c.Leader(t, topic, 1)
	c.Pause(t, paused)
	start = time.Now()
	c.WaitGone(t, paused) // no heartbeats: the controller fences it
	t.Logf("node %d paused: fenced after %s", paused, time.Since(start).Round(time.Millisecond))
	produce(300)
	start = time.Now()
	c.Resume(t, paused)
	t.Logf("node %d resumed: back in every ISR after %s", paused, time.Since(start).Round(time.Millisecond))
	c.WaitHealthy(t)

	n := 0
	for part := int32(0); part < 3; part++ {
		n += len(c.ReadPartition(t, topic, part))
	}
	if n != acked {
		t.Errorf("%d records in the topic, %d acknowledged", n, acked)
	}
}

// TestCluster3OwnCluster starts a cluster of the test's own, as a test that
// needs one apart from the shared one would.
func TestCluster3OwnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three JVMs")
	}
	c := StartCluster3(t)
	if len(c.Running()) != 3 {
		t.Fatalf("running nodes %v, want 3", c.Running())
	}
	c.CreateTopic(t, "own.records.v1", 3, nil)
}

// findCoordinator asks the broker at addr which node coordinates key
// (keyType 0: a group, 1: a transactional id), with a FindCoordinator v1
// request written by hand: confluent-kafka-go has no call for it.
func findCoordinator(addr, key string, keyType int8) (int32, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		node, code, err := findCoordinatorOnce(addr, key, keyType)
		if err != nil {
			return 0, err
		}
		// 15 COORDINATOR_NOT_AVAILABLE, 14 COORDINATOR_LOAD_IN_PROGRESS: retriable.
		if code == 0 {
			return node, nil
		}
		if (code != 15 && code != 14) || time.Now().After(deadline) {
			return 0, fmt.Errorf("error code %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func findCoordinatorOnce(addr, key string, keyType int8) (int32, int16, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	const clientID = "kafkatest"
	var body []byte
	body = binary.BigEndian.AppendUint16(body, 10) // api key FindCoordinator
	body = binary.BigEndian.AppendUint16(body, 1)  // version 1
	body = binary.BigEndian.AppendUint32(body, 42) // correlation id
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	body = append(body, clientID...)
	body = binary.BigEndian.AppendUint16(body, uint16(len(key)))
	body = append(body, key...)
	body = append(body, byte(keyType))
	req := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := conn.Write(append(req, body...)); err != nil {
		return 0, 0, err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return 0, 0, fmt.Errorf("FindCoordinator v1 response: %w", err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		return 0, 0, err
	}
	// correlation id, throttle_time_ms, error_code, error_message, node_id, host, port
	if len(resp) < 12 || binary.BigEndian.Uint32(resp) != 42 {
		return 0, 0, fmt.Errorf("short or foreign response %x", resp)
	}
	code := int16(binary.BigEndian.Uint16(resp[8:]))
	rest := resp[10:]
	if l := int16(binary.BigEndian.Uint16(rest)); l > 0 {
		rest = rest[2+int(l):]
	} else {
		rest = rest[2:]
	}
	if len(rest) < 4 {
		return 0, 0, fmt.Errorf("short response %x", resp)
	}
	return int32(binary.BigEndian.Uint32(rest)), code, nil
}
