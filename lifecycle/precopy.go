package lifecycle

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/clientconfig"
)

// preCopy is the swap stop's copy of staging into the new topic, begun
// when the swap starts, before the new topic may exist: while the stop
// waits (the quiet check, the fence, the drain, the verify of the tail,
// the deletes) it reads staging through the read-ahead and hands each
// record's copy to a producer that holds it until the new topic exists.
// librdkafka keeps a record for a topic it does not know yet
// (topic.metadata.propagation.max.ms) and never asks the broker to
// create one (allow.auto.create.topics false). Once createNew made the
// topic, copyForStop finishes the copy (finish).
//
// It writes nothing anywhere before the new topic exists, and is dropped
// (purged, closed) when the swap stops before that, when the topic was
// not created by this run, or when it is older than preCopyMaxAge.
type preCopy struct {
	c              *kafka.Consumer // the read-ahead's, reading source
	w              *stopWriter
	source, target string
	partitions     int32
	maxBytes       int // the target's max.message.bytes the writer was made for
	started        time.Time

	cancel context.CancelFunc
	done   chan struct{}

	// Set by run, read once done is closed.
	held []*kafka.Message // read, not written: the pause came first
	eof  map[int32]int64  // the latest partition end each partition reached
	err  error

	// created is set by createNew when this run created target.
	created bool
}

// preCopyPropagation is how long a pre-copy's producer holds records for
// a topic that does not exist (topic.metadata.propagation.max.ms). Not
// more: librdkafka 2.11 multiplies the setting by 1000 in an int, so that
// from 2,147,484 ms on it overflows and a missing topic fails at once.
const preCopyPropagation = 30 * time.Minute

// preCopyMaxAge is how old a pre-copy may be when the new topic is
// created: well within preCopyPropagation, after which librdkafka would
// fail the records it holds.
const preCopyMaxAge = 20 * time.Minute

// preCopyHeldBytes bounds what finish reads ahead into memory while the
// records written before the topic existed are delivered.
const preCopyHeldBytes = 32 << 20

// startPreCopy starts copying source, through the read-ahead ahead, to
// target, which must not exist yet. It returns nil (and logs why) when it
// cannot: the stop's copy then runs as it would without it.
func startPreCopy(ctx context.Context, env *Env, ahead *readAhead, source, target string, streams int) *preCopy {
	if ahead == nil || ahead.used || ahead.topic != source || streams > 1 {
		return nil
	}
	topics, err := env.Admin.DescribeTopics(ctx, []string{source, target})
	if err != nil || topics[source] == nil || topics[target] != nil {
		env.logger().Debug("no copy ahead of the new topic", "topic", target, "err", err)
		return nil
	}
	maxBytes, _ := strconv.Atoi(topics[source].Effective["max.message.bytes"])
	w, err := newStopWriter(env.Admin.Config(), target, maxBytes, kafka.ConfigMap{
		"allow.auto.create.topics":          false,
		"topic.metadata.propagation.max.ms": int(preCopyPropagation.Milliseconds()),
	})
	if err != nil {
		env.logger().Debug("no copy ahead of the new topic", "topic", target, "err", err)
		return nil
	}
	ahead.used = true
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &preCopy{c: ahead.c, w: w, source: source, target: target, partitions: ahead.partitions, maxBytes: maxBytes,
		started: time.Now(), cancel: cancel, done: make(chan struct{}), eof: map[int32]int64{}}
	go p.run(pctx)
	return p
}

// run copies what the consumer reads until ctx ends (the pause) or a
// record cannot be handed to the producer.
func (p *preCopy) run(ctx context.Context) {
	defer close(p.done)
	for ctx.Err() == nil {
		if p.err = p.w.check(); p.err != nil {
			return
		}
		switch e := p.c.Poll(50).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				p.err = fmt.Errorf("read %s/%d: %w", p.source, e.TopicPartition.Partition, e.TopicPartition.Error)
				return
			}
			if err := p.w.write(ctx, e); err != nil {
				if ctx.Err() != nil {
					p.held = append(p.held, e) // paused while the queue was full
					return
				}
				p.err = err
				return
			}
		case kafka.PartitionEOF:
			p.eof[e.Partition] = int64(e.Offset)
		case kafka.Error:
			if e.IsFatal() {
				p.err = fmt.Errorf("read %s: %w", p.source, e)
				return
			}
		}
	}
}

// pause stops handing records to the producer and waits until it has.
func (p *preCopy) pause() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// beforeCreate pauses the pre-copy before the new topic is created: no
// record may be handed to the producer while it moves the records it
// held onto the new topic's partitions, or a later one could overtake
// them. A pre-copy that failed or is too old is dropped.
func (p *preCopy) beforeCreate(env *Env) {
	if p == nil || p.w == nil {
		return
	}
	p.pause()
	if p.err != nil || time.Since(p.started) > preCopyMaxAge {
		env.logger().Info("the copy begun before the new topic existed is dropped; the stop's copy starts afresh", "topic", p.target, "err", p.err, "age", time.Since(p.started).Round(time.Second))
		p.discard()
	}
}

// usable reports whether the stop's copy of source to target may finish
// this pre-copy: it ran without error, this run created target, and
// target is as the pre-copy expected.
func (p *preCopy) usable(source, target string, maxBytes int, partitions int32) bool {
	p.pause() // createNew did; what run left is read after it stopped
	return p != nil && p.w != nil && p.err == nil && p.created && p.source == source && p.target == target &&
		p.partitions == partitions && (maxBytes == 0 || maxBytes >= p.maxBytes) && time.Since(p.started) < preCopyMaxAge
}

// discard drops whatever the pre-copy's producer holds and closes it.
// The consumer stays the read-ahead's to close.
func (p *preCopy) discard() {
	if p == nil || p.w == nil {
		return
	}
	p.pause()
	p.w.close()
	p.w = nil
}

// finish completes the copy once this run created the new topic: the
// producer learns the topic, delivers what it held (nothing more is
// handed to it meanwhile; the consumer reads ahead into memory), then
// the copy goes on to staging's ends as copyForStop's does, and is
// proven as that one is, and by count: the new topic holds, per
// partition, exactly the records written to it.
func (p *preCopy) finish(ctx context.Context, cfg clientconfig.Config, report *reporter) (stopCopy, error) {
	w := p.w
	res := stopCopy{Early: w.produced}
	defer p.discard()
	if err := awaitTopicKnown(ctx, cfg, w.pr, p.target, p.partitions); err != nil {
		return res, err
	}
	var heldBytes int
	for w.pr.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := w.check(); err != nil {
			return res, err
		}
		if heldBytes >= preCopyHeldBytes {
			w.pr.Flush(10)
			continue
		}
		switch e := p.c.Poll(10).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return res, fmt.Errorf("read %s/%d: %w", p.source, e.TopicPartition.Partition, e.TopicPartition.Error)
			}
			p.held = append(p.held, e)
			heldBytes += len(e.Key) + len(e.Value)
		case kafka.PartitionEOF:
			p.eof[e.Partition] = int64(e.Offset)
		}
	}
	timeout := int(cfg.OperationTimeout().Milliseconds())
	ends := map[int32]int64{}
	open := map[int32]bool{}
	var total int64
	for part := range p.partitions {
		low, high, err := p.c.QueryWatermarkOffsets(p.source, part, timeout)
		if err != nil {
			return res, fmt.Errorf("offsets of %s/%d: %w", p.source, part, err)
		}
		ends[part] = high
		total += high - low
		end, reached := p.eof[part]
		if w.lastOf(part)+1 < high && (!reached || end < high) {
			open[part] = true
		}
	}
	report.set(w.produced, total)
	w.report = report
	err := copyUntil(ctx, p.c, w, ends, open, p.held)
	p.held = nil
	report.finish()
	res.Copied = w.produced
	if err != nil {
		return res, err
	}
	if err := w.flush(ctx); err != nil {
		return res, err
	}
	// By count: a record the producer failed without a fatal error (one
	// it held for a topic it took for missing) or a record someone else
	// wrote to the new topic during the stop shows here.
	for part := range p.partitions {
		low, high, err := watermarksOfNewTopic(ctx, cfg, p.c, p.target, part)
		if err != nil {
			return res, err
		}
		if got := high - low; low != 0 || got != w.count[part] {
			return res, fmt.Errorf("%s/%d holds %d record(s) from offset %d, but the copy wrote %d to it: a copy was lost, or something else wrote to %s during the stop",
				p.target, part, got, low, w.count[part], p.target)
		}
	}
	lastCopied := map[int32]int64{}
	for part := range p.partitions {
		lastCopied[part] = w.lastOf(part)
	}
	return res, provenCopy(ctx, cfg, p.source, p.target, p.partitions, lastCopied, ends)
}

// awaitTopicKnown asks the producer's client for topic's metadata until
// it knows the topic and its partitions: librdkafka moves the records it
// held for the topic onto their partitions when it learns of it.
func awaitTopicKnown(ctx context.Context, cfg clientconfig.Config, pr *kafka.Producer, topic string, partitions int32) error {
	deadline := time.Now().Add(cfg.OperationTimeout())
	for {
		md, err := pr.GetMetadata(&topic, false, 1000)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Error.Code() == kafka.ErrNoError && len(t.Partitions) == int(partitions) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the copy's producer does not see %s with %d partitions (%v)", topic, partitions, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
