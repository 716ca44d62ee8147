package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
)

// CreateTopic creates a topic and waits until it is usable.
func (c *Cluster) CreateTopic(t testing.TB, name string, partitions int, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Admin(t)
	res, err := cl.CreateTopics(ctx, []admin.TopicSpec{{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: configs}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res[name] != nil {
		t.Fatal(res[name])
	}
	if err := cl.WaitForTopics(ctx, []string{name}, true); err != nil {
		t.Fatal(err)
	}
}

// Produce writes msgs (their TopicPartition.Topic must be set) with an
// idempotent producer and waits for every delivery report.
func (c *Cluster) Produce(t testing.TB, msgs ...*kafka.Message) []kafka.TopicPartition {
	t.Helper()
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"enable.idempotence": true, "linger.ms": 5, "queue.buffering.max.messages": 2_000_000, "message.max.bytes": 10_000_000}))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	reports := make(chan kafka.Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, reports); err != nil {
			t.Fatalf("produce to %v: %v", m.TopicPartition, err)
		}
	}
	out := make([]kafka.TopicPartition, 0, len(msgs))
	timeout := time.After(60 * time.Second)
	for range msgs {
		select {
		case ev := <-reports:
			m := ev.(*kafka.Message)
			if m.TopicPartition.Error != nil {
				t.Fatalf("delivery to %v: %v", m.TopicPartition, m.TopicPartition.Error)
			}
			out = append(out, m.TopicPartition)
		case <-timeout:
			t.Fatalf("no delivery report within 60s")
		}
	}
	return out
}

// ReadPartition reads every record of one partition from the start up to
// its high watermark (read_committed), in offset order.
func (c *Cluster) ReadPartition(t testing.TB, topic string, partition int32) []*kafka.Message {
	t.Helper()
	msgs, err := c.readPartition(topic, partition)
	if err != nil {
		t.Fatalf("read %s/%d: %v", topic, partition, err)
	}
	return msgs
}

func (c *Cluster) readPartition(topic string, partition int32) ([]*kafka.Message, error) {
	cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{
		"group.id":             "kafkatest-reader",
		"enable.auto.commit":   false,
		"isolation.level":      "read_committed",
		"enable.partition.eof": true,
		"fetch.wait.max.ms":    10,
	}))
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	defer cons.Close()
	low, high, err := cons.QueryWatermarkOffsets(topic, partition, 10000)
	if err != nil {
		return nil, fmt.Errorf("watermarks: %w", err)
	}
	if high <= low {
		return nil, nil
	}
	tp := kafka.TopicPartition{Topic: &topic, Partition: partition, Offset: kafka.Offset(low)}
	if err := cons.Assign([]kafka.TopicPartition{tp}); err != nil {
		return nil, fmt.Errorf("assign: %w", err)
	}
	var out []*kafka.Message
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			if int64(ev.TopicPartition.Offset) >= high {
				// Written after the end was read (the offsets before it
				// were a transaction's markers): not this read's.
				return out, nil
			}
			out = append(out, ev)
			if int64(ev.TopicPartition.Offset) >= high-1 {
				return out, nil
			}
		case kafka.PartitionEOF:
			return out, nil
		case kafka.Error:
			if ev.IsFatal() {
				return nil, ev
			}
		}
	}
	return nil, fmt.Errorf("read stopped at %d records of up to %d: %w", len(out), high-low, ctx.Err())
}

// CommitOffsets commits offsets of topic's partitions for group, as an
// operator's tool would, retrying while the group coordinator is not
// ready (on a fresh broker the first commit creates __consumer_offsets,
// and Kafka answers it with a partition error, not a request error).
func (c *Cluster) CommitOffsets(t testing.TB, group, topic string, offsets map[int32]int64) {
	t.Helper()
	var tps []kafka.TopicPartition
	for p, o := range offsets {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	cl := c.Admin(t)
	// The first commit on a cluster creates __consumer_offsets (50
	// partitions, three replicas each on a three-node cluster), which on a
	// loaded machine has taken more than a minute: each attempt is bounded
	// and retried, within two minutes.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := cl.Kafka().AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
		cancel()
		if err == nil {
			for _, g := range res.ConsumerGroupsTopicPartitions {
				for _, tp := range g.Partitions {
					if tp.Error != nil && err == nil {
						err = tp.Error
					}
				}
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit offsets of group %s on %s: %v", group, topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// OpenTransaction returns a transactional producer with id whose
// transaction has begun and holds msgs, flushed to the brokers but neither
// committed nor aborted: for the tests of what an open transaction hides
// from read_committed readers. The producer is closed when the test ends.
func (c *Cluster) OpenTransaction(t testing.TB, id string, msgs ...*kafka.Message) *kafka.Producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"transactional.id": id, "go.delivery.reports": false}))
	if err != nil {
		t.Fatalf("transactional producer %s: %v", id, err)
	}
	t.Cleanup(p.Close)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init transactions of %s: %v", id, err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction of %s: %v", id, err)
	}
	for _, m := range msgs {
		if err := p.Produce(m, nil); err != nil {
			t.Fatalf("produce to %v in transaction %s: %v", m.TopicPartition, id, err)
		}
	}
	if left := p.Flush(10_000); left != 0 {
		t.Fatalf("%d records of transaction %s not flushed", left, id)
	}
	return p
}
