package bridge

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// fakeLanes is a bridge whose lanes run jobs with run instead of a
// producer, over partitions t/0 (lane 0, committed at 10), t/1 (lane 1,
// nothing committed) and t/2 (lane 0, committed at 100).
func fakeLanes(t *testing.T, run func(l *lane, j *job)) *Bridge {
	t.Helper()
	b := &Bridge{opts: Options{ShutdownTimeout: time.Second}, log: slog.New(slog.NewTextHandler(t.Output(), nil)), epoch: 1,
		assigned: map[partitionKey]*progress{}, jobRunner: run}
	for i := range 2 {
		b.lanes = append(b.lanes, &lane{id: i, inbox: make(chan *job, 1), exited: make(chan struct{})})
	}
	b.assigned[partitionKey{"t", 0}] = &progress{next: 10, known: true, end: 1000, lane: 0, sent: -1, first: -1}
	b.assigned[partitionKey{"t", 1}] = &progress{end: 1000, lane: 1, sent: -1, first: -1}
	b.assigned[partitionKey{"t", 2}] = &progress{next: 100, known: true, end: 1000, lane: 0, sent: -1, first: -1}
	b.startLanes()
	t.Cleanup(func() { b.stopLanes(time.Second) })
	return b
}

func records(partition int32, from, n int) []*kafka.Message {
	topic := "t"
	out := make([]*kafka.Message, n)
	for i := range out {
		out[i] = &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition, Offset: kafka.Offset(from + i)}}
	}
	return out
}

// commitFake records a job's records as committed, as a lane does.
func commitFake(b *Bridge, j *job) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range j.records {
		p := b.assigned[partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}]
		p.next, p.known = int64(m.TopicPartition.Offset)+1, true
	}
}

// within fails the test when f does not return in time: no wait of the
// poll loop may depend on a signal nothing sends.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// TestLostGenerationRewindsToFirstUncommitted: lane 0 commits its first
// job and loses the generation in its second; its third, already queued,
// must be skipped, not copied past the gap. Lane 1 loses its first job
// with nothing committed. Once every lane is quiet, the rewind targets are
// each partition's first uncommitted record, and the next epoch's jobs
// run again.
func TestLostGenerationRewindsToFirstUncommitted(t *testing.T) {
	var (
		mu  sync.Mutex
		ran []string
		b   *Bridge
	)
	b = fakeLanes(t, func(l *lane, j *job) {
		first := j.records[0].TopicPartition
		name := fmt.Sprintf("lane%d:%d@%d/epoch%d", l.id, first.Partition, first.Offset, j.epoch)
		mu.Lock()
		ran = append(ran, name)
		mu.Unlock()
		switch {
		case j.epoch == 1 && l.id == 0 && first.Offset == 15, j.epoch == 1 && l.id == 1:
			j.lost = true
		default:
			commitFake(b, j)
		}
	})
	within(t, "dispatch", func() {
		b.dispatch(append(append(records(0, 10, 5), records(1, 20, 5)...), records(2, 100, 5)...))
		b.dispatch(append(append(records(0, 15, 5), records(1, 25, 5)...), records(2, 105, 5)...))
		b.dispatch(append(records(0, 20, 5), records(2, 110, 5)...))
	})
	within(t, "quiesce", func() {
		if err := b.quiesce(); err != nil {
			t.Error(err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"lane0:0@10/epoch1", "lane0:0@15/epoch1", "lane1:1@20/epoch1"}
	if fmt.Sprint(sorted(ran)) != fmt.Sprint(want) {
		t.Errorf("jobs run %v, want %v (the jobs queued behind a lost one skipped)", sorted(ran), want)
	}
	if !b.rewindPending {
		t.Fatal("no rewind pending after a lost generation")
	}
	got := b.rewindTargets()
	if s := fmt.Sprint(describePartitions(got)); s != "[t/0@15 t/1@20 t/2@105]" {
		t.Errorf("rewind targets %s, want [t/0@15 t/1@20 t/2@105]", s)
	}
	for k, p := range b.assigned {
		if p.inflight != 0 || p.sent != -1 {
			t.Errorf("%v: inflight %d, sent %d after the rewind", k, p.inflight, p.sent)
		}
	}
	mu.Unlock()
	// The next epoch copies again, from the rewound offsets.
	within(t, "dispatch after the rewind", func() {
		b.dispatch(append(records(0, 15, 10), records(1, 20, 10)...))
		if err := b.quiesce(); err != nil {
			t.Error(err)
		}
	})
	if p := b.assigned[partitionKey{"t", 0}]; p.next != 25 {
		t.Errorf("t/0 committed to %d after the rewind, want 25", p.next)
	}
	if p := b.assigned[partitionKey{"t", 1}]; p.next != 30 || !p.known {
		t.Errorf("t/1 committed to %d (known %v) after the rewind, want 30", p.next, p.known)
	}
	if b.rewindPending {
		t.Error("a rewind still pending after the next epoch committed")
	}
	mu.Lock()
}

// TestDispatchWaitsOnFullLanesWithoutHanging: with every lane's inbox full
// and a lane that fails, dispatch keeps taking results back and returns,
// and the failure surfaces as the lanes' error.
func TestDispatchWaitsOnFullLanesWithoutHanging(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int, 100)
	var b *Bridge
	b = fakeLanes(t, func(l *lane, j *job) {
		started <- l.id
		<-release
		if l.id == 1 {
			j.err = fmt.Errorf("lane 1 broke")
			return
		}
		commitFake(b, j)
	})
	go func() {
		// Both lanes busy (and then their inboxes fill) before any job ends.
		<-started
		<-started
		close(release)
	}()
	within(t, "dispatch into full lanes", func() {
		for i := range 5 {
			b.dispatch(append(records(0, 10+5*i, 5), records(1, 5*i, 5)...))
		}
	})
	var err error
	within(t, "quiesce", func() { err = b.quiesce() })
	if err == nil || err.Error() != "lane 1 broke" {
		t.Fatalf("quiesce returned %v, want lane 1's error", err)
	}
	if p := b.assigned[partitionKey{"t", 0}]; p.next != 35 {
		t.Errorf("t/0 committed to %d, want 35", p.next)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
