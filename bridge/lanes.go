package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// maxAutoLanes bounds the lane count chosen from the cores: every lane is
// a producer with its own connections and threads.
const maxAutoLanes = 8

// laneCount is how many lanes the bridge runs: Options.Lanes, else one per
// core, at least 2 and at most maxAutoLanes. Partitions are dealt to at
// most this many lanes; with fewer partitions some lanes stay idle.
func laneCount(opts Options) int {
	if opts.Lanes > 0 {
		return opts.Lanes
	}
	return min(max(2, runtime.GOMAXPROCS(0)), maxAutoLanes)
}

// transactionalID is the transactional id of lane i. Lane 0 keeps the id
// the bridge always had, so that a restarted process with the same
// instance id fences its predecessor exactly as before.
func transactionalID(group, instance string, i int) string {
	id := group + "-" + instance
	if i == 0 {
		return id
	}
	return id + "-lane-" + strconv.Itoa(i)
}

// lane is one producer and the goroutine that copies the batches of the
// partitions dealt to it, one after another: each batch in a transaction
// of its own (exactly once) that commits its offsets with the consumer's
// group metadata (KIP-447), so that one lane's commit round trip does not
// stall the others.
type lane struct {
	id       int
	producer *kafka.Producer
	// gapless is set while the producer is an at-least-once producer for
	// attempts without a report per record (newProducer).
	gapless bool
	// inbox holds the work queued for the lane: one job besides the one
	// it copies, so memory stays bounded by a few batches.
	inbox chan *job
	// exited is closed when the lane's goroutine returns.
	exited chan struct{}
	// lostEpoch is the epoch of the last job whose group generation was
	// lost; later jobs of that epoch are skipped (only the lane's
	// goroutine touches it).
	lostEpoch uint64
	// failed is set after an error that ends the bridge: later jobs are
	// skipped.
	failed bool
	// scratch, headers and headerBuf hold the copy being produced
	// (copyMessage); only the lane's goroutine touches them.
	scratch   kafka.Message
	headers   []kafka.Header
	headerBuf []byte
}

// job is one lane's share of a polled batch, or the end offsets of idle
// partitions to commit.
type job struct {
	lane     *lane
	consumer *kafka.Consumer
	records  []*kafka.Message
	ends     []kafka.TopicPartition
	// parts are the partitions the job holds work of; their in-flight
	// counts are released when its result is handled.
	parts []*progress
	// epoch is the rewind epoch the job was dispatched in.
	epoch uint64
	err   error
	// lost is set when the job was given up because the group generation
	// was lost (or because an earlier job of its lane was): its partitions
	// must be rewound.
	lost bool
}

// startLanes starts the goroutine of every lane.
func (b *Bridge) startLanes() {
	n := 0
	for _, l := range b.lanes {
		n += cap(l.inbox) + 1
	}
	b.results = make(chan *job, n)
	for _, l := range b.lanes {
		go b.runLane(l)
	}
}

// runLane copies the lane's jobs until its inbox is closed. Every job it
// takes is sent back on b.results, done, failed or skipped: the poll loop
// counts on it.
func (b *Bridge) runLane(l *lane) {
	defer close(l.exited)
	for j := range l.inbox {
		switch {
		case l.failed:
			j.err = errLaneFailed
		case j.epoch <= l.lostEpoch:
			// An earlier job of this lane could not commit: copying this
			// one would commit offsets past records not copied.
			j.lost = true
		default:
			if b.jobRunner != nil {
				b.jobRunner(l, j)
			} else {
				b.runJob(l, j)
			}
			if j.lost {
				l.lostEpoch = j.epoch
			} else if j.err != nil {
				l.failed = true
			}
		}
		b.results <- j
	}
}

// errLaneFailed marks the jobs a lane skipped after an error that ends
// the bridge.
var errLaneFailed = errors.New("lane stopped after an error")

// runJob copies a job's records or commits its end offsets, with the
// shutdown timeout from when it starts (or from the stop, when sooner).
func (b *Bridge) runJob(l *lane, j *job) {
	ctx, cancel := context.WithTimeout(b.drainCtx, b.opts.ShutdownTimeout)
	defer cancel()
	if len(j.records) > 0 {
		lost, err := b.copyBatch(ctx, l, j.consumer, j.records)
		j.lost, j.err = lost, err
		return
	}
	err := b.commitOffsetsOnly(ctx, l, j.consumer, j.ends)
	switch {
	case err == nil:
		b.mu.Lock()
		for _, tp := range j.ends {
			if p := b.assigned[partitionKey{*tp.Topic, tp.Partition}]; p != nil {
				p.next = max(p.next, int64(tp.Offset))
				p.known = true
			}
		}
		b.mu.Unlock()
	case groupLost(err):
		b.log.Warn("group membership lost while committing end offsets", "lane", l.id, "err", err)
		j.lost = true
	default:
		j.err = b.fatalProducer(err)
	}
}

// dispatch deals a polled batch to the lanes by partition, keeping each
// partition's records in order. It blocks while a lane's inbox is full,
// handling the results that come back meanwhile; every lane always sends
// one back in bounded time (a wedged client call ends as a HungError), so
// the wait ends.
func (b *Bridge) dispatch(batch []*kafka.Message) {
	if len(batch) == 0 {
		return
	}
	jobs := make([]*job, len(b.lanes))
	seen := map[*progress]bool{}
	b.mu.Lock()
	var run partitionRun[*progress]
	for _, m := range batch {
		p, ok := run.get(m)
		if !ok {
			p = b.assigned[partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}]
			run.set(m, p)
		}
		if p == nil {
			continue // Revoked: its new owner copies it from the committed offset.
		}
		j := jobs[p.lane]
		if j == nil {
			j = &job{lane: b.lanes[p.lane], consumer: b.consumer, epoch: b.epoch}
			jobs[p.lane] = j
		}
		if !ok && !seen[p] {
			seen[p] = true
			p.inflight++
			j.parts = append(j.parts, p)
		}
		off := int64(m.TopicPartition.Offset)
		if p.sent < 0 && !p.known {
			p.first = off
		}
		p.sent = off + 1
		j.records = append(j.records, m)
	}
	b.mu.Unlock()
	for _, j := range jobs {
		if j != nil {
			b.send(j)
		}
	}
}

// send queues a job in its lane's inbox, handling results while the inbox
// is full.
func (b *Bridge) send(j *job) {
	b.inflight++
	for {
		select {
		case j.lane.inbox <- j:
			return
		case r := <-b.results:
			b.handle(r)
		}
	}
}

// handle takes in a lane's result: it releases the job's partitions and
// records an error that ends the bridge or the need to rewind.
func (b *Bridge) handle(j *job) {
	b.inflight--
	b.mu.Lock()
	for _, p := range j.parts {
		p.inflight--
	}
	b.mu.Unlock()
	switch {
	case j.lost:
		b.rewindPending = true
	case j.err != nil && !errors.Is(j.err, errLaneFailed) && b.laneErr == nil:
		b.laneErr = j.err
	}
}

// collect handles the results already back, without waiting.
func (b *Bridge) collect() error {
	for {
		select {
		case r := <-b.results:
			b.handle(r)
		default:
			return b.laneErr
		}
	}
}

// quiesce waits until every job sent to the lanes is back: committed,
// given up or failed. It does not poll the consumer meanwhile; each job is
// bounded by the shutdown timeout and the hung-call limit.
func (b *Bridge) quiesce() error {
	for b.inflight > 0 {
		b.handle(<-b.results)
	}
	return b.laneErr
}

// rewind, once every lane is quiet, moves the consumer back to the first
// uncommitted record of each assigned partition that had records sent to
// a lane and not committed, because a lane lost the group generation. The
// records of later jobs of those partitions were skipped, not copied, so
// the copy resumes in order from the committed offset.
func (b *Bridge) rewind() {
	for _, tp := range b.rewindTargets() {
		if err := b.consumer.Seek(tp, 0); err != nil {
			b.log.Info("rewind skipped: partition no longer assigned", "partition", tp, "err", err)
			continue
		}
		b.log.Warn("group membership lost during a batch; rewound to the committed offset", "partition", fmt.Sprintf("%s/%d@%d", *tp.Topic, tp.Partition, tp.Offset))
	}
}

// rewindTargets starts a new epoch and returns, sorted, where each
// assigned partition with records sent and not committed must start
// again: its committed offset, or the first record sent when none is
// known. It forgets what was sent of them.
func (b *Bridge) rewindTargets() []kafka.TopicPartition {
	b.rewindPending = false
	b.epoch++
	b.mu.Lock()
	var seeks []kafka.TopicPartition
	for k, p := range b.assigned {
		if p.sent < 0 || (p.known && p.sent <= p.next) {
			continue
		}
		to := p.first
		if p.known {
			to = p.next
		}
		topic := k.topic
		seeks = append(seeks, kafka.TopicPartition{Topic: &topic, Partition: k.partition, Offset: kafka.Offset(to)})
		p.sent, p.first = -1, -1
		p.eof = 0
		p.reached = p.known && p.next >= p.end
	}
	b.pending = b.pending[:0]
	b.mu.Unlock()
	slices.SortFunc(seeks, func(a, c kafka.TopicPartition) int {
		if n := cmp.Compare(*a.Topic, *c.Topic); n != 0 {
			return n
		}
		return int(a.Partition - c.Partition)
	})
	return seeks
}

// dealLanes deals newly assigned partitions to the lanes, round robin in
// topic and partition order.
func (b *Bridge) dealLanes(parts []kafka.TopicPartition) {
	keys := make([]partitionKey, 0, len(parts))
	for _, tp := range parts {
		keys = append(keys, partitionKey{*tp.Topic, tp.Partition})
	}
	slices.SortFunc(keys, func(a, c partitionKey) int {
		if n := cmp.Compare(a.topic, c.topic); n != 0 {
			return n
		}
		return int(a.partition - c.partition)
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, k := range keys {
		if p := b.assigned[k]; p != nil {
			p.lane = i % len(b.lanes)
		}
	}
}

// stopLanes waits at most wait for the jobs still out, then closes the
// inboxes so that the lanes' goroutines return.
func (b *Bridge) stopLanes(wait time.Duration) {
	if b.lanesStopped {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for b.inflight > 0 {
		select {
		case r := <-b.results:
			b.handle(r)
		case <-timer.C:
			b.log.Warn("lanes did not finish their batches; abandoning them", "after", wait, "jobs", b.inflight)
			b.inflight = 0
		}
	}
	b.lanesStopped = true
	for _, l := range b.lanes {
		close(l.inbox)
	}
}
