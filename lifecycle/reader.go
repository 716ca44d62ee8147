package lifecycle

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// partitionReader reads one partition in order, read_committed.
type partitionReader struct {
	c *kafka.Consumer
	// low is the partition's log start offset when the reader opened.
	low  int64
	high int64
	next int64
	done bool
}

func newVerifyConsumer(cfg clientconfig.Config) (*kafka.Consumer, error) {
	return newVerifyConsumerWith(cfg, nil)
}

// newVerifyConsumerWith is newVerifyConsumer with extra settings.
func newVerifyConsumerWith(cfg clientconfig.Config, extra kafka.ConfigMap) (*kafka.Consumer, error) {
	settings := kafka.ConfigMap{
		"group.id": "topic-migrator-verify", "enable.auto.commit": false, "isolation.level": "read_committed",
		"enable.partition.eof": true, "fetch.wait.max.ms": 10, "fetch.error.backoff.ms": 10, "log_level": 3,
	}
	for k, v := range extra {
		settings[k] = v
	}
	cm, err := cfg.ConfigMap(settings)
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("verify consumer: %w", err))
	}
	return c, nil
}

// watermarks returns the first and end offsets of each of the topic's
// partitions.
func watermarks(cfg clientconfig.Config, topic string, partitions int32) (lows, highs []int64, err error) {
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	lows, highs = make([]int64, partitions), make([]int64, partitions)
	for p := range partitions {
		lows[p], highs[p], err = c.QueryWatermarkOffsets(topic, p, int(cfg.OperationTimeout().Milliseconds()))
		if err != nil {
			return nil, nil, fmt.Errorf("offsets of %s/%d: %w", topic, p, err)
		}
	}
	return lows, highs, nil
}

// openReader opens a reader of topic/p from its first record to its end,
// or to upTo when that is not negative and comes first.
func openReader(cfg clientconfig.Config, topic string, p int32, upTo int64) (*partitionReader, error) {
	return openReaderFrom(cfg, topic, p, -1, upTo)
}

// openReaderFrom is openReader starting at offset from (its first record
// when from is before it or negative).
func openReaderFrom(cfg clientconfig.Config, topic string, p int32, from, upTo int64) (*partitionReader, error) {
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return nil, err
	}
	low, high, err := c.QueryWatermarkOffsets(topic, p, int(cfg.OperationTimeout().Milliseconds()))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p, err)
	}
	return startReader(c, topic, p, from, upTo, low, high)
}

// openReaderWithin is openReaderFrom for a partition whose first offset
// and end (low, high) the caller read already, for all partitions at
// once: a fresh consumer's own offsets query, made by a dozen readers at
// once, sometimes took ~0.7 s (librdkafka's retry backoff), most of the
// swap stop's verify of a 5,000-record tail.
func openReaderWithin(cfg clientconfig.Config, topic string, p int32, from, upTo, low, high int64) (*partitionReader, error) {
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return nil, err
	}
	return startReader(c, topic, p, from, upTo, low, high)
}

// startReader assigns c to topic/p from max(low, from) up to high (or
// upTo when not negative and lower); it closes c on failure.
func startReader(c *kafka.Consumer, topic string, p int32, from, upTo, low, high int64) (*partitionReader, error) {
	if upTo >= 0 {
		high = min(high, upTo)
	}
	start := max(low, from)
	r := &partitionReader{c: c, low: low, high: high, next: start, done: high <= start}
	if !r.done {
		if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(start)}}); err != nil {
			c.Close()
			return nil, fmt.Errorf("assign %s/%d: %w", topic, p, err)
		}
	}
	return r, nil
}

// read returns the next record below the reader's end, or nil at the
// end.
func (r *partitionReader) read(ctx context.Context) (*kafka.Message, error) {
	for !r.done {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch e := r.c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, e.TopicPartition.Error
			}
			off := int64(e.TopicPartition.Offset)
			if off >= r.high {
				// The last offsets below the end were markers (a
				// transaction's commit), which read_committed never
				// returns: this record came after the end, written
				// since it was read, and is not the reader's.
				r.done = true
				return nil, nil
			}
			r.next = off + 1
			if r.next >= r.high {
				r.done = true
			}
			return e, nil
		case kafka.PartitionEOF:
			r.done = true
		case kafka.Error:
			if e.IsFatal() {
				return nil, e
			}
		}
	}
	return nil, nil
}

func (r *partitionReader) close() { r.c.Close() }
