package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
)

// refusedForGood are the produce errors that no retry can fix: the record
// goes to the DLQ, its error_type the error's name (librdkafka's, as
// rd_kafka_err2name gives it and the DLQ runbook lists).
var refusedForGood = map[kafka.ErrorCode]string{
	kafka.ErrMsgSizeTooLarge:             "MSG_SIZE_TOO_LARGE",
	kafka.ErrInvalidRecord:               "INVALID_RECORD",
	kafka.ErrPolicyViolation:             "POLICY_VIOLATION",
	kafka.ErrInvalidTimestamp:            "INVALID_TIMESTAMP",
	kafka.ErrRecordListTooLarge:          "RECORD_LIST_TOO_LARGE",
	kafka.ErrInvalidMsg:                  "INVALID_MSG",
	kafka.ErrUnsupportedForMessageFormat: "UNSUPPORTED_FOR_MESSAGE_FORMAT",
}

// recordKey identifies a source record.
type recordKey struct {
	topic     string
	partition int32
	offset    int64
}

func keyOf(m *kafka.Message) recordKey {
	return recordKey{*m.TopicPartition.Topic, m.TopicPartition.Partition, int64(m.TopicPartition.Offset)}
}

// deadLetter says why a record goes to the DLQ.
type deadLetter struct {
	errType string
	err     error
}

// refusedError reports the records the target refused for good in one
// attempt; the batch is retried with them sent to the DLQ.
type refusedError struct {
	records map[recordKey]deadLetter
	// ambiguous is set when a refusal hit several records of one broker
	// batch, so that which of them is at fault is not known yet.
	ambiguous map[partitionKey]bool
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%d record(s) refused by the target", len(e.records))
}

// attemptState carries what earlier attempts at one batch learned.
type attemptState struct {
	// reported makes an exactly-once attempt ask for a delivery report of
	// every record, as an at-least-once one always does. The first
	// attempt at a batch does not: its transaction's commit fails if any
	// record failed, and only then does a retry need to know which.
	reported bool
	dead     map[recordKey]deadLetter
	// singles are partitions whose records are produced one at a time,
	// to find which record of a refused broker batch is at fault.
	singles map[partitionKey]bool
	// routes is the route table of this batch, read once.
	routes map[string]Route
	// tally is what the last prepared attempt copies, per rename.
	tally map[string]*tally
}

// tally counts one rename's records in a batch, for the metrics.
type tally struct {
	copied, bytes, skipped int
	dead                   map[string]int // by error type
}

// copyBatch copies one lane's batch with the lane's producer: exactly once
// in a transaction with the consumed offsets, or at least once. It retries
// until the batch is committed, the context ends, or a fatal error occurs;
// records the target refuses for good go to the route's DLQ and the rest
// is copied. lost reports a batch given up because the group generation
// was lost: its partitions must be rewound.
func (b *Bridge) copyBatch(ctx context.Context, l *lane, c *kafka.Consumer, batch []*kafka.Message) (lost bool, err error) {
	b.mu.Lock()
	routes := b.routes // Replaced, never changed in place, by refreshRoutes.
	b.mu.Unlock()
	st := &attemptState{dead: map[recordKey]deadLetter{}, singles: map[partitionKey]bool{}, routes: routes}
	for _, m := range batch {
		if dl, ok := precheck(routes[*m.TopicPartition.Topic], m); ok {
			st.dead[keyOf(m)] = dl
		}
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		var err error
		if b.opts.Delivery == ExactlyOnce {
			err = b.copyTransactional(ctx, l, c, batch, st)
		} else {
			err = b.copyAtLeastOnce(ctx, l, c, batch, st)
		}
		if err == nil {
			b.log.Debug("batch committed", "lane", l.id, "records", len(batch), "took", time.Since(start))
			b.opts.Metrics.TxnLatency.Observe(time.Since(start).Seconds())
			b.opts.Metrics.Transactions.WithLabelValues("committed").Inc()
			b.countCopied(st)
			b.updateProgress(c, batch)
			return false, nil
		}
		// Every retry learns from the records' own delivery reports.
		st.reported = true
		var hung *HungError
		if errors.As(err, &hung) {
			return false, fmt.Errorf("copy batch of %d records: %w", len(batch), err)
		}
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.IsFatal() {
			if b.opts.Delivery == ExactlyOnce || l.producer.GetFatalError() == nil {
				return false, b.fatalProducer(err)
			}
			// At least once, no other process can fence the producer: its
			// fatal error is its idempotent sequence given up (the gapless
			// guarantee after a refused record). The retry, reported, runs
			// on a new producer (copyAtLeastOnce). A fatal error of the
			// consumer (its static membership taken) still ends the bridge.
			b.log.Warn("producer failed; retrying the batch on a new one", "lane", l.id, "records", len(batch), "err", err)
		}
		b.opts.Metrics.Transactions.WithLabelValues("aborted").Inc()
		if groupLost(err) {
			// The group moved on (a rebalance, or this member was too slow):
			// the batch's offsets cannot be committed by this member. Give
			// the batch up; once every lane is quiet the loop rewinds, so
			// that whoever owns the partitions now, this process included,
			// copies it from the committed offset.
			b.log.Warn("group membership lost during a batch; giving it up", "lane", l.id, "records", len(batch), "err", err)
			return true, nil
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			for k, dl := range refused.records {
				st.dead[k] = dl
			}
			for p := range refused.ambiguous {
				st.singles[p] = true
			}
			b.log.Warn("target refused records; retrying the batch with them sent to the DLQ", "records", len(refused.records), "isolating", len(refused.ambiguous))
			continue
		}
		if unauthorized(err) {
			return false, b.opts.Client.ScrubError(fmt.Errorf("copy batch of %d records: %w", len(batch), err))
		}
		if ctx.Err() != nil {
			return false, fmt.Errorf("copy batch of %d records: %w (last error: %v)", len(batch), ctx.Err(), err)
		}
		b.log.Warn("batch failed; retrying", "attempt", attempt, "records", len(batch), "err", b.opts.Client.Scrub(err.Error()), "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// fatalProducer is the error of a producer that hit a fatal error: fenced
// by a successor with this instance id, which took the transactional id
// and, with it, the static group membership (the consumer will not leave
// the group cleanly either).
func (b *Bridge) fatalProducer(err error) error {
	var kerr kafka.Error
	if !errors.As(err, &kerr) || !kerr.IsFatal() {
		return err
	}
	b.consumerFailed.Store(true)
	return b.opts.Client.ScrubError(fmt.Errorf("bridge producer: %w (another bridge process with instance id %q may have taken over)", err, b.opts.InstanceID))
}

// precheck sends a record straight to the DLQ when it cannot fit the
// target's max.message.bytes, without a doomed produce.
func precheck(r Route, m *kafka.Message) (deadLetter, bool) {
	if r.TargetMaxBytes <= 0 {
		return deadLetter{}, false
	}
	size := len(m.Key) + len(m.Value) + recordOverhead
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value) + 10
	}
	if size <= r.TargetMaxBytes {
		return deadLetter{}, false
	}
	return deadLetter{errType: refusedForGood[kafka.ErrMsgSizeTooLarge], err: fmt.Errorf("record of about %d bytes is larger than %s max.message.bytes=%d", size, r.To, r.TargetMaxBytes)}, true
}

// outgoing is one record to produce and the source record it stands for:
// a copy, built only when it is produced (copyMessage), or a dead letter.
type outgoing struct {
	source *kafka.Message
	// route is the copy's target topic, partition rule and header policy;
	// nil for a dead letter.
	route *routeCopy
	// partition is the copy's target partition.
	partition int32
	// dead is the dead letter, for a record that goes to the DLQ.
	dead *kafka.Message
}

// routeCopy is what the copies of one route's records share in a batch.
type routeCopy struct {
	route   Route
	target  *string
	headers HeaderPolicy
	tally   *tally
}

// copyMessage is the record to produce for o. A copy is built in the
// lane's scratch message and buffers, which the next call reuses: the
// producer copies key, value and headers into librdkafka's memory before
// Produce returns, so holding a kafka.Message and its headers per record
// for the whole batch would only feed the garbage collector.
func (l *lane) copyMessage(o *outgoing) *kafka.Message {
	if o.dead != nil {
		return o.dead
	}
	src := o.source
	origin := Origin{Topic: o.route.route.From, Partition: src.TopicPartition.Partition, Offset: int64(src.TopicPartition.Offset)}
	l.headers, l.headerBuf = o.route.headers.appendHeaders(l.headers, l.headerBuf, src, origin)
	l.scratch = kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: o.route.target, Partition: o.partition},
		Key:            src.Key,
		Value:          src.Value,
		Headers:        l.headers,
		Timestamp:      src.Timestamp,
	}
	return &l.scratch
}

// prepare turns the batch into the records to produce: copies for the
// target and dead letters for the DLQ, skipping records that came from the
// destination itself (loop prevention).
func (b *Bridge) prepare(ctx context.Context, batch []*kafka.Message, st *attemptState) ([]outgoing, error) {
	out := make([]outgoing, 0, len(batch))
	now := time.Now()
	st.tally = map[string]*tally{}
	// Per route, once rather than per record: the topic name of the
	// copies and the header policy. Batches mostly come from one route.
	routes := map[string]*routeCopy{}
	var last *routeCopy
	for _, m := range batch {
		rt := last
		if rt == nil || rt.route.From != *m.TopicPartition.Topic {
			rt = routes[*m.TopicPartition.Topic]
			if rt == nil {
				r, ok := st.routes[*m.TopicPartition.Topic]
				if !ok {
					return nil, fmt.Errorf("record from %s, which no route copies", *m.TopicPartition.Topic)
				}
				n := st.tally[r.Rename]
				if n == nil {
					n = &tally{dead: map[string]int{}}
					st.tally[r.Rename] = n
				}
				to := r.To
				rt = &routeCopy{route: r, target: &to, headers: b.opts.Headers.forRoute(r), tally: n}
				routes[r.From] = rt
			}
			last = rt
		}
		r, n := rt.route, rt.tally
		if len(m.Headers) > 0 {
			if from, ok := OriginOf(m.Headers); ok && from.Topic == r.To {
				n.skipped++
				continue // Copied from the destination by the other direction.
			}
		}
		if len(st.dead) > 0 {
			if dl, ok := st.dead[keyOf(m)]; ok {
				origin := Origin{Topic: r.From, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}
				n.dead[dl.errType]++
				if err := b.ensureDLQ(ctx, r); err != nil {
					return nil, err
				}
				value, err := NewDeadLetter(m, r.To, dl.err, dl.errType, 0, b.opts.Service, now, deadLetterMaxBytes)
				if err != nil {
					return nil, fmt.Errorf("dead letter for %s: %w", origin, err)
				}
				dlq := r.DLQ
				out = append(out, outgoing{source: m, dead: &kafka.Message{
					TopicPartition: kafka.TopicPartition{Topic: &dlq, Partition: kafka.PartitionAny},
					Key:            []byte(origin.String()),
					Value:          value,
					Headers:        []kafka.Header{{Key: HeaderOrigin, Value: []byte(origin.String())}},
				}})
				continue
			}
		}
		partition := m.TopicPartition.Partition
		if r.TargetPartitions != r.SourcePartitions && m.Key != nil {
			partition = b.opts.Partitioner(m.Key, partition, r.TargetPartitions)
		}
		n.copied++
		n.bytes += len(m.Key) + len(m.Value)
		out = append(out, outgoing{source: m, route: rt, partition: partition})
	}
	return out, nil
}

// produceAll produces the records and waits for every delivery report.
// Partitions in singles are produced one record at a time (each flushed
// alone) so that a refusal names its record. An exactly-once attempt
// that is not st.reported asks for no report and waits for none: the
// transaction's commit waits for every record and fails if one failed.
func (b *Bridge) produceAll(ctx context.Context, l *lane, out []outgoing, st *attemptState) error {
	if b.unreported(l, st) {
		if b.opts.Delivery == AtLeastOnce {
			return b.produceMarked(ctx, l, out)
		}
		return b.produceUnreported(ctx, l, out)
	}
	reports := make(chan kafka.Event, len(out))
	sent := 0
	refused := &refusedError{records: map[recordKey]deadLetter{}, ambiguous: map[partitionKey]bool{}}
	var failed error
	await := func(n int) {
		for ; n > 0; n-- {
			var ev kafka.Event
			select {
			case ev = <-reports:
			case <-ctx.Done():
				if failed == nil {
					failed = ctx.Err()
				}
				return
			}
			m := ev.(*kafka.Message)
			err := m.TopicPartition.Error
			if err == nil {
				continue
			}
			o := m.Opaque.(*outgoing)
			src := o.source
			var kerr kafka.Error
			if errors.As(err, &kerr) && refusedForGood[kerr.Code()] != "" && o.dead == nil {
				refused.records[keyOf(src)] = deadLetter{errType: codeName(kerr.Code()), err: err}
				pk := partitionKey{*src.TopicPartition.Topic, src.TopicPartition.Partition}
				if !st.singles[pk] {
					refused.ambiguous[pk] = true
				}
				continue
			}
			if failed == nil {
				failed = fmt.Errorf("produce %s to %s: %w", keyString(src), *m.TopicPartition.Topic, err)
			}
		}
	}
	for i := range out {
		o := &out[i]
		pk := partitionKey{*o.source.TopicPartition.Topic, o.source.TopicPartition.Partition}
		if err := produce(ctx, l, o, reports); err != nil {
			var kerr kafka.Error
			if !errors.As(err, &kerr) || refusedForGood[kerr.Code()] == "" || o.dead != nil {
				return err
			}
			// Refused before it left the client: no report will come.
			refused.records[keyOf(o.source)] = deadLetter{errType: codeName(kerr.Code()), err: err}
			continue
		}
		sent++
		if st.singles[pk] {
			l.producer.Flush(int(b.opts.Client.OperationTimeout().Milliseconds()))
			await(sent)
			sent = 0
			if len(refused.records) > 0 || failed != nil {
				break
			}
		}
	}
	await(sent)
	// Keep only the first refusal of each isolated partition: later
	// records may have failed only because the transaction had.
	if len(refused.records) > 0 {
		for k := range refused.records {
			pk := partitionKey{k.topic, k.partition}
			if refused.ambiguous[pk] {
				delete(refused.records, k)
			}
		}
		if len(refused.records) > 0 || len(refused.ambiguous) > 0 {
			return refused
		}
	}
	return failed
}

// unreported reports whether an attempt produces with no delivery report
// per record: one that is not st.reported and isolates no partition;
// at least once, also only on a gapless producer.
func (b *Bridge) unreported(l *lane, st *attemptState) bool {
	if st.reported || len(st.singles) > 0 {
		return false
	}
	return b.opts.Delivery == ExactlyOnce || l.gapless
}

// produceUnreported produces the records of a transaction with no
// delivery report: no per-record handle for librdkafka to hand back, no
// report to receive, a fifth of the Go side's CPU at 100 B records. A
// record refused at once (too large for the client) fails the attempt;
// the retry, reported, sends it to the DLQ.
func (b *Bridge) produceUnreported(ctx context.Context, l *lane, out []outgoing) error {
	for i := range out {
		if err := produce(ctx, l, &out[i], nil); err != nil {
			return err
		}
	}
	return nil
}

// produceMarked is an at-least-once attempt with a delivery report for
// the last record of each target partition only, on the lane's gapless
// producer (newProducer): a record there fails only with a fatal error or
// with every later record of its partition, so the last one acknowledged,
// and no fatal error, mean every record before it is written.
//
// The last records go out once the producer holds nothing else: with
// go.delivery.reports=false, confluent-kafka-go drops the rest of a
// delivery event after its first record without a report channel, so a
// reported record must not share a broker batch with unreported ones.
// Dead letters (to a DLQ, partition chosen by librdkafka) are reported
// too. Any failure leaves the producer to be replaced, and the retry
// reports every record.
func (b *Bridge) produceMarked(ctx context.Context, l *lane, out []outgoing) error {
	// Backwards, the first copy seen of each target partition is its last;
	// a map lookup only where the partition changes.
	marked := make([]bool, len(out))
	seen := map[partitionKey]bool{}
	var prev partitionKey
	n := 0
	for i := len(out) - 1; i >= 0; i-- {
		o := &out[i]
		if o.dead == nil {
			k := partitionKey{*o.route.target, o.partition}
			if k == prev || seen[k] {
				continue
			}
			prev, seen[k] = k, true
		}
		marked[i] = true
		n++
	}
	for i := range out {
		if marked[i] {
			continue
		}
		if err := produce(ctx, l, &out[i], nil); err != nil {
			return err
		}
	}
	if err := flushAll(ctx, l.producer); err != nil {
		return err
	}
	if err := l.producer.GetFatalError(); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	reports := make(chan kafka.Event, n)
	for i := range out {
		if marked[i] {
			if err := produce(ctx, l, &out[i], reports); err != nil {
				return err
			}
		}
	}
	if err := flushAll(ctx, l.producer); err != nil {
		return err
	}
	for ; n > 0; n-- {
		select {
		case ev := <-reports:
			m := ev.(*kafka.Message)
			if err := m.TopicPartition.Error; err != nil {
				return fmt.Errorf("produce %s to %s: %w", keyString(m.Opaque.(*outgoing).source), *m.TopicPartition.Topic, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := l.producer.GetFatalError(); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	return nil
}

// flushAll waits until p holds no record: every one acknowledged or
// failed. Producer.Flush's own wait polls in steps of up to 100 ms, so it
// is called in short steps, each of which also sends what lingers. A
// producer that failed for good is not waited for.
func flushAll(ctx context.Context, p *kafka.Producer) error {
	for p.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.GetFatalError(); err != nil {
			return fmt.Errorf("producer: %w", err)
		}
		p.Flush(5)
	}
	return nil
}

// produce hands o's record to the lane's producer, its report (if any)
// to reports with o as its opaque, waiting while the producer's queue is
// full.
func produce(ctx context.Context, l *lane, o *outgoing, reports chan kafka.Event) error {
	msg := l.copyMessage(o)
	msg.Opaque = nil
	if reports != nil {
		msg.Opaque = o
	}
	p := l.producer
	for {
		err := p.Produce(msg, reports)
		if err == nil {
			return nil
		}
		var kerr kafka.Error // Declared here: errors.As makes it escape.
		switch {
		case !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull:
			return fmt.Errorf("produce %s: %w", keyString(o.source), err)
		case ctx.Err() != nil:
			return fmt.Errorf("produce %s: %w", keyString(o.source), ctx.Err())
		}
		p.Flush(100)
	}
}

func keyString(m *kafka.Message) string {
	return fmt.Sprintf("%s/%d/%d", *m.TopicPartition.Topic, m.TopicPartition.Partition, m.TopicPartition.Offset)
}

func codeName(c kafka.ErrorCode) string {
	if name := refusedForGood[c]; name != "" {
		return name
	}
	s := c.String()
	return strings.ToUpper(strings.NewReplacer(" ", "_", ":", "").Replace(strings.TrimPrefix(s, "Broker: ")))
}

// offsetsOf returns, per partition of the batch, the offset after the
// last record: what the group commits.
func offsetsOf(batch []*kafka.Message) []kafka.TopicPartition {
	index := map[partitionKey]int{} // into out
	var out []kafka.TopicPartition
	var run partitionRun[int]
	for _, m := range batch {
		i, ok := run.get(m)
		if !ok {
			k := partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}
			if i, ok = index[k]; !ok {
				i = len(out)
				index[k] = i
				topic := k.topic
				out = append(out, kafka.TopicPartition{Topic: &topic, Partition: k.partition, Offset: m.TopicPartition.Offset + 1})
			}
			run.set(m, i)
		}
		out[i].Offset = max(out[i].Offset, m.TopicPartition.Offset+1)
	}
	return out
}

// copyTransactional is one exactly-once attempt: begin, produce, send the
// consumed offsets with the group metadata, commit; abort on failure.
func (b *Bridge) copyTransactional(ctx context.Context, l *lane, c *kafka.Consumer, batch []*kafka.Message, st *attemptState) error {
	out, err := b.prepare(ctx, batch, st)
	if err != nil {
		return err
	}
	if err := l.producer.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	abort := func(cause error) error {
		var hung *HungError
		if errors.As(cause, &hung) {
			return cause // The client is wedged: an abort would block too.
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.Client.OperationTimeout())
		defer cancel()
		if aerr := b.bounded(actx, "AbortTransaction", l.producer.AbortTransaction); aerr != nil {
			var kerr kafka.Error
			if errors.As(aerr, &kerr) && kerr.IsFatal() || errors.As(aerr, &hung) {
				return aerr
			}
			b.log.Warn("abort transaction", "err", aerr)
		}
		return cause
	}
	sendOffsets := func() error {
		meta, err := c.GetConsumerGroupMetadata()
		if err != nil {
			return fmt.Errorf("group metadata: %w", err)
		}
		tps := offsetsOf(batch)
		if err := b.bounded(ctx, "SendOffsetsToTransaction", func(ctx context.Context) error {
			return l.producer.SendOffsetsToTransaction(ctx, tps, meta)
		}); err != nil {
			return fmt.Errorf("send offsets to transaction: %w", err)
		}
		return nil
	}
	// An attempt that waits for no delivery report sends the offsets
	// first: sent while librdkafka is still adding the records'
	// partitions to the transaction, they wait on the coordinator (~18 ms
	// a transaction, against ~1.4 ms first, on Kafka 4.4).
	unreported := b.unreported(l, st)
	if unreported {
		if err := sendOffsets(); err != nil {
			return abort(err)
		}
	}
	if err := b.produceAll(ctx, l, out, st); err != nil {
		return abort(err)
	}
	if !unreported {
		if err := sendOffsets(); err != nil {
			return abort(err)
		}
	}
	for {
		err := b.bounded(ctx, "CommitTransaction", l.producer.CommitTransaction)
		if err == nil {
			return nil
		}
		var hung *HungError
		if errors.As(err, &hung) {
			return err
		}
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.IsRetriable() && ctx.Err() == nil {
			continue // The commit may be retried as is.
		}
		if errors.As(err, &kerr) && kerr.TxnRequiresAbort() {
			return abort(fmt.Errorf("commit transaction: %w", err))
		}
		return fmt.Errorf("commit transaction: %w", err)
	}
}

// copyAtLeastOnce produces the batch with the idempotent producer, waits
// until every record is acknowledged (on a first attempt, vouched for by
// the last of each partition: produceMarked), then commits the offsets.
func (b *Bridge) copyAtLeastOnce(ctx context.Context, l *lane, c *kafka.Consumer, batch []*kafka.Message, st *attemptState) error {
	// A first attempt runs on a gapless producer, a retry on one that
	// reports every record, and none on a producer that failed for good.
	if gapless := !st.reported && len(st.singles) == 0; gapless != l.gapless || l.producer.GetFatalError() != nil {
		if err := b.replaceProducer(ctx, l, gapless); err != nil {
			return err
		}
	}
	out, err := b.prepare(ctx, batch, st)
	if err != nil {
		return err
	}
	if err := b.produceAll(ctx, l, out, st); err != nil {
		return err
	}
	if _, err := c.CommitOffsets(offsetsOf(batch)); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// replaceProducer closes the lane's at-least-once producer and opens a
// gapless one or one that reports every record. It first waits, up to the
// operation timeout, for the old one to hold no record, so that nothing it
// still has in flight can land after the new one's records.
func (b *Bridge) replaceProducer(ctx context.Context, l *lane, gapless bool) error {
	wctx, cancel := context.WithTimeout(ctx, b.opts.Client.OperationTimeout())
	err := flushAll(wctx, l.producer)
	cancel()
	if err != nil {
		b.log.Warn("replacing a producer that failed or still holds records; dropping them", "lane", l.id, "records", l.producer.Len(), "err", err)
		_ = l.producer.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
	}
	l.producer.Close()
	p, err := b.newProducer(ctx, l.id, gapless)
	if err != nil {
		return err
	}
	l.producer, l.gapless = p, gapless
	go b.drainProducerEvents(p)
	return nil
}

// countCopied updates the copy metrics of a committed batch, from the
// tally of the attempt that was committed.
func (b *Bridge) countCopied(st *attemptState) {
	m := b.opts.Metrics
	for rename, n := range st.tally {
		m.Records.WithLabelValues(rename).Add(float64(n.copied))
		m.Bytes.WithLabelValues(rename).Add(float64(n.bytes))
		if n.skipped > 0 {
			m.Skipped.WithLabelValues(rename).Add(float64(n.skipped))
		}
		for errType, k := range n.dead {
			m.DeadLetters.WithLabelValues(rename, errType).Add(float64(k))
		}
	}
}

// ensureDLQ creates the route's DLQ topic on first use, unless it exists:
// Kafka refuses CreateTopics without Create even for an existing topic, and
// a least-privilege bridge may only Write to a DLQ an admin made.
func (b *Bridge) ensureDLQ(ctx context.Context, r Route) error {
	b.dlqMu.Lock()
	defer b.dlqMu.Unlock()
	if b.dlqReady[r.DLQ] {
		return nil
	}
	if b.opts.Admin == nil {
		return fmt.Errorf("a record of %s must go to the DLQ %s, but the bridge has no admin connection to create it", r.From, r.DLQ)
	}
	if ok, err := b.opts.Admin.TopicExists(ctx, r.DLQ); err == nil && ok {
		b.dlqReady[r.DLQ] = true
		return nil
	}
	res, err := b.opts.Admin.CreateTopics(ctx, []admin.TopicSpec{{
		Name: r.DLQ, Partitions: 1, ReplicationFactor: r.TargetReplicationFactor,
		Configs: map[string]string{"max.message.bytes": fmt.Sprint(dlqMaxBytes)},
	}}, false)
	if err != nil {
		return err
	}
	if e := res[r.DLQ]; e != nil && !errors.Is(e, admin.ErrTopicExists) {
		if unauthorized(e) {
			return fmt.Errorf("create DLQ: %w (a record of %s must go there: grant the bridge's principal Create on %s, or create it and grant Write on it: runbooks/security.md)", e, r.From, r.DLQ)
		}
		return fmt.Errorf("create DLQ: %w", e)
	}
	if err := b.opts.Admin.WaitForTopics(ctx, []string{r.DLQ}, true); err != nil {
		return err
	}
	b.dlqReady[r.DLQ] = true
	return nil
}

// unauthorized reports whether err is Kafka refusing this principal an
// operation: retrying cannot help until someone grants it.
func unauthorized(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr.Code() {
	case kafka.ErrTopicAuthorizationFailed, kafka.ErrGroupAuthorizationFailed, kafka.ErrClusterAuthorizationFailed, kafka.ErrTransactionalIDAuthorizationFailed:
		return true
	}
	return false
}

// groupLost reports whether err means this member's group generation is
// no longer current.
func groupLost(err error) bool {
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr.Code() {
	case kafka.ErrIllegalGeneration, kafka.ErrUnknownMemberID, kafka.ErrFencedInstanceID, kafka.ErrRebalanceInProgress:
		return true
	}
	return false
}
