package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
)

// Delivery is the bridge's delivery guarantee.
type Delivery string

const (
	// ExactlyOnce consumes read_committed and produces each batch in a
	// transaction that also commits the consumed offsets.
	ExactlyOnce Delivery = "exactly-once"
	// AtLeastOnce produces with an idempotent producer and commits offsets
	// after every record is acknowledged: faster, but a crash between the
	// two copies a batch twice.
	AtLeastOnce Delivery = "at-least-once"
)

// DefaultGroup is the consumer group of the bridge when none is named:
// its committed offsets say how far the copy of each old topic is.
const DefaultGroup = "topic-migrator-bridge"

// Options configure a bridge.
type Options struct {
	Client clientconfig.Config
	// Group is the consumer group the bridge processes share.
	Group string
	// InstanceID tells this process from the others of the group; it
	// names the transactional producer, so a restarted process with the
	// same id aborts what its previous run left open. Default: hostname.
	InstanceID  string
	Delivery    Delivery
	Headers     HeaderPolicy
	Partitioner Partitioner
	Routes      RouteSource
	// Refresh is how often the routes are re-read (default 30s).
	Refresh time.Duration
	// MaxBatchRecords and MaxBatchBytes bound one polled batch, which is
	// dealt to the lanes by partition (each lane's share is one
	// transaction), and so the memory the bridge holds (defaults 20000
	// records, 8 MiB).
	MaxBatchRecords int
	MaxBatchBytes   int
	// Lanes is how many producers copy side by side, each owning a share of
	// the assigned partitions and committing its own transactions
	// (default: one per core, at least 2, at most 8). Lane 0's
	// transactional id is the group and instance id, as with a single
	// producer; lane i's adds "-lane-i".
	Lanes int
	// Linger is how long a batch waits to fill (default 20ms).
	Linger time.Duration
	// UntilCaughtUp makes Run return once every assigned partition has
	// reached the end offset it had when it was assigned.
	UntilCaughtUp bool
	// Progress, when set, is told after each batch how many records of
	// the assigned partitions are copied out of those there were to copy
	// (from where each partition started to the end it had when assigned).
	Progress func(done, total int64)
	// ShutdownTimeout bounds finishing the open batch on stop (default 30s).
	ShutdownTimeout time.Duration
	// TransactionTimeout is the broker-side transaction timeout (default 60s).
	TransactionTimeout time.Duration
	// HungAfter is how long a transactional call may block before Run
	// gives the client up as hung and returns a *HungError (default: the
	// transaction timeout plus 15s).
	HungAfter time.Duration
	// Service is failed_by_service in dead letters (default topic-migrator).
	Service string
	Metrics *Metrics
	Log     *slog.Logger
	// Admin creates DLQ topics on first use.
	Admin *admin.Client
	// OnReady, when set, is called once the routes are loaded and the
	// bridge has subscribed (readiness).
	OnReady func()
	// OneOff makes the consumer a dynamic group member that leaves the
	// group when Run returns, instead of a static member that the group
	// keeps for the session timeout to hand its partitions back on
	// restart: for copies that run once (swap, rollback, probes).
	OneOff bool
}

func (o *Options) defaults() error {
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.InstanceID == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("instance id: %w", err)
		}
		o.InstanceID = host
	}
	if o.Delivery == "" {
		o.Delivery = ExactlyOnce
	}
	if o.Delivery != ExactlyOnce && o.Delivery != AtLeastOnce {
		return fmt.Errorf("delivery %q is not exactly-once or at-least-once", o.Delivery)
	}
	if o.Partitioner == nil {
		o.Partitioner = Murmur2Partitioner
	}
	if o.Refresh <= 0 {
		o.Refresh = 30 * time.Second
	}
	if o.MaxBatchRecords <= 0 {
		o.MaxBatchRecords = 20000
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 8 << 20
	}
	if o.Linger <= 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.TransactionTimeout <= 0 {
		o.TransactionTimeout = 60 * time.Second
	}
	if o.Service == "" {
		o.Service = "topic-migrator"
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Routes == nil {
		return errors.New("bridge: no route source")
	}
	return nil
}

// dlqMaxBytes is the max.message.bytes of DLQ topics the bridge creates,
// and deadLetterMaxBytes the size a dead letter is truncated to.
const (
	dlqMaxBytes        = 16 << 20
	deadLetterMaxBytes = dlqMaxBytes - 64<<10
	// recordOverhead is a conservative bound on a record's framing in a
	// single-record batch (batch header 61 bytes plus varints).
	recordOverhead = 128
)

// Bridge copies the records of each route's source to its target.
//
// One goroutine (loop) polls the consumer and deals each batch to the
// lanes by partition; each lane copies its batches one after another with
// its own producer while the loop polls the next batch. Every job sent to
// a lane comes back on results; only the loop reads them, and it alone
// touches the consumer's position, the epoch and the counts below.
type Bridge struct {
	opts     Options
	consumer *kafka.Consumer
	lanes    []*lane
	log      *slog.Logger

	// drainCtx ends ShutdownTimeout after Run's context: the lanes' jobs
	// finish within it.
	drainCtx context.Context
	results  chan *job
	// inflight counts the jobs sent to lanes and not handled back yet.
	inflight int
	// epoch counts rewinds; rewindPending says a lane lost the group
	// generation and the loop must rewind once the lanes are quiet.
	epoch         uint64
	rewindPending bool
	// laneErr is the first error of a lane that ends the bridge.
	laneErr      error
	lanesStopped bool
	// jobRunner, when set, stands in for runJob (tests).
	jobRunner func(l *lane, j *job)

	mu     sync.Mutex // guards routes and the assignment state below
	routes map[string]Route
	// assigned holds, per assigned partition, the end offset (LSO) seen at
	// assignment and whether it has been reached.
	assigned map[partitionKey]*progress
	// pending is the batch being filled; the rebalance callback drops the
	// records of revoked partitions from it.
	pending []*kafka.Message

	dlqMu    sync.Mutex // guards dlqReady: lanes create DLQs
	dlqReady map[string]bool
	// consumerFailed is set when the consumer raised a fatal error, or the
	// producer was fenced (the consumer's static membership then belongs to
	// the same successor).
	consumerFailed atomic.Bool
	// hung is set when a client call never returned (HungError): the
	// clients are abandoned, not closed.
	hung atomic.Bool
	// live is the consumer whose rebalances count (guarded by mu): a
	// consumer abandoned while closing may still report a revocation,
	// which must not touch the assignment of its successor.
	live *kafka.Consumer
}

func (b *Bridge) setLive(c *kafka.Consumer) {
	b.mu.Lock()
	b.live = c
	b.mu.Unlock()
}

type partitionKey struct {
	topic     string
	partition int32
}

// partitionRun remembers what was looked up for the last record's
// partition: a batch holds its records in runs of one partition, so one
// map lookup per run does instead of one per record.
type partitionRun[V any] struct {
	topic     *string
	partition int32
	value     V
}

// get returns the value remembered for m's partition, if it is the last
// one set.
func (r *partitionRun[V]) get(m *kafka.Message) (V, bool) {
	if r.topic == nil || m.TopicPartition.Partition != r.partition || *m.TopicPartition.Topic != *r.topic {
		var zero V
		return zero, false
	}
	return r.value, true
}

// set remembers v for m's partition.
func (r *partitionRun[V]) set(m *kafka.Message, v V) {
	r.topic, r.partition, r.value = m.TopicPartition.Topic, m.TopicPartition.Partition, v
}

type progress struct {
	start int64 // where the copy of the partition started
	end   int64 // end offset at assignment
	next  int64 // next offset to copy (committed position)
	// known says next is a committed offset: from the group when
	// assigned, or from a commit since.
	known bool
	// lane is the lane the partition is dealt to.
	lane int
	// sent is the offset after the last record sent to the lane (-1:
	// none since assignment or the last rewind), first the first such
	// record while nothing is known committed, inflight the jobs out
	// with records or end offsets of the partition.
	sent, first int64
	inflight    int
	// eof is the offset at which the consumer last reached the end; it
	// is past next when the partition ends in a transaction marker or
	// aborted records, which are never copied.
	eof     int64
	reached bool
	lastTS  time.Time
}

// Run copies until ctx is cancelled (then finishes or aborts the open
// batch within the shutdown timeout and leaves the group) or, with
// UntilCaughtUp, until every assigned partition is caught up.
func Run(ctx context.Context, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	// Epoch 0 is never a lost one (lane.lostEpoch 0 means none).
	b := &Bridge{opts: opts, log: opts.Log, epoch: 1, routes: map[string]Route{}, assigned: map[partitionKey]*progress{}, dlqReady: map[string]bool{}}
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(opts.ShutdownTimeout, cancelDrain) })
	defer stop()
	b.drainCtx = drainCtx
	if err := b.open(ctx); err != nil {
		b.close()
		return err
	}
	defer b.close()
	b.startLanes()
	err := b.loop(ctx)
	wait := b.opts.ShutdownTimeout
	if b.hung.Load() {
		wait = 0 // The process exits with the HungError; the lanes are abandoned.
	}
	b.stopLanes(wait)
	if err == nil {
		err = b.laneErr
	}
	return err
}

func (b *Bridge) open(ctx context.Context) error {
	n := laneCount(b.opts)
	b.lanes = make([]*lane, n)
	for i := range n {
		gapless := b.opts.Delivery == AtLeastOnce
		p, err := b.newProducer(ctx, i, gapless)
		if err != nil {
			return err
		}
		b.lanes[i] = &lane{id: i, producer: p, gapless: gapless, inbox: make(chan *job, 1), exited: make(chan struct{})}
		go b.drainProducerEvents(p)
	}
	return nil
}

// newProducer creates and, exactly once, initializes the producer of
// lane i. InitTransactions fences a previous process's producer with the
// same transactional id and aborts what it left open. At least once, a
// gapless producer is one for attempts without a report per record
// (produceMarked); the others report every record.
func (b *Bridge) newProducer(ctx context.Context, i int, gapless bool) (*kafka.Producer, error) {
	cfg := b.opts.Client
	producerCfg := kafka.ConfigMap{
		"client.id":                    "topic-migrator-bridge-" + b.opts.InstanceID,
		"enable.idempotence":           true,
		"acks":                         "all",
		"linger.ms":                    5,
		"message.max.bytes":            dlqMaxBytes + 1<<20,
		"queue.buffering.max.messages": 4 * b.opts.MaxBatchRecords,
		// Delivery reports carry only the partition, offset, error and
		// opaque: by default confluent-kafka-go copies every key and value
		// back into Go memory, a second copy of everything the bridge
		// writes.
		"go.delivery.report.fields": "none",
		"log_level":                 3,
	}
	id := transactionalID(b.opts.Group, b.opts.InstanceID, i)
	if b.opts.Delivery == ExactlyOnce {
		// A record produced with no report channel gets none (see
		// produceUnreported); the reported retries name their channel.
		producerCfg["go.delivery.reports"] = false
		// A transaction's AddOffsetsToTxn that finds the last one still
		// completing (CONCURRENT_TRANSACTIONS) is retried after
		// retry.backoff.ms, 100 ms by default, where librdkafka waits 20 ms
		// for AddPartitionsToTxn.
		producerCfg["retry.backoff.ms"] = 10
		producerCfg["transactional.id"] = id
		producerCfg["transaction.timeout.ms"] = int(b.opts.TransactionTimeout.Milliseconds())
	}
	if b.opts.Delivery == AtLeastOnce && gapless {
		// A record can then fail only with a fatal error of the producer
		// (one the broker refuses breaks the sequence) or together with
		// every later record of its partition (its topic or partition is
		// unknown): never alone, and never by timing out. So the last
		// record of a partition acknowledged vouches for the records
		// before it (produceMarked).
		producerCfg["enable.gapless.guarantee"] = true
		producerCfg["message.timeout.ms"] = 0
		producerCfg["go.delivery.reports"] = false
	}
	pc, err := cfg.ConfigMap(clientconfig.ProducerChannels(producerCfg))
	if err != nil {
		return nil, err
	}
	p, err := kafka.NewProducer(&pc)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("bridge producer: %w", err))
	}
	if b.opts.Delivery == ExactlyOnce {
		ictx, cancel := context.WithTimeout(ctx, cfg.OperationTimeout())
		defer cancel()
		if err := p.InitTransactions(ictx); err != nil {
			p.Close()
			return nil, cfg.ScrubError(fmt.Errorf("init transactions of %s at %s: %w", id, cfg.Bootstrap(), err))
		}
	}
	return p, nil
}

// newConsumer creates the group consumer for a set of source topics.
//
// It uses static membership, so that a process restarted with the same
// instance id takes its old place at once instead of waiting out a
// rebalance. A static member that comes back is handed its previous
// assignment, so the member id also names the topics: when the routes
// change, a new member joins (and the old one expires after the session
// timeout) and the group rebalances over the new topics.
func (b *Bridge) newConsumer(topics []string) (*kafka.Consumer, error) {
	h := fnv.New32a()
	for _, t := range topics {
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	settings := kafka.ConfigMap{
		"group.id":                        b.opts.Group,
		"group.instance.id":               fmt.Sprintf("%s-%08x", b.opts.InstanceID, h.Sum32()),
		"client.id":                       "topic-migrator-bridge-" + b.opts.InstanceID,
		"enable.auto.commit":              false,
		"enable.auto.offset.store":        false,
		"isolation.level":                 "read_committed",
		"auto.offset.reset":               "earliest",
		"enable.partition.eof":            true,
		"partition.assignment.strategy":   "range",
		"go.application.rebalance.enable": false,
		"fetch.max.bytes":                 b.opts.MaxBatchBytes,
		// Prefetch up to two batches, and when the prefetch queue is full,
		// look again soon (librdkafka's default waits a whole second).
		"queued.max.messages.kbytes": max(2*b.opts.MaxBatchBytes/1024, 1024),
		"fetch.queue.backoff.ms":     10,
		"session.timeout.ms":         10000,
		"max.poll.interval.ms":       30000,
		"heartbeat.interval.ms":      1000,
		"log_level":                  3,
	}
	if b.opts.OneOff {
		delete(settings, "group.instance.id")
	}
	consumerCfg, err := b.opts.Client.ConfigMap(settings)
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&consumerCfg)
	if err != nil {
		return nil, b.opts.Client.ScrubError(fmt.Errorf("bridge consumer: %w", err))
	}
	return c, nil
}

// drainProducerEvents consumes the producer's event channel (errors and
// stray reports); deliveries of copied records go to per-batch channels.
func (b *Bridge) drainProducerEvents(p *kafka.Producer) {
	for ev := range p.Events() {
		if e, ok := ev.(kafka.Error); ok {
			b.log.Warn("producer", "err", e)
		}
	}
}

func (b *Bridge) close() {
	if b.hung.Load() {
		// Closing a wedged librdkafka client blocks as well; the process
		// exits with the HungError and takes the clients with it.
		return
	}
	if b.consumer != nil {
		b.closeConsumer()
	}
	for _, l := range b.lanes {
		if l == nil {
			continue
		}
		if b.lanesStopped {
			select {
			case <-l.exited:
			default:
				// Still in a client call that outlived the shutdown
				// timeout: closing the producer under it is not safe.
				b.log.Warn("lane still busy; abandoning its producer", "lane", l.id)
				continue
			}
		}
		l.producer.Close()
	}
}

// closeConsumer leaves the group, waiting at most the shutdown timeout. A
// consumer that hit a fatal error (a static member fenced by another with
// its instance id) never finishes closing in librdkafka, so it is
// abandoned after 5 s: the bridge is exiting with that error anyway.
func (b *Bridge) closeConsumer() {
	c := b.consumer
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	wait := b.opts.ShutdownTimeout
	if b.consumerFailed.Load() {
		wait = min(wait, 5*time.Second)
	}
	select {
	case err := <-done:
		if err != nil {
			b.log.Warn("close consumer", "err", err)
		}
	case <-time.After(wait):
		b.log.Warn("consumer did not close; abandoning it", "after", wait, "fatal", b.consumerFailed.Load())
	}
}

func (b *Bridge) loop(ctx context.Context) error {
	var lastRefresh time.Time
	for {
		if err := b.collect(); err != nil {
			return err
		}
		if b.rewindPending {
			if err := b.quiesce(); err != nil {
				return err
			}
			b.rewind()
		}
		if ctx.Err() != nil {
			b.log.Info("bridge stopping", "reason", ctx.Err())
			// The batches the lanes hold are finished within the shutdown
			// timeout (Run stops the lanes).
			return nil
		}
		if time.Since(lastRefresh) >= b.opts.Refresh {
			if err := b.refreshRoutes(ctx); err != nil {
				if ctx.Err() != nil {
					// Stopped while re-reading the routes: a clean stop, not a
					// failure to read them.
					b.log.Info("bridge stopping", "reason", ctx.Err())
					return nil
				}
				return err
			}
			if lastRefresh.IsZero() && b.opts.OnReady != nil {
				b.opts.OnReady()
			}
			if lastRefresh.IsZero() && b.opts.UntilCaughtUp && b.routeCount() == 0 {
				return ErrNothingToCopy
			}
			lastRefresh = time.Now()
		}
		fillStart := time.Now()
		batch, err := b.fill(ctx)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			b.log.Debug("batch filled", "records", len(batch), "took", time.Since(fillStart))
			// A batch taken from the consumer goes to the lanes even when
			// ctx is cancelled now: they finish it within the shutdown
			// timeout. After a lost generation, the lane that lost it skips
			// it and the rewind fetches it again.
			b.dispatch(batch)
		}
		if err := b.collect(); err != nil {
			return err
		}
		if !b.rewindPending {
			b.commitEnds()
		}
		if b.opts.Progress != nil {
			b.opts.Progress(b.copied())
		}
		if b.opts.UntilCaughtUp && b.caughtUp() {
			done, err := b.settle()
			if err != nil {
				return err
			}
			if done {
				b.log.Info("caught up with every assigned partition")
				return nil
			}
		}
	}
}

// settle waits for the lanes, commits the ends past trailing markers and
// reports whether every assigned partition is still caught up then.
func (b *Bridge) settle() (bool, error) {
	if err := b.quiesce(); err != nil {
		return false, err
	}
	if b.rewindPending {
		return false, nil
	}
	b.commitEnds()
	if err := b.quiesce(); err != nil {
		return false, err
	}
	if b.rewindPending {
		return false, nil
	}
	if b.opts.Progress != nil {
		b.opts.Progress(b.copied())
	}
	return b.caughtUp(), nil
}

// ErrNothingToCopy is returned by a bridge told to copy until caught up
// that has no route to copy when it starts.
var ErrNothingToCopy = errors.New("nothing to copy: no route has both its topics")

// routeCount is how many routes the bridge copies.
func (b *Bridge) routeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.routes)
}

// refreshRoutes re-reads the routes and re-subscribes when they changed.
func (b *Bridge) refreshRoutes(ctx context.Context) error {
	routes, err := b.opts.Routes.Routes(ctx)
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	next := map[string]Route{}
	for _, r := range routes {
		next[r.From] = r
	}
	b.mu.Lock()
	changed := len(next) != len(b.routes)
	for k, r := range next {
		if b.routes[k] != r {
			changed = true
		}
	}
	b.routes = next
	b.mu.Unlock()
	if !changed {
		return nil
	}
	b.opts.Metrics.setRoutes(next)
	topics := make([]string, 0, len(next))
	for t := range next {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	// Once the lanes are quiet nothing is in flight: the consumer of the
	// old topics leaves the group and one for the new topics joins.
	if b.consumer != nil {
		if err := b.quiesce(); err != nil {
			return err
		}
		b.closeConsumer()
		b.consumer = nil
		b.setLive(nil)
		b.mu.Lock()
		for k := range b.assigned {
			b.opts.Metrics.forgetPartition(k)
		}
		clear(b.assigned)
		b.mu.Unlock()
	}
	if len(topics) == 0 {
		b.log.Info("nothing to mirror: no rename has both its topics (re-checking)", "every", b.opts.Refresh)
		return nil
	}
	c, err := b.newConsumer(topics)
	if err != nil {
		return err
	}
	b.consumer = c
	b.setLive(c)
	b.log.Info("mirroring", "routes", routes)
	if err := b.consumer.SubscribeTopics(topics, b.rebalance); err != nil {
		return fmt.Errorf("subscribe to %v: %w", topics, err)
	}
	return nil
}

// rebalance is called from Poll while a batch fills (or from Close). A
// revocation waits for every lane to commit or abort what it holds first
// (KIP-447: the new owner must not read offsets still pending in an open
// transaction, nor this member commit them after it lost the partitions).
func (b *Bridge) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	b.mu.Lock()
	live := c == b.live
	b.mu.Unlock()
	if !live {
		return nil // confluent-kafka-go assigns or unassigns by itself
	}
	b.opts.Metrics.Rebalances.Inc()
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		parts, err := b.startPositions(e.Partitions)
		if err != nil {
			// Without its start positions the bridge cannot copy the
			// partitions it was given: it stops (a supervisor restarts
			// it) rather than hold them and copy nothing.
			b.log.Error("start positions", "err", err)
			if b.laneErr == nil {
				b.laneErr = fmt.Errorf("start positions of %s: %w", describePartitions(e.Partitions), err)
			}
			return err
		}
		b.dealLanes(parts)
		b.log.Info("assigned", "partitions", describePartitions(parts), "lanes", min(len(parts), len(b.lanes)))
		return c.Assign(parts)
	case kafka.RevokedPartitions:
		if err := b.quiesce(); err != nil {
			// The loop returns it; the revocation goes on.
			b.log.Warn("lane failed while draining for a revocation", "err", err)
		}
		b.mu.Lock()
		revoked := map[partitionKey]bool{}
		for _, tp := range e.Partitions {
			k := partitionKey{*tp.Topic, tp.Partition}
			revoked[k] = true
			delete(b.assigned, k)
			b.opts.Metrics.forgetPartition(k)
		}
		// Records polled but not yet copied from revoked partitions are
		// dropped: their new owner starts from the committed offset.
		b.pending = slices.DeleteFunc(b.pending, func(m *kafka.Message) bool {
			return revoked[partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}]
		})
		b.mu.Unlock()
		b.log.Info("revoked", "partitions", describePartitions(e.Partitions))
		return c.Unassign()
	}
	return nil
}

// startPositions resolves where each newly assigned partition starts: its
// committed offset, else the route's start (earliest, latest or a time).
// It records the end offset to reach for UntilCaughtUp.
func (b *Bridge) startPositions(parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	timeoutMs := int(b.opts.Client.OperationTimeout().Milliseconds())
	// A bridge process that died inside a transaction leaves its offsets
	// pending (KIP-447): Kafka answers the committed offsets of those
	// partitions only once the broker aborted that transaction, within
	// the transaction timeout. Until then the fetch times out; it is
	// retried for that long.
	deadline := time.Now().Add(b.opts.TransactionTimeout + 15*time.Second)
	committed, err := b.consumer.Committed(parts, timeoutMs)
	for err != nil && time.Now().Before(deadline) {
		var kerr kafka.Error
		if !errors.As(err, &kerr) || (kerr.Code() != kafka.ErrTimedOut && kerr.Code() != kafka.ErrUnstableOffsetCommit) {
			break
		}
		b.log.Warn("committed offsets of the assigned partitions not readable yet (a transaction of a bridge process that died may hold them until the transaction timeout); retrying", "err", err)
		committed, err = b.consumer.Committed(parts, timeoutMs)
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var byTime []kafka.TopicPartition
	out := make([]kafka.TopicPartition, len(committed))
	for i, tp := range committed {
		out[i] = tp
		if tp.Offset >= 0 {
			continue
		}
		switch start := b.routes[*tp.Topic].Start; start {
		case "latest":
			out[i].Offset = kafka.OffsetEnd
		case "", "earliest":
			out[i].Offset = kafka.OffsetBeginning
		default:
			at, err := time.Parse(time.RFC3339, start)
			if err != nil {
				return nil, fmt.Errorf("start of %s: %w", *tp.Topic, err)
			}
			out[i].Offset = kafka.Offset(at.UnixMilli())
			byTime = append(byTime, out[i])
		}
	}
	if len(byTime) > 0 {
		resolved, err := b.consumer.OffsetsForTimes(byTime, timeoutMs)
		if err != nil {
			return nil, fmt.Errorf("offsets for start time: %w", err)
		}
		for _, r := range resolved {
			for i := range out {
				if *out[i].Topic == *r.Topic && out[i].Partition == r.Partition {
					out[i].Offset = r.Offset
				}
			}
		}
	}
	ends, err := b.partitionEnds(out)
	if err != nil {
		return nil, err
	}
	for _, tp := range out {
		e := ends[partitionKey{*tp.Topic, tp.Partition}]
		low, high := e[0], e[1]
		p := &progress{start: low, end: high, sent: -1, first: -1}
		if tp.Offset >= 0 {
			p.next = int64(tp.Offset)
			p.start = p.next
			p.known = true
		}
		if tp.Offset == kafka.OffsetEnd {
			p.start = high
		}
		p.reached = high == 0 || (tp.Offset >= 0 && int64(tp.Offset) >= high) || tp.Offset == kafka.OffsetEnd
		b.assigned[partitionKey{*tp.Topic, tp.Partition}] = p
	}
	return out, nil
}

// partitionEnds returns the first offset and the end of each partition.
// The end is the high watermark, read uncommitted, not the last stable
// offset the bridge's read_committed consumer would be told: Kafka
// answers a transaction's commit before it writes the commit markers, and
// until it has, the records of other producers written after the
// transaction are invisible to read_committed. A bridge copying until
// caught up must not stop before them (a copy that stopped there lost the
// records written after an aborted transaction on real Kafka).
func (b *Bridge) partitionEnds(parts []kafka.TopicPartition) (map[partitionKey][2]int64, error) {
	a, err := kafka.NewAdminClientFromConsumer(b.consumer)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Client.OperationTimeout())
	defer cancel()
	out := make(map[partitionKey][2]int64, len(parts))
	for i, spec := range []kafka.OffsetSpec{kafka.EarliestOffsetSpec, kafka.LatestOffsetSpec} {
		req := make(map[kafka.TopicPartition]kafka.OffsetSpec, len(parts))
		for _, tp := range parts {
			req[kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = spec
		}
		res, err := a.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadUncommitted))
		if err != nil {
			return nil, b.opts.Client.ScrubError(fmt.Errorf("end offsets of the assigned partitions: %w", err))
		}
		for tp, info := range res.ResultInfos {
			if info.Error.Code() != kafka.ErrNoError {
				return nil, fmt.Errorf("end offset of %s/%d: %w", *tp.Topic, tp.Partition, info.Error)
			}
			k := partitionKey{*tp.Topic, tp.Partition}
			e := out[k]
			e[i] = int64(info.Offset)
			out[k] = e
		}
	}
	for _, tp := range parts {
		if _, ok := out[partitionKey{*tp.Topic, tp.Partition}]; !ok {
			return nil, fmt.Errorf("end offset of %s/%d: not in the broker's answer", *tp.Topic, tp.Partition)
		}
	}
	return out, nil
}

func describePartitions(parts []kafka.TopicPartition) []string {
	out := make([]string, len(parts))
	for i, tp := range parts {
		out[i] = fmt.Sprintf("%s/%d@%s", *tp.Topic, tp.Partition, tp.Offset)
	}
	return out
}

// fill polls records into a batch until it is full, the linger time has
// passed, or no record is waiting.
func (b *Bridge) fill(ctx context.Context) ([]*kafka.Message, error) {
	b.mu.Lock()
	b.pending = b.pending[:0]
	b.mu.Unlock()
	if b.consumer == nil {
		// Nothing to mirror yet: wait for the next route refresh.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return nil, nil
	}
	deadline := time.Now().Add(b.opts.Linger)
	bytes := 0
	for ctx.Err() == nil {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n >= b.opts.MaxBatchRecords || bytes >= b.opts.MaxBatchBytes {
			break
		}
		wait := time.Until(deadline)
		if n == 0 {
			wait = 100 * time.Millisecond
		} else if wait <= 0 {
			break
		}
		ev := b.consumer.Poll(int(max(wait.Milliseconds(), 1)))
		switch e := ev.(type) {
		case nil:
			if n == 0 {
				return nil, nil
			}
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				b.log.Warn("consume", "partition", e.TopicPartition, "err", e.TopicPartition.Error)
				continue
			}
			b.mu.Lock()
			b.pending = append(b.pending, e)
			b.mu.Unlock()
			bytes += len(e.Key) + len(e.Value)
		case kafka.PartitionEOF:
			b.mu.Lock()
			if p := b.assigned[partitionKey{*e.Topic, e.Partition}]; p != nil {
				p.eof = max(p.eof, int64(e.Offset))
				if int64(e.Offset) >= p.end {
					p.reached = true
				}
			}
			b.mu.Unlock()
			if n == 0 {
				return nil, nil
			}
		case kafka.Error:
			if e.IsFatal() {
				b.consumerFailed.Store(true)
				return nil, b.opts.Client.ScrubError(fmt.Errorf("bridge consumer: %w (another bridge process with instance id %q may have joined the group, or the broker restarted and fenced this member: restart the bridge)", e, b.opts.InstanceID))
			}
			b.log.Warn("consumer", "err", b.opts.Client.Scrub(e.Error()))
			if n == 0 {
				return nil, nil
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	batch := make([]*kafka.Message, len(b.pending))
	copy(batch, b.pending)
	b.pending = b.pending[:0]
	return batch, nil
}

// copied returns how many records of the assigned partitions are copied
// out of those there were to copy when they were assigned.
func (b *Bridge) copied() (done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.assigned {
		todo := max(p.end-p.start, 0)
		total += todo
		done += min(max(max(p.next, p.eof)-p.start, 0), todo)
	}
	return done, total
}

// caughtUp reports whether every assigned partition reached its end.
func (b *Bridge) caughtUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.assigned) == 0 {
		return false
	}
	for _, p := range b.assigned {
		if !p.reached {
			return false
		}
	}
	return true
}

// updateProgress records the batch as copied: positions, lag and the
// caught-up state. Lanes call it; c is the consumer the batch came from.
func (b *Bridge) updateProgress(c *kafka.Consumer, batch []*kafka.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var run partitionRun[*progress]
	for _, m := range batch {
		p, ok := run.get(m)
		if !ok {
			p = b.assigned[partitionKey{*m.TopicPartition.Topic, m.TopicPartition.Partition}]
			run.set(m, p)
		}
		if p == nil {
			continue
		}
		p.next = int64(m.TopicPartition.Offset) + 1
		p.known = true
		p.lastTS = m.Timestamp
		if p.next >= p.end {
			p.reached = true
		}
	}
	for k, p := range b.assigned {
		_, high, err := c.GetWatermarkOffsets(k.topic, k.partition)
		if err != nil || high < 0 {
			continue
		}
		lag := max(high-p.next, 0)
		part := strconv.Itoa(int(k.partition))
		b.opts.Metrics.LagRecords.WithLabelValues(k.topic, part).Set(float64(lag))
		age := 0.0
		if lag > 0 && !p.lastTS.IsZero() {
			age = time.Since(p.lastTS).Seconds()
		}
		b.opts.Metrics.LagSeconds.WithLabelValues(k.topic, part).Set(age)
	}
}

// commitEnds commits the end offset of every partition whose end the
// consumer reached past the last copied record, because the partition
// ends in a transaction marker or aborted records. Without it the group
// would stay behind the end by those offsets forever, and drain, status
// and cutover would wait for records that do not exist. Only partitions
// with nothing out in a lane qualify (their records up to the end are
// committed); the partition's own lane commits the offset.
func (b *Bridge) commitEnds() {
	jobs := make([]*job, len(b.lanes))
	b.mu.Lock()
	for k, p := range b.assigned {
		if p.eof <= p.next || p.inflight > 0 || (p.sent >= 0 && (!p.known || p.sent > p.next)) {
			continue
		}
		j := jobs[p.lane]
		if j == nil {
			j = &job{lane: b.lanes[p.lane], consumer: b.consumer, epoch: b.epoch}
			jobs[p.lane] = j
		}
		topic := k.topic
		j.ends = append(j.ends, kafka.TopicPartition{Topic: &topic, Partition: k.partition, Offset: kafka.Offset(p.eof)})
		j.parts = append(j.parts, p)
		p.inflight++
	}
	b.mu.Unlock()
	for _, j := range jobs {
		if j != nil {
			b.send(j)
		}
	}
}

// commitOffsetsOnly commits consumed offsets with no records: in a
// transaction of its own when exactly once.
func (b *Bridge) commitOffsetsOnly(ctx context.Context, l *lane, c *kafka.Consumer, tps []kafka.TopicPartition) error {
	if b.opts.Delivery == AtLeastOnce {
		if _, err := c.CommitOffsets(tps); err != nil {
			return fmt.Errorf("commit end offsets: %w", err)
		}
		return nil
	}
	if err := l.producer.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	meta, err := c.GetConsumerGroupMetadata()
	if err == nil {
		err = b.bounded(ctx, "SendOffsetsToTransaction", func(ctx context.Context) error {
			return l.producer.SendOffsetsToTransaction(ctx, tps, meta)
		})
	}
	if err == nil {
		err = b.bounded(ctx, "CommitTransaction", l.producer.CommitTransaction)
	}
	var hung *HungError
	if errors.As(err, &hung) {
		return err
	}
	if err != nil {
		if aerr := b.bounded(ctx, "AbortTransaction", l.producer.AbortTransaction); aerr != nil {
			if errors.As(aerr, &hung) {
				return aerr
			}
			b.log.Warn("abort transaction", "err", aerr)
		}
		return fmt.Errorf("commit end offsets: %w", err)
	}
	return nil
}
