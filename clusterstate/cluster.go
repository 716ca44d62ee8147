package clusterstate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/state"
)

// Defaults of Options.
const (
	DefaultStateTopic = "migrator.state"
	DefaultAuditTopic = "migrator.audit"
	// DefaultProgressTopic holds the bridge's progress marks.
	DefaultProgressTopic = "migrator.progress"
	DefaultLeaseTTL      = 2 * time.Minute
)

// TransactionalIDPrefix starts the transactional id of every rename's lease
// producer: the id is the prefix followed by the rename's from topic.
const TransactionalIDPrefix = "topic-migrator-lease-"

// pushTransactionalID is the producer of a push that writes audit entries
// and no rename (so takes no lease).
const pushTransactionalID = "topic-migrator-push"

// transactionTimeout bounds a lease transaction: one left open by a process
// that died in the middle of it holds up read_committed readers of the
// state topic until the broker aborts it, at most this long after it began
// (or at once, when the next holder initialises the producer).
const transactionTimeout = 15 * time.Second

// Key prefixes of the state topic.
const (
	renameKeyPrefix = "rename/"
	leaseKeyPrefix  = "lease/"
)

// Options configure a Cluster.
type Options struct {
	// Config is the cluster being migrated.
	Config clientconfig.Config
	// StateTopic keeps every rename's latest record and lease (default
	// migrator.state): compacted, one partition.
	StateTopic string
	// AuditTopic keeps the audit log (default migrator.audit):
	// append-only (retention.ms -1), one partition.
	AuditTopic string
	// ProgressTopic keeps the bridge's progress marks (default
	// migrator.progress): compacted, one partition. A bridge whose
	// principal may not change the state (no Write on the state topics and
	// the lease transactional ids) marks there that it copies a rename; the
	// next command that takes the rename's lease records phase mirroring.
	ProgressTopic string
	// LeaseTTL is how long a lease not renewed lasts (default 2m); a lease
	// is renewed every LeaseTTL/3 while held.
	LeaseTTL time.Duration
	// Holder is who this process is; empty fields are filled in with this
	// process's user, host, pid and program name. Command should be the
	// migrator command (e.g. "migrator cutover producers"), never a flag's
	// value: it is stored in the cluster.
	Holder Holder
	// Log gets librdkafka's logs (debug) and failed background renewals
	// (warn); nil means slog.Default().
	Log *slog.Logger

	// now is the clock that decides expiry (tests); nil means time.Now.
	now func() time.Time
	// noAutoRenew turns the background renewal off (tests: a holder that
	// stopped).
	noAutoRenew bool
}

// Holder is who holds a lease.
type Holder struct {
	User    string `json:"user"`
	Host    string `json:"host"`
	Command string `json:"command"`
	PID     int    `json:"pid"`
}

// Actor is the holder as the audit log names actors: user@host.
func (h Holder) Actor() string { return h.User + "@" + h.Host }

// String is user@host (pid, command).
func (h Holder) String() string {
	return fmt.Sprintf("%s (pid %d, command %q)", h.Actor(), h.PID, h.Command)
}

// defaultHolder fills in what h leaves empty from this process.
func defaultHolder(h Holder) Holder {
	if h.User == "" {
		h.User = os.Getenv("USER")
		if u, err := user.Current(); err == nil && u.Username != "" {
			h.User = u.Username
		}
		if h.User == "" {
			h.User = "unknown"
		}
	}
	if h.Host == "" {
		if host, err := os.Hostname(); err == nil && host != "" {
			h.Host = host
		} else {
			h.Host = "unknown"
		}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Command == "" {
		// The program's name only: its arguments may hold anything.
		h.Command = filepath.Base(os.Args[0])
	}
	return h
}

// Cluster is the state kept in a cluster: it reads both topics and takes
// leases. It is safe for concurrent use.
type Cluster struct {
	opts Options
	log  *slog.Logger
	sink *logSink
	// ends asks for the topics' high watermarks: a read_uncommitted
	// consumer that never consumes (a read_committed one gets the last
	// stable offset).
	ends     *kafka.Consumer
	state    *tail
	audit    *tail
	progress *tail

	// view is the state topic as far as it was read; guarded by state.mu.
	view stateView
	// entries is the audit topic as far as it was read; guarded by
	// audit.mu.
	entries []state.AuditEntry
	// marks are the progress topic's marks by rename; guarded by
	// progress.mu.
	marks map[string]Mark

	mu     sync.Mutex
	leases map[*Lease]struct{}
	closed bool
}

// stateView is the latest record of each key of the state topic.
type stateView struct {
	renames map[string][]byte // from → the rename's JSON
	revs    map[string]int64  // from → the rename's revision
	leases  map[string]LeaseInfo
}

func (v stateView) clone() stateView {
	return stateView{renames: maps.Clone(v.renames), revs: maps.Clone(v.revs), leases: maps.Clone(v.leases)}
}

// Open connects to the cluster, creates the state, audit and progress
// topics when they are missing (replication factor min(brokers, 3),
// min.insync.replicas min(2, RF) when RF > 1; the state and progress
// topics compacted, the audit topic kept forever) and checks them when
// they exist (one partition; the state topic compacted).
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.StateTopic == "" {
		opts.StateTopic = DefaultStateTopic
	}
	if opts.AuditTopic == "" {
		opts.AuditTopic = DefaultAuditTopic
	}
	if opts.ProgressTopic == "" {
		opts.ProgressTopic = DefaultProgressTopic
	}
	if opts.StateTopic == opts.AuditTopic || opts.ProgressTopic == opts.StateTopic || opts.ProgressTopic == opts.AuditTopic {
		return nil, fmt.Errorf("the state, audit and progress topics (%q, %q, %q) must differ", opts.StateTopic, opts.AuditTopic, opts.ProgressTopic)
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	opts.Holder = defaultHolder(opts.Holder)
	if err := ensureTopics(ctx, opts); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, log: opts.Log, sink: newLogSink(opts.Log, opts.Config), leases: map[*Lease]struct{}{}, marks: map[string]Mark{}}
	c.view = stateView{renames: map[string][]byte{}, revs: map[string]int64{}, leases: map[string]LeaseInfo{}}
	cm, err := opts.Config.ConfigMap(kafka.ConfigMap{
		"group.id":               "topic-migrator-state-reader",
		"client.id":              "topic-migrator-state",
		"enable.auto.commit":     false,
		"isolation.level":        "read_uncommitted",
		"go.logs.channel.enable": true,
		"go.logs.channel":        c.sink.ch,
	})
	if err != nil {
		c.sink.close()
		return nil, err
	}
	if c.ends, err = kafka.NewConsumer(&cm); err != nil {
		c.sink.close()
		return nil, opts.Config.ScrubError(fmt.Errorf("state topics client: %w", err))
	}
	if c.state, err = c.newTail(opts.StateTopic, c.applyState); err != nil {
		c.ends.Close()
		c.sink.close()
		return nil, err
	}
	if c.audit, err = c.newTail(opts.AuditTopic, c.applyAudit); err != nil {
		c.state.close()
		c.ends.Close()
		c.sink.close()
		return nil, err
	}
	if c.progress, err = c.newTail(opts.ProgressTopic, c.applyProgress); err != nil {
		c.audit.close()
		c.state.close()
		c.ends.Close()
		c.sink.close()
		return nil, err
	}
	return c, nil
}

// ensureTopics creates the topics that are missing and checks the others.
func ensureTopics(ctx context.Context, opts Options) error {
	cfg := opts.Config
	adm, err := admin.Connect(ctx, cfg, opts.Log)
	if err != nil {
		return err
	}
	defer adm.Close()
	info, err := adm.DescribeCluster(ctx)
	if err != nil {
		return err
	}
	rf := max(1, min(len(info.Brokers), 3))
	common := map[string]string{}
	if rf > 1 {
		common["min.insync.replicas"] = fmt.Sprint(min(2, rf))
	}
	stateConfigs := maps.Clone(common)
	stateConfigs["cleanup.policy"] = "compact"
	auditConfigs := maps.Clone(common)
	auditConfigs["cleanup.policy"] = "delete"
	auditConfigs["retention.ms"] = "-1"
	auditConfigs["retention.bytes"] = "-1"
	specs := []admin.TopicSpec{
		{Name: opts.StateTopic, Partitions: 1, ReplicationFactor: rf, Configs: stateConfigs},
		{Name: opts.AuditTopic, Partitions: 1, ReplicationFactor: rf, Configs: auditConfigs},
		{Name: opts.ProgressTopic, Partitions: 1, ReplicationFactor: rf, Configs: stateConfigs},
	}
	names := []string{opts.StateTopic, opts.AuditTopic, opts.ProgressTopic}
	var missing []admin.TopicSpec
	for _, s := range specs {
		ok, err := adm.TopicExists(ctx, s.Name)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		res, err := adm.CreateTopics(ctx, missing, false)
		if err != nil {
			return err
		}
		for _, s := range missing {
			if err := res[s.Name]; err != nil && !errors.Is(err, admin.ErrTopicExists) {
				return cfg.ScrubError(fmt.Errorf("cannot create topic %q for the migration's state: %w; create it (1 partition, %s) or let the migrator's principal create topics",
					s.Name, err, configList(s.Configs)))
			}
		}
		if err := adm.WaitForTopics(ctx, names, true); err != nil {
			return err
		}
	}
	topics, err := adm.DescribeTopics(ctx, names)
	if err != nil {
		return err
	}
	for _, s := range specs {
		t, ok := topics[s.Name]
		if !ok {
			return fmt.Errorf("topic %q for the migration's state is not in the cluster (or the migrator may not describe it)", s.Name)
		}
		if t.Partitions != 1 {
			return fmt.Errorf("topic %q for the migration's state has %d partitions, it must have 1 (its records are read in order)", s.Name, t.Partitions)
		}
	}
	if t := topics[opts.StateTopic]; t.Effective["cleanup.policy"] != "" && !strings.Contains(t.Effective["cleanup.policy"], "compact") {
		return fmt.Errorf("state topic %q has cleanup.policy=%s: it must be compact, else the broker deletes rename records with old segments", opts.StateTopic, t.Effective["cleanup.policy"])
	}
	if t := topics[opts.AuditTopic]; t.Effective["retention.ms"] != "" && t.Effective["retention.ms"] != "-1" {
		opts.Log.Warn("the audit topic deletes old entries", "topic", opts.AuditTopic, "retention.ms", t.Effective["retention.ms"])
	}
	return nil
}

func configList(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// Close stops renewing the leases still held and closes every connection.
// It does not release them: a lease not released expires LeaseTTL after
// its last renewal (call Release first).
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	leases := slices.Collect(maps.Keys(c.leases))
	c.mu.Unlock()
	for _, l := range leases {
		l.abandon()
	}
	c.state.close()
	c.audit.close()
	c.progress.close()
	c.ends.Close()
	c.sink.close()
}

// now is the clock deciding expiry, in UTC.
func (c *Cluster) now() time.Time { return c.opts.now().UTC() }

// applyState records one state topic record in the view.
func (c *Cluster) applyState(m *kafka.Message) error {
	key := string(m.Key)
	tomb := len(m.Value) == 0
	switch {
	case strings.HasPrefix(key, renameKeyPrefix):
		from := strings.TrimPrefix(key, renameKeyPrefix)
		if tomb {
			delete(c.view.renames, from)
			delete(c.view.revs, from)
			return nil
		}
		var r state.Rename
		if err := json.Unmarshal(m.Value, &r); err != nil {
			return fmt.Errorf("record %q: %w", key, err)
		}
		if r.From != from {
			return fmt.Errorf("record %q holds rename %q", key, r.From)
		}
		c.view.renames[from] = slices.Clone(m.Value)
		c.view.revs[from] = r.Revision
	case strings.HasPrefix(key, leaseKeyPrefix):
		from := strings.TrimPrefix(key, leaseKeyPrefix)
		if tomb {
			delete(c.view.leases, from)
			return nil
		}
		var li LeaseInfo
		if err := json.Unmarshal(m.Value, &li); err != nil {
			return fmt.Errorf("record %q: %w", key, err)
		}
		if li.Rename != from {
			return fmt.Errorf("record %q holds the lease of %q", key, li.Rename)
		}
		c.view.leases[from] = li
	default:
		c.log.Debug("state topic: record of unknown key ignored", "key", key, "offset", m.TopicPartition.Offset)
	}
	return nil
}

// applyAudit appends one audit topic record to the log.
func (c *Cluster) applyAudit(m *kafka.Message) error {
	if len(m.Value) == 0 {
		return nil
	}
	var e state.AuditEntry
	if err := json.Unmarshal(m.Value, &e); err != nil {
		return fmt.Errorf("audit entry at offset %d: %w", m.TopicPartition.Offset, err)
	}
	e.Seq = uint64(len(c.entries) + 1)
	c.entries = append(c.entries, e)
	return nil
}

// readState reads the state topic to its end, and at least to atLeast,
// and returns a copy of what it holds.
func (c *Cluster) readState(ctx context.Context, atLeast int64) (stateView, error) {
	var v stateView
	err := c.state.read(ctx, atLeast, func() { v = c.view.clone() })
	return v, err
}

// cachedRev is the revision of rename as the state topic was last read,
// without reading it, and whether it had a record then.
func (c *Cluster) cachedRev(from string) (int64, bool) {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	rev, ok := c.view.revs[from]
	return rev, ok
}

// Snapshot reads both topics to their end (read_committed) and returns the
// latest record of every rename (sorted by from), the audit log in topic
// order (Seq its place, from 1), and every lease not released, by rename
// (expired ones included: see LeaseInfo.Expired).
func (c *Cluster) Snapshot(ctx context.Context) (*state.Snapshot, map[string]LeaseInfo, error) {
	v, err := c.readState(ctx, 0)
	if err != nil {
		return nil, nil, err
	}
	snap := &state.Snapshot{Renames: []state.Rename{}, Audit: []state.AuditEntry{}}
	for _, from := range slices.Sorted(maps.Keys(v.renames)) {
		var r state.Rename
		if err := json.Unmarshal(v.renames[from], &r); err != nil {
			return nil, nil, fmt.Errorf("state topic %q: record %q: %w", c.opts.StateTopic, renameKeyPrefix+from, err)
		}
		snap.Renames = append(snap.Renames, r)
	}
	err = c.audit.read(ctx, 0, func() { snap.Audit = append(snap.Audit, c.entries...) })
	if err != nil {
		return nil, nil, err
	}
	return snap, v.leases, nil
}

// tail reads one single-partition topic in order, read_committed, with a
// consumer that stays assigned to it, so that each read only fetches what
// was written since the last.
type tail struct {
	topic   string
	cons    *kafka.Consumer
	ends    *kafka.Consumer // for the high watermark
	timeout time.Duration
	scrub   func(error) error
	apply   func(*kafka.Message) error

	mu sync.Mutex
	// eof is the end offset at which librdkafka last reported the end of
	// the partition, -1 before; next is the offset after the last record
	// read.
	eof, next int64
	// failed is a record that could not be read: every later read fails
	// with it.
	failed error
}

func (c *Cluster) newTail(topic string, apply func(*kafka.Message) error) (*tail, error) {
	cfg := c.opts.Config
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"group.id":                 "topic-migrator-state-reader",
		"client.id":                "topic-migrator-state",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"isolation.level":          "read_committed",
		"enable.partition.eof":     true,
		"auto.offset.reset":        "earliest",
		"fetch.wait.max.ms":        10,
		"go.logs.channel.enable":   true,
		"go.logs.channel":          c.sink.ch,
	})
	if err != nil {
		return nil, err
	}
	cons, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("state reader of topic %q: %w", topic, err))
	}
	err = cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}})
	if err != nil {
		cons.Close()
		return nil, cfg.ScrubError(fmt.Errorf("state reader of topic %q: assign: %w", topic, err))
	}
	return &tail{topic: topic, cons: cons, ends: c.ends, timeout: cfg.OperationTimeout(), scrub: cfg.ScrubError, apply: apply, eof: -1}, nil
}

// read reads the topic to the end it has now, and at least to atLeast,
// then calls done, if not nil, while no other read can run.
//
// The end is the high watermark, not the last stable offset: a transaction
// still open is waited for (it ends within transactionTimeout), so that a
// read sees every transaction committed before it began, even one whose
// commit markers Kafka has not written yet (it writes them after the
// commit returned).
func (t *tail) read(ctx context.Context, atLeast int64, done func()) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return t.failed
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	high, err := t.highWatermark(ctx)
	if err != nil {
		return err
	}
	target := max(high, atLeast)
	var last error // the last error librdkafka reported meanwhile
	for t.next < target && t.eof < target {
		if err := ctx.Err(); err != nil {
			why := fmt.Sprintf("a transaction left open by a process that stopped holds it up to %s", transactionTimeout)
			if last != nil {
				why = "last error: " + last.Error()
			}
			return t.scrub(fmt.Errorf("read topic %q to its end (offset %d): reached %d within %s: %w (%s)",
				t.topic, target, max(t.next, t.eof), t.timeout, err, why))
		}
		switch e := t.cons.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return t.scrub(fmt.Errorf("read topic %q: %w", t.topic, e.TopicPartition.Error))
			}
			off := int64(e.TopicPartition.Offset)
			if off < t.next {
				continue // a record read before (the consumer went back)
			}
			t.next = off + 1
			if err := t.apply(e); err != nil {
				t.failed = fmt.Errorf("topic %q is not a migrator state topic or is damaged: %w", t.topic, err)
				return t.failed
			}
		case kafka.PartitionEOF:
			t.eof = int64(e.Offset)
		case kafka.Error:
			if e.IsFatal() || e.Code() == kafka.ErrTopicAuthorizationFailed {
				return t.scrub(fmt.Errorf("read topic %q: %w", t.topic, e))
			}
			last = e // librdkafka retries the others
		}
	}
	if done != nil {
		done()
	}
	return nil
}

// highWatermark asks for the partition's end offset, asking again while
// its leader is not known yet (a topic just created: seen on Kafka 4.4 as
// "Not leader for partition" right after the state topics were made) or
// moves, until ctx ends.
func (t *tail) highWatermark(ctx context.Context) (int64, error) {
	for {
		_, high, err := t.ends.QueryWatermarkOffsets(t.topic, 0, int(t.timeout.Milliseconds()))
		if err == nil {
			return high, nil
		}
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !leaderMissing(kerr) {
			return 0, t.scrub(fmt.Errorf("read topic %q: its end offset: %w", t.topic, err))
		}
		select {
		case <-ctx.Done():
			return 0, t.scrub(fmt.Errorf("read topic %q: its end offset: %w (asked again until %v)", t.topic, err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leaderMissing reports whether err says that the partition has no known
// leader for now.
func leaderMissing(err kafka.Error) bool {
	switch err.Code() {
	case kafka.ErrNotLeaderForPartition, kafka.ErrLeaderNotAvailable, kafka.ErrUnknownTopicOrPart, kafka.ErrUnknownPartition:
		return true
	}
	return err.IsRetriable()
}

func (t *tail) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.cons.Close()
}

// logSink forwards librdkafka's logs to slog at debug level.
type logSink struct {
	ch   chan kafka.LogEvent
	done chan struct{}
	once sync.Once
}

func newLogSink(logger *slog.Logger, cfg clientconfig.Config) *logSink {
	s := &logSink{ch: make(chan kafka.LogEvent, 256), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ev := range s.ch {
			logger.Debug("librdkafka", "client", ev.Name, "tag", ev.Tag, "level", ev.Level, "msg", cfg.Scrub(ev.Message))
		}
	}()
	return s
}

func (s *logSink) close() {
	s.once.Do(func() { close(s.ch) })
	<-s.done
}

// sortedUnique returns names sorted, without duplicates.
func sortedUnique(names []string) []string {
	out := slices.Clone(names)
	slices.SortFunc(out, cmp.Compare)
	return slices.Compact(out)
}
