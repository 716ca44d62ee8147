package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
)

// tailWindow is how many offsets before a partition's end copyTail reads
// to find the partition's last copy.
const tailWindow = 64

// stopCopy is what copyForStop did.
type stopCopy struct {
	// Copied is the records copied by this run, Resumed the partitions
	// where an earlier run had copied part already.
	Copied  int64
	Resumed int
	// Early is how many of Copied were handed to the producer before
	// the new topic existed (preCopy).
	Early int64
}

// copyForStop copies every record of source to target, partition for
// partition and in order, as a swap's stop does from staging to the new
// topic, which nobody else reads or writes yet. It is the fastest safe
// copy: one consumer reading every partition at once (read_committed)
// and one idempotent producer (acks=all), no transactions: Kafka appends
// each partition's records in the order produced, without duplicates,
// so what an interrupted copy left in target is a prefix of source's
// records. Each copy carries source's headers and an X-Migrator-Origin
// naming its source record, as the bridge's copies do. A re-run finds,
// per partition, the origin of target's last record and continues after
// it; a record in target that is no copy of source refuses the copy (it
// was written by someone else during the stop). It returns once every
// record is acknowledged and target's last record on each partition is
// the copy of source's last.
//
// maxMessageBytes is target's max.message.bytes (0: unknown, the broker's
// default): the copy's batches stay within it, and a record up to it is
// produced.
//
// ahead, when not nil, is a consumer that has been reading source from
// its first records since before the stop (readAhead): the copy takes
// it, and what it read meanwhile, when it starts from the first record of
// every partition with one stream. pre, when usable, is a copy that
// began before target existed (preCopy): the copy finishes it instead.
func copyForStop(ctx context.Context, cfg clientconfig.Config, source, target string, maxMessageBytes int, partitions int32, streams int, ahead *readAhead, pre *preCopy, report *reporter) (stopCopy, error) {
	if pre.usable(source, target, maxMessageBytes, partitions) {
		return pre.finish(ctx, cfg, report)
	}
	pre.discard()
	var res stopCopy
	timeout := int(cfg.OperationTimeout().Milliseconds())
	var assign []kafka.TopicPartition
	ends := map[int32]int64{}
	lastCopied := map[int32]int64{}
	before, err := lastCopies(ctx, cfg, source, target, partitions)
	if err != nil {
		return res, err
	}
	var c *kafka.Consumer
	if c = ahead.take(source, partitions, before, streams); c == nil {
		if c, err = newVerifyConsumer(cfg); err != nil {
			return res, err
		}
		defer c.Close()
	}
	for p := int32(0); p < partitions; p++ {
		last := before[p]
		lastCopied[p] = last
		if last >= 0 {
			res.Resumed++
		}
		_, high, err := c.QueryWatermarkOffsets(source, p, timeout)
		if err != nil {
			return res, fmt.Errorf("offsets of %s/%d: %w", source, p, err)
		}
		ends[p] = high
		if last+1 < high {
			start := kafka.OffsetBeginning
			if last >= 0 {
				start = kafka.Offset(last + 1)
			}
			low, _, err := c.QueryWatermarkOffsets(source, p, timeout)
			if err != nil {
				return res, fmt.Errorf("offsets of %s/%d: %w", source, p, err)
			}
			report.add(0, high-max(low, last+1))
			assign = append(assign, kafka.TopicPartition{Topic: &source, Partition: p, Offset: start})
		}
	}
	if len(assign) > 0 {
		n, last, err := copyStreams(ctx, cfg, c, target, maxMessageBytes, assign, ends, streams, report)
		report.finish()
		res.Copied = n
		if err != nil {
			return res, err
		}
		for p, o := range last {
			lastCopied[p] = o
		}
	}
	return res, provenCopy(ctx, cfg, source, target, partitions, lastCopied, ends)
}

// provenCopy is the proof of the copy inside the stop, once every record
// was acknowledged in order: each partition of target ends with the copy
// of source's last record copied, lastCopied[p] (-1: none), and source
// holds no record after it up to the ends the copy had to reach, so the
// copy did not stop short of them. The record-by-record verify follows
// the stop.
func provenCopy(ctx context.Context, cfg clientconfig.Config, source, target string, partitions int32, lastCopied, ends map[int32]int64) error {
	after, err := lastCopies(ctx, cfg, source, target, partitions)
	if err != nil {
		return err
	}
	for p := int32(0); p < partitions; p++ {
		if last := after[p]; last != lastCopied[p] {
			return fmt.Errorf("%s/%d ends with the copy of %s/%d offset %d, not of the last record copied (%d)", target, p, source, p, last, lastCopied[p])
		}
	}
	return nothingAfter(ctx, cfg, source, lastCopied, ends)
}

// nothingAfter checks that source holds no record after offset last[p]
// and before ends[p] in any partition (transaction markers are no
// records): one consumer reads every such range to its end.
func nothingAfter(ctx context.Context, cfg clientconfig.Config, source string, last, ends map[int32]int64) error {
	var assign []kafka.TopicPartition
	for p, end := range ends {
		if last[p]+1 < end {
			start := kafka.OffsetBeginning
			if last[p] >= 0 {
				start = kafka.Offset(last[p] + 1)
			}
			assign = append(assign, kafka.TopicPartition{Topic: &source, Partition: p, Offset: start})
		}
	}
	if len(assign) == 0 {
		return nil
	}
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Assign(assign); err != nil {
		return fmt.Errorf("assign %s: %w", source, err)
	}
	open := len(assign)
	for open > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("read %s/%d: %w", source, e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			if p, off := e.TopicPartition.Partition, int64(e.TopicPartition.Offset); off < ends[p] {
				return fmt.Errorf("%s/%d offset %d was not copied: the copy stopped after offset %d, before the partition's end %d", source, p, off, last[p], ends[p])
			}
		case kafka.PartitionEOF:
			if int64(e.Offset) >= ends[e.Partition] {
				open--
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("read %s: %w", source, e)
			}
		}
	}
	return nil
}

// copyPartitions copies the assigned partitions of source with consumer c
// to target until each reached its end in ends, and returns the records
// copied and, per partition, the source offset of the last one. It tells
// report (nil: nobody) every thousand records.
func copyPartitions(ctx context.Context, cfg clientconfig.Config, c *kafka.Consumer, target string, maxMessageBytes int, assign []kafka.TopicPartition, ends map[int32]int64, report *reporter) (int64, map[int32]int64, error) {
	w, err := newStopWriter(cfg, target, maxMessageBytes, nil)
	if err != nil {
		return 0, nil, err
	}
	defer w.close()
	w.report = report
	// A consumer that reads ahead is assigned every partition already; a
	// new assignment would drop what it read.
	if current, err := c.Assignment(); err != nil || len(current) == 0 {
		if err := c.Assign(assign); err != nil {
			return 0, nil, fmt.Errorf("assign %s: %w", *assign[0].Topic, err)
		}
	}
	open := map[int32]bool{}
	for _, tp := range assign {
		open[tp.Partition] = true
	}
	if err := copyUntil(ctx, c, w, ends, open, nil); err != nil {
		return w.produced, w.last, err
	}
	return w.produced, w.last, w.flush(ctx)
}

// stopWriter writes a stop copy's records to target with one producer,
// idempotent and gapless, without a delivery report per record: Kafka
// appends each partition's records once and in the order produced, and
// any failure that could leave a gap (a batch refused, a sequence lost)
// is fatal to the producer rather than skipped. No message ever times out
// (message.timeout.ms 0): a write waits for a broker as long as the
// context lets it. So once every record left the queue with no fatal
// error, each was acknowledged in order. It keeps, per partition, the
// source offset of the last record written and how many were.
type stopWriter struct {
	pr     *kafka.Producer
	target string
	report *reporter // told every thousand records (nil: nobody)

	mu     sync.Mutex
	failed error // the producer's fatal error, from its events

	produced int64
	last     map[int32]int64
	count    map[int32]int64
}

// stopQueueKiB bounds what a stop copy's producer holds before the broker
// has it (librdkafka's queue.buffering.max.kbytes).
const stopQueueKiB = 128 << 10

// newStopWriter returns a stopWriter to target, whose max.message.bytes is
// maxMessageBytes (0: unknown, the broker's default): its batches stay
// within it, and a record up to it is produced. extra adds producer
// settings.
func newStopWriter(cfg clientconfig.Config, target string, maxMessageBytes int, extra kafka.ConfigMap) (*stopWriter, error) {
	settings := kafka.ConfigMap{
		"enable.idempotence": true, "enable.gapless.guarantee": true, "message.timeout.ms": 0,
		"acks": "all", "linger.ms": 10, "batch.size": stopBatchBytes(maxMessageBytes),
		"message.max.bytes":            max(maxMessageBytes, 1<<20) + 64<<10,
		"queue.buffering.max.messages": 200000, "queue.buffering.max.kbytes": stopQueueKiB,
		"go.delivery.reports": false, "log_level": 3,
	}
	for k, v := range extra {
		settings[k] = v
	}
	pm, err := cfg.ConfigMap(clientconfig.ProducerChannels(settings))
	if err != nil {
		return nil, err
	}
	pr, err := kafka.NewProducer(&pm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("copy producer: %w", err))
	}
	w := &stopWriter{pr: pr, target: target, last: map[int32]int64{}, count: map[int32]int64{}}
	go func() {
		for ev := range pr.Events() {
			if e, ok := ev.(kafka.Error); ok && e.IsFatal() {
				w.mu.Lock()
				if w.failed == nil {
					w.failed = fmt.Errorf("write to %s: %w", target, e)
				}
				w.mu.Unlock()
			}
		}
	}()
	return w, nil
}

// lastOf returns the source offset of the last record written to
// partition p, -1 when none was.
func (w *stopWriter) lastOf(p int32) int64 {
	if last, ok := w.last[p]; ok {
		return last
	}
	return -1
}

// check returns the producer's fatal error, if it had one.
func (w *stopWriter) check() error {
	if err := w.pr.GetFatalError(); err != nil {
		return fmt.Errorf("write to %s: %w", w.target, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// write produces the copy of e to the same partition of target, waiting
// while the producer's queue is full. A record not produced (the context
// ended first) is not counted.
func (w *stopWriter) write(ctx context.Context, e *kafka.Message) error {
	p, off := e.TopicPartition.Partition, int64(e.TopicPartition.Offset)
	out := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &w.target, Partition: p},
		Key: e.Key, Value: e.Value, Timestamp: e.Timestamp,
		Headers: bridge.HeaderPolicy{}.CopyHeaders(e, bridge.Origin{Topic: *e.TopicPartition.Topic, Partition: p, Offset: off})}
	if err := produceRetrying(ctx, w.pr, out); err != nil {
		if ferr := w.check(); ferr != nil {
			return ferr // what made the producer fail
		}
		return fmt.Errorf("write to %s/%d: %w", w.target, p, err)
	}
	w.produced++
	if w.produced%1000 == 0 {
		w.report.add(1000, 0)
	}
	w.last[p] = off
	w.count[p]++
	return nil
}

// flush returns once every record left the queue: acknowledged, or
// failed, which the gapless guarantee makes fatal.
func (w *stopWriter) flush(ctx context.Context) error {
	for w.pr.Flush(100) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.check(); err != nil {
			return err
		}
	}
	return w.check()
}

// close drops what the producer still holds (nothing, after a flush) and
// closes it.
func (w *stopWriter) close() {
	w.pr.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
	w.pr.Close()
}

// copyUntil writes held, then every record c reads, with w until each
// partition in open reached its end in ends; it closes the partitions it
// finishes in open. A record at or past its partition's end is not copied.
func copyUntil(ctx context.Context, c *kafka.Consumer, w *stopWriter, ends map[int32]int64, open map[int32]bool, held []*kafka.Message) error {
	take := func(e *kafka.Message) error {
		p, off := e.TopicPartition.Partition, int64(e.TopicPartition.Offset)
		if off >= ends[p] {
			delete(open, p)
			return nil
		}
		if err := w.write(ctx, e); err != nil {
			return err
		}
		if off+1 >= ends[p] {
			delete(open, p)
		}
		return nil
	}
	for _, e := range held {
		if err := take(e); err != nil {
			return err
		}
	}
	for len(open) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.check(); err != nil {
			return err
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return fmt.Errorf("read %s/%d: %w", *e.TopicPartition.Topic, e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			if err := take(e); err != nil {
				return err
			}
		case kafka.PartitionEOF:
			// The end counts only at or past the end the copy must reach:
			// a consumer that read ahead may have reached a partition's
			// end before the drain filled it.
			if int64(e.Offset) >= ends[e.Partition] {
				delete(open, e.Partition)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("read: %w", e)
			}
		}
	}
	return nil
}

// readAhead is a consumer of staging assigned every partition from its
// first record when a swap starts, before its stop's copy: while the stop
// waits (the quiet check, the fence, the deletes, the create) it fetches
// staging's first records into librdkafka's queue, up to
// readAheadKiB, for the copy to start with. Staging's records up to the
// verified prefix do not change during the stop, and the copy takes only
// records below the ends it reads when it starts.
type readAhead struct {
	c          *kafka.Consumer
	topic      string
	partitions int32
	used       bool
}

// readAheadKiB bounds what a readAhead holds (librdkafka's
// queued.max.messages.kbytes; its default is 64 MiB).
const readAheadKiB = 128 << 10

// startReadAhead starts reading topic's partitions from their first
// records. It returns nil (and logs why) when it cannot: reading ahead
// only makes the copy start sooner.
func startReadAhead(ctx context.Context, env *Env, topic string) *readAhead {
	topics, err := env.Admin.DescribeTopics(ctx, []string{topic})
	if err != nil || topics[topic] == nil {
		env.logger().Debug("no read-ahead of the stop's copy", "topic", topic, "err", err)
		return nil
	}
	c, err := newVerifyConsumerWith(env.Admin.Config(), kafka.ConfigMap{
		"queued.max.messages.kbytes": readAheadKiB, "queued.min.messages": 1000000,
	})
	if err != nil {
		env.logger().Debug("no read-ahead of the stop's copy", "topic", topic, "err", err)
		return nil
	}
	n := int32(topics[topic].Partitions)
	var assign []kafka.TopicPartition
	for p := range n {
		assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(assign); err != nil {
		c.Close()
		return nil
	}
	return &readAhead{c: c, topic: topic, partitions: n}
}

// take returns the read-ahead consumer for a copy of source whose
// partitions hold no copy yet (before: every partition -1) with one
// stream, nil when that is not this copy.
func (a *readAhead) take(source string, partitions int32, before []int64, streams int) *kafka.Consumer {
	if a == nil || a.used || a.topic != source || a.partitions != partitions || streams > 1 {
		return nil
	}
	for _, last := range before {
		if last >= 0 {
			return nil
		}
	}
	a.used = true
	return a.c
}

// close closes the consumer.
func (a *readAhead) close() {
	if a != nil {
		a.c.Close()
	}
}

// stopBatchBytes is the copy's batch.size: 1 MiB, or less when the
// target's max.message.bytes (the largest record batch it accepts) is
// smaller. A record larger than a batch still goes, alone in its batch.
func stopBatchBytes(maxMessageBytes int) int {
	const batch = 1 << 20
	if maxMessageBytes <= 0 {
		return batch // the broker's default, 1 MiB and a little
	}
	return max(min(batch, maxMessageBytes-recordBatchOverhead), 1)
}

// recordBatchOverhead bounds a record batch's framing (61 bytes of header,
// and the varints of one record).
const recordBatchOverhead = 128

// produceRetrying enqueues m, waiting while the producer's queue is full.
func produceRetrying(ctx context.Context, pr *kafka.Producer, m *kafka.Message) error {
	for {
		err := pr.Produce(m, nil)
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// lastCopy returns the source offset of the last copy in target/p, -1
// when target/p holds no record. A record at target's tail that is no
// copy of source is an error: something else wrote to target.
func lastCopy(ctx context.Context, cfg clientconfig.Config, source, target string, p int32) (int64, error) {
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	low, high, err := watermarksOfNewTopic(ctx, cfg, c, target, p)
	if err != nil {
		return 0, err
	}
	if high <= low {
		return -1, nil
	}
	if err := c.Assign([]kafka.TopicPartition{{Topic: &target, Partition: p, Offset: kafka.Offset(max(low, high-tailWindow))}}); err != nil {
		return 0, fmt.Errorf("assign %s/%d: %w", target, p, err)
	}
	last := int64(-1)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return 0, fmt.Errorf("read %s/%d: %w", target, p, e.TopicPartition.Error)
			}
			o, ok := bridge.OriginOf(e.Headers)
			if !ok || o.Topic != source || o.Partition != p {
				return 0, fmt.Errorf("%s/%d offset %d is no copy of %s/%d (written by someone else during the stop?): the copy cannot tell where it stopped",
					target, p, e.TopicPartition.Offset, source, p)
			}
			last = o.Offset
			if int64(e.TopicPartition.Offset)+1 >= high {
				return last, nil
			}
		case kafka.PartitionEOF:
			if last < 0 && high-tailWindow > low {
				return 0, fmt.Errorf("%s/%d holds no copy in its last %d offsets", target, p, tailWindow)
			}
			return last, nil
		}
	}
}

// copyStreams copies the assigned partitions as copyPartitions does, in
// up to streams copies at once, each with a consumer and a producer of its
// own over a share of the partitions (c is the first one's consumer).
// Each partition is still copied by one producer, in order, so its resume
// and its checks are those of a single copy.
func copyStreams(ctx context.Context, cfg clientconfig.Config, c *kafka.Consumer, target string, maxMessageBytes int, assign []kafka.TopicPartition, ends map[int32]int64, streams int, report *reporter) (int64, map[int32]int64, error) {
	streams = max(min(streams, len(assign)), 1)
	if streams == 1 {
		return copyPartitions(ctx, cfg, c, target, maxMessageBytes, assign, ends, report)
	}
	shares := make([][]kafka.TopicPartition, streams)
	for i, tp := range assign {
		shares[i%streams] = append(shares[i%streams], tp)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		copied int64
		first  error
	)
	last := map[int32]int64{}
	for i, share := range shares {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := c
			if i > 0 {
				var err error
				if consumer, err = newVerifyConsumer(cfg); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					cancel()
					return
				}
				defer consumer.Close()
			}
			n, l, err := copyPartitions(ctx, cfg, consumer, target, maxMessageBytes, share, ends, report)
			mu.Lock()
			defer mu.Unlock()
			copied += n
			for p, o := range l {
				last[p] = o
			}
			if err != nil && first == nil {
				first = err
				cancel()
			}
		}()
	}
	wg.Wait()
	return copied, last, first
}

// lastCopies is lastCopy for every partition, one after the other.
// (Looking them all up at once, a consumer each, measured no faster on
// the benchmark and slower copies after it; see docs/benchmarks.md.)
func lastCopies(ctx context.Context, cfg clientconfig.Config, source, target string, partitions int32) ([]int64, error) {
	out := make([]int64, partitions)
	for p := range partitions {
		last, err := lastCopy(ctx, cfg, source, target, p)
		if err != nil {
			return nil, err
		}
		out[p] = last
	}
	return out, nil
}

// watermarksOfNewTopic returns topic/p's watermarks. The stop's copy asks
// right after the new topic was created, when a broker may not know the
// partition's leader yet: those refusals are retried until the operation
// timeout.
func watermarksOfNewTopic(ctx context.Context, cfg clientconfig.Config, c *kafka.Consumer, topic string, p int32) (int64, int64, error) {
	deadline := time.Now().Add(cfg.OperationTimeout())
	for {
		low, high, err := c.QueryWatermarkOffsets(topic, p, int(cfg.OperationTimeout().Milliseconds()))
		if err == nil {
			return low, high, nil
		}
		var kerr kafka.Error
		retriable := errors.As(err, &kerr) && (kerr.IsRetriable() || kerr.Code() == kafka.ErrNotLeaderForPartition ||
			kerr.Code() == kafka.ErrLeaderNotAvailable || kerr.Code() == kafka.ErrUnknownTopicOrPart)
		if !retriable || time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, p, err)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
