package lifecycle_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// fixture is a rename map over a cluster, with a state file and two clocks
// the test sets: the state's (when phases change, so when a window
// starts) and the Env's (what the steps take for now).
type fixture struct {
	c   *kafkatest.Cluster
	env *lifecycle.Env

	mu                sync.Mutex
	stateNow, stepNow time.Time
}

// newFixture parses mapYAML and opens a state file; both clocks start at
// the current time, truncated to the second.
func newFixture(t *testing.T, c *kafkatest.Cluster, mapYAML string) *fixture {
	t.Helper()
	m, err := plan.ParseRenameMap("map.yaml", []byte(mapYAML))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	f := &fixture{c: c, stateNow: now, stepNow: now}
	st := openStore(t, c, m, state.Options{Now: f.stateClock, Actor: "tester@test"})
	f.env = &lifecycle.Env{Admin: c.Admin(t), Store: st, Map: m, Command: "test", BridgeGroup: "bridge-test",
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: f.stepClock}
	return f
}

func (f *fixture) stateClock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.stateNow }
func (f *fixture) stepClock() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.stepNow }

// setClocks sets the state's clock and the steps' clock.
func (f *fixture) setClocks(stateNow, stepNow time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stateNow, f.stepNow = stateNow, stepNow
}

// setStepClock sets the clock the steps see.
func (f *fixture) setStepClock(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stepNow = now
}

// source creates an old topic that keeps its records.
func (f *fixture) source(t *testing.T, topic string, partitions int) {
	t.Helper()
	f.c.CreateTopic(t, topic, partitions, map[string]string{"retention.ms": "-1"})
}

// produce writes n records to topic's partition p, each with its own key,
// value and headers (tag tells batches apart), and returns them with the
// offsets they were written at, in offset order.
func (f *fixture) produce(t *testing.T, topic string, p int32, n int, tag string) []*kafka.Message {
	t.Helper()
	msgs := make([]*kafka.Message, n)
	at := time.Now().Truncate(time.Millisecond)
	for i := range msgs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p},
			Key:       []byte(fmt.Sprintf("%s-key-%d-%d", tag, p, i)),
			Value:     []byte(fmt.Sprintf(`{"event_id":"%s-%d-%d","data":{"n":%d}}`, tag, p, i, i)),
			Headers:   []kafka.Header{{Key: "trace", Value: []byte{byte(p), byte(i), 0xff}}},
			Timestamp: at,
		}
		if i%11 == 3 {
			m.Key = nil
		}
		msgs[i] = m
	}
	for i, tp := range f.c.Produce(t, msgs...) {
		// One producer, one partition: reports come in offset order.
		msgs[i].TopicPartition = tp
		if i > 0 && tp.Offset <= msgs[i-1].TopicPartition.Offset {
			t.Fatalf("delivery reports out of order: %v after %v", tp, msgs[i-1].TopicPartition)
		}
	}
	return msgs
}

// applied applies the renames (all when none is named) and fails the test
// unless each was created.
func (f *fixture) applied(t *testing.T, renames ...string) {
	t.Helper()
	res, err := lifecycle.Apply(context.Background(), f.env, lifecycle.ApplyOptions{Renames: renames})
	if err != nil || res.Failed() > 0 {
		t.Fatalf("apply %v: %v %+v", renames, err, res)
	}
}

// mirror runs the forward bridge, in the Env's bridge group, over the map
// (limited to renames when given) until it has copied everything written
// so far, in transactions of 7 records so that the copies' offsets drift
// from the source's by the transaction markers.
func (f *fixture) mirror(t *testing.T, renames ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	routes := &lifecycle.MapRoutes{Map: f.env.Map, Admin: f.env.Admin, Store: f.env.Store, Only: renames, Command: "test mirror", Log: f.env.Log}
	err := bridge.Run(ctx, bridge.Options{Client: f.c.Config(), Group: f.env.BridgeGroup, InstanceID: "fixture", UntilCaughtUp: true, OneOff: true,
		Admin: f.env.Admin, Routes: routes, Headers: bridge.HeaderPolicy{Enrich: true}, MaxBatchRecords: 7, Refresh: time.Hour, Log: f.env.Log})
	if err != nil {
		t.Fatalf("mirror %v: %v", renames, err)
	}
}

// record is the rename's state record.
func (f *fixture) record(t *testing.T, from string) state.Rename {
	t.Helper()
	rec, found, err := f.env.Store.Rename(context.Background(), from)
	if err != nil || !found {
		t.Fatalf("state record of %s: found %v, %v", from, found, err)
	}
	return *rec
}

// offsets are group's committed offsets, topic → partition → offset.
func (f *fixture) offsets(t *testing.T, group string) map[string]map[int32]int64 {
	t.Helper()
	offs, err := f.env.Admin.GroupOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// topicExists reports whether topic is on the cluster.
func (f *fixture) topicExists(t *testing.T, topic string) bool {
	t.Helper()
	ok, err := f.env.Admin.TopicExists(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// recordAt returns the record of topic/p at exactly offset, nil when
// there is none (past the end, or a transaction marker), and the offset
// after the partition's last record.
func (f *fixture) recordAt(t *testing.T, topic string, p int32, offset int64) (*kafka.Message, int64) {
	t.Helper()
	var next int64
	var found *kafka.Message
	for _, m := range f.c.ReadPartition(t, topic, p) {
		if int64(m.TopicPartition.Offset) == offset {
			found = m
		}
		next = int64(m.TopicPartition.Offset) + 1
	}
	return found, next
}

// ends are topic's end offsets (high watermarks), by partition.
func (f *fixture) ends(t *testing.T, topic string) []int64 {
	t.Helper()
	snap, err := f.env.Admin.Describe(context.Background(), admin.DescribeOptions{Deep: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Topics[topic] == nil || snap.Topics[topic].Offsets == nil {
		t.Fatalf("%s does not exist", topic)
	}
	return snap.Topics[topic].Offsets.Latest
}

// sameRecord fails unless cp is a copy of src, byte for byte: key, value,
// timestamp, and src's headers in order besides those the bridge adds.
func sameRecord(t *testing.T, what string, src, cp *kafka.Message) {
	t.Helper()
	switch {
	case src == nil || cp == nil:
		t.Errorf("%s: source %s, copy %s; want both", what, describe(src), describe(cp))
	default:
		if d := recordDiff(src, cp); d != "" {
			t.Errorf("%s: %s is no copy of %s: %s", what, describe(cp), describe(src), d)
		}
	}
}

// describe names a record by its position, "none" for nil.
func describe(m *kafka.Message) string {
	if m == nil {
		return "none"
	}
	return fmt.Sprintf("%s/%d@%d", *m.TopicPartition.Topic, m.TopicPartition.Partition, m.TopicPartition.Offset)
}

// activeConsumer starts a consumer of topic in group that joins, commits
// the first record it reads and goes on polling until the test ends.
func activeConsumer(t *testing.T, c *kafkatest.Cluster, group, clientID, topic string) {
	t.Helper()
	cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{"group.id": group, "client.id": clientID,
		"auto.offset.reset": "earliest", "enable.auto.commit": false}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Subscribe(topic, nil); err != nil {
		cons.Close()
		t.Fatal(err)
	}
	ready, stop, done := make(chan error, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer cons.Close()
		deadline := time.Now().Add(30 * time.Second)
		committed := false
		for {
			select {
			case <-stop:
				return
			default:
			}
			ev := cons.Poll(50)
			if committed {
				continue
			}
			if m, ok := ev.(*kafka.Message); ok {
				if _, err := cons.CommitMessage(m); err != nil {
					ready <- fmt.Errorf("commit: %w", err)
					<-stop
					return
				}
				committed = true
				ready <- nil
				continue
			}
			if time.Now().After(deadline) {
				ready <- fmt.Errorf("consumer %s read nothing of %s within 30s", clientID, topic)
				<-stop
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
}
