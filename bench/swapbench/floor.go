package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bench/benchkafka"
)

// floorCopy is the floor the stop is measured against: the least a
// librdkafka program must do to copy topic into a fresh topic of the same
// partitions, partition for partition: read every committed record (key,
// value, headers, timestamp) and produce it with acks=all, no
// transactions, no checks. It creates target, copies until every
// partition reached its end, and returns how long the copy took (topic
// creation excluded) and the records copied.
func floorCopy(ctx context.Context, cl *admin.Client, topic, target string, partitions int) (time.Duration, int, error) {
	if err := cl.DeleteTopic(ctx, target); err != nil {
		return 0, 0, err
	}
	errs, err := cl.CreateTopics(ctx, []admin.TopicSpec{{Name: target, Partitions: partitions, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "-1"}}}, false)
	if err == nil {
		err = errs[target]
	}
	if err != nil {
		return 0, 0, err
	}
	if err := cl.WaitForTopics(ctx, []string{target}, true); err != nil {
		return 0, 0, err
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "group.id": "swapbench-floor", "enable.auto.commit": false,
		"isolation.level": "read_committed", "enable.partition.eof": true, "fetch.max.bytes": 8 << 20, "log_level": 3})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	// The producer's settings are the stop copy's (lifecycle's
	// copyPartitions), but for idempotence and delivery reports.
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "linger.ms": 10, "batch.size": 1 << 20, "acks": "all",
		"go.delivery.reports": false, "queue.buffering.max.messages": 200000, "log_level": 3})
	if err != nil {
		return 0, 0, err
	}
	defer p.Close()
	var tps []kafka.TopicPartition
	for i := 0; i < partitions; i++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: int32(i), Offset: kafka.OffsetBeginning})
	}
	start := time.Now()
	if err := c.Assign(tps); err != nil {
		return 0, 0, err
	}
	atEnd, n := map[int32]bool{}, 0
	for len(atEnd) < partitions {
		switch ev := c.Poll(100).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				return 0, 0, ev.TopicPartition.Error
			}
			out := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &target, Partition: ev.TopicPartition.Partition},
				Key: ev.Key, Value: ev.Value, Headers: ev.Headers, Timestamp: ev.Timestamp}
			if err := produce(p, out); err != nil {
				return 0, 0, fmt.Errorf("produce %s/%d: %w", target, ev.TopicPartition.Partition, err)
			}
			n++
		case kafka.PartitionEOF:
			atEnd[ev.Partition] = true
		case kafka.Error:
			if ev.IsFatal() {
				return 0, 0, ev
			}
		}
	}
	benchkafka.FlushAll(p)
	return time.Since(start), n, nil
}

// produce enqueues m on p, waiting 1 ms at a time while p's queue is full
// (as the stop's copy does).
func produce(p *kafka.Producer, m *kafka.Message) error {
	for {
		err := p.Produce(m, nil)
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}
