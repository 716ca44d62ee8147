package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bench/benchkafka"
)

// rawCopy is the baseline: the least a librdkafka program must do to copy
// a topic partition for partition: consume, produce with the same key,
// value and timestamp, commit offsets in the background. No transactions,
// no headers, no checks. It stops after until records (never when 0) or
// on SIGINT/SIGTERM.
func rawCopy(from, to string, until int) error {
	c, err := kafka.NewConsumer(config(kafka.ConfigMap{
		"group.id": "bench-raw-" + to, "auto.offset.reset": "earliest", "enable.auto.commit": true,
		"fetch.max.bytes": 8 << 20,
	}))
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := kafka.NewProducer(config(kafka.ConfigMap{"linger.ms": 5, "go.delivery.reports": false, "queue.buffering.max.messages": 200000}))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := c.Subscribe(from, nil); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	n := 0
	for until == 0 || n < until {
		select {
		case <-stop:
			p.Flush(10000)
			return nil
		default:
		}
		ev := c.Poll(100)
		m, ok := ev.(*kafka.Message)
		if !ok || m.TopicPartition.Error != nil {
			continue
		}
		out := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: m.TopicPartition.Partition}, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
		if err := benchkafka.Produce(p, out); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		n++
	}
	benchkafka.FlushAll(p)
	return nil
}
