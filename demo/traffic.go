package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/plan"
)

// TrafficOptions shape the traffic generator.
type TrafficOptions struct {
	Client clientconfig.Config
	// Map gives the partition-key contracts.
	Map *plan.RenameMap
	// Topics are the events to write, each to its topic.
	Topics []topicmigrator.EventTopic
	// Interval is the pause between two records of the steady stream,
	// which visits the topics in turn (default 25ms: 40 records/s).
	Interval time.Duration
	// Seed makes the generated ids reproducible.
	Seed uint64
	Log  *slog.Logger
}

// Traffic plays HuleEdu's producers: one idempotent producer writing event
// envelopes to every topic, first a backlog, then a steady stream. A
// topic's producers can be paused and redirected to its new name, as a
// deploy of new producers would.
type Traffic struct {
	opts     TrafficOptions
	gen      *Generator
	producer *kafka.Producer
	reports  chan kafka.Event

	mu sync.Mutex
	// dest is where each fixture topic's producers write now; "" while
	// paused.
	dest     map[string]string
	inflight map[string]int
	acked    map[string]int64
	failed   error
	next     int

	started  bool
	stop     chan struct{}
	stopOnce sync.Once
	closed   sync.Once
	closeErr error
	done     chan struct{}
	drained  chan struct{}
}

// NewTraffic connects the producer; nothing is written before Backlog or
// Start.
func NewTraffic(opts TrafficOptions) (*Traffic, error) {
	if opts.Interval <= 0 {
		opts.Interval = 25 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	cm, err := opts.Client.ConfigMap(kafka.ConfigMap{
		"client.id": "huleedu-demo-traffic", "enable.idempotence": true, "acks": "all", "linger.ms": 5, "log_level": 3,
	})
	if err != nil {
		return nil, err
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, opts.Client.ScrubError(fmt.Errorf("traffic producer: %w", err))
	}
	t := &Traffic{
		opts: opts, gen: NewGenerator(opts.Map, opts.Seed), producer: p, reports: make(chan kafka.Event, 1024),
		dest: map[string]string{}, inflight: map[string]int{}, acked: map[string]int64{},
		stop: make(chan struct{}), done: make(chan struct{}), drained: make(chan struct{}),
	}
	for _, et := range opts.Topics {
		t.dest[et.Topic] = et.Topic
	}
	go t.readReports()
	go t.drainEvents()
	return t, nil
}

// readReports counts delivery reports per topic.
func (t *Traffic) readReports() {
	defer close(t.drained)
	for ev := range t.reports {
		m, ok := ev.(*kafka.Message)
		if !ok {
			continue
		}
		topic := *m.TopicPartition.Topic
		t.mu.Lock()
		t.inflight[topic]--
		if err := m.TopicPartition.Error; err != nil {
			if t.failed == nil {
				t.failed = fmt.Errorf("write to %s: %w", topic, err)
			}
		} else {
			t.acked[topic]++
		}
		t.mu.Unlock()
	}
}

// drainEvents logs the producer's own errors.
func (t *Traffic) drainEvents() {
	for ev := range t.producer.Events() {
		if e, ok := ev.(kafka.Error); ok {
			t.opts.Log.Debug("traffic producer", "err", e)
		}
	}
}

// produceLocked writes one record of et to where its producers write now;
// t.mu is held.
func (t *Traffic) produceLocked(et topicmigrator.EventTopic) error {
	topic := t.dest[et.Topic]
	if topic == "" {
		return nil
	}
	now := time.Now()
	r, err := t.gen.Record(et, topic, now)
	if err != nil {
		return err
	}
	err = t.producer.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &r.Topic, Partition: kafka.PartitionAny},
		Key:            r.Key, Value: r.Value, Headers: r.Headers, Timestamp: now,
	}, t.reports)
	if err != nil {
		return fmt.Errorf("write to %s: %w", topic, err)
	}
	t.inflight[topic]++
	return nil
}

// Backlog writes perTopic records to every topic and waits until the
// cluster has acknowledged them.
func (t *Traffic) Backlog(ctx context.Context, perTopic int) error {
	t.mu.Lock()
	for range perTopic {
		for _, et := range t.opts.Topics {
			if err := t.produceLocked(et); err != nil {
				t.mu.Unlock()
				return err
			}
		}
	}
	t.mu.Unlock()
	return t.wait(ctx, func() bool {
		for _, n := range t.inflight {
			if n > 0 {
				return false
			}
		}
		return true
	})
}

// Start begins the steady stream: one record every Interval, the topics
// in turn, until Close.
func (t *Traffic) Start() {
	t.mu.Lock()
	t.started = true
	t.mu.Unlock()
	go func() {
		defer close(t.done)
		tick := time.NewTicker(t.opts.Interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			t.mu.Lock()
			et := t.opts.Topics[t.next%len(t.opts.Topics)]
			t.next++
			err := t.produceLocked(et)
			if err != nil && t.failed == nil {
				t.failed = err
			}
			t.mu.Unlock()
		}
	}()
}

// Pause stops writing to topic and waits until every record already
// written to it is acknowledged: its end offsets then stay put.
func (t *Traffic) Pause(ctx context.Context, topic string) error {
	t.mu.Lock()
	dest, ok := t.dest[topic]
	if !ok {
		t.mu.Unlock()
		return fmt.Errorf("traffic: no producers of %s", topic)
	}
	t.dest[topic] = ""
	t.mu.Unlock()
	if dest == "" {
		return nil
	}
	return t.wait(ctx, func() bool { return t.inflight[dest] <= 0 })
}

// Redirect makes topic's producers write to to from now on (resuming them
// if paused), as when services are deployed with the new topic name.
func (t *Traffic) Redirect(topic, to string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dest[topic] = to
}

// Written returns how many records the cluster acknowledged on topic.
func (t *Traffic) Written(topic string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked[topic]
}

// Err returns the first write that failed, if any.
func (t *Traffic) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// wait polls cond (under t.mu) until it holds, a write fails or ctx ends.
func (t *Traffic) wait(ctx context.Context, cond func() bool) error {
	for {
		t.mu.Lock()
		ok, failed := cond(), t.failed
		t.mu.Unlock()
		switch {
		case failed != nil:
			return failed
		case ok:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("traffic: waiting for acknowledgements: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops the stream, waits up to 10s for outstanding writes and
// closes the producer. It returns the first failed write, if any.
func (t *Traffic) Close() error {
	t.closed.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *Traffic) close() error {
	t.stopOnce.Do(func() { close(t.stop) })
	t.mu.Lock()
	started := t.started
	t.mu.Unlock()
	if started {
		<-t.done
	}
	var err error
	if n := t.producer.Flush(10_000); n > 0 {
		err = fmt.Errorf("traffic: %d record(s) not acknowledged when stopping", n)
	}
	t.producer.Close()
	close(t.reports)
	<-t.drained
	return errors.Join(t.Err(), err)
}
