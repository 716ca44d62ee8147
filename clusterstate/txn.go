package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/state"
)

// producer is a transactional producer of one transactional id.
type producer struct {
	txid    string
	p       *kafka.Producer
	once    sync.Once
	drained chan struct{}
}

// newProducer creates the producer of txid and initialises its
// transactions, which fences any older producer of txid and aborts what it
// left open.
func (c *Cluster) newProducer(ctx context.Context, txid string) (*producer, error) {
	cfg := c.opts.Config
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"client.id":              "topic-migrator-lease",
		"transactional.id":       txid,
		"transaction.timeout.ms": int(transactionTimeout.Milliseconds()),
		"enable.idempotence":     true,
		"acks":                   "all",
		"linger.ms":              0,
		"go.logs.channel.enable": true,
		"go.logs.channel":        c.sink.ch,
	})
	if err != nil {
		return nil, err
	}
	kp, err := kafka.NewProducer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("lease producer %s: %w", txid, err))
	}
	p := &producer{txid: txid, p: kp, drained: make(chan struct{})}
	go func() {
		defer close(p.drained)
		for ev := range kp.Events() {
			if e, ok := ev.(kafka.Error); ok {
				c.log.Debug("lease producer", "transactional.id", txid, "err", e)
			}
		}
	}()
	ictx, cancel := context.WithTimeout(ctx, cfg.OperationTimeout())
	defer cancel()
	if err := kp.InitTransactions(ictx); err != nil {
		p.close()
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrTransactionalIDAuthorizationFailed {
			what := "state push"
			if r, ok := strings.CutPrefix(txid, TransactionalIDPrefix); ok {
				what = fmt.Sprintf("rename %q", r)
			}
			return nil, cfg.ScrubError(fmt.Errorf("%s: this principal is %w: "+
				"it may not use the transactional id %s (Write on the transactional ids %s*, and Write on the topics of the state, "+
				"are for the principals that change renames; a principal that only runs the bridge reads the state: runbooks/state-in-cluster.md, ACLs)",
				what, ErrNotAuthorized, txid, TransactionalIDPrefix))
		}
		return nil, cfg.ScrubError(fmt.Errorf("initialise the lease producer (transactional.id %s) at %s: %w; the migrator's principal needs Write and Describe on that transactional id",
			txid, cfg.Bootstrap(), err))
	}
	return p, nil
}

func (p *producer) close() {
	p.once.Do(func() {
		p.p.Close()
		<-p.drained
	})
}

// txn is one transaction to run with one producer: its records, and once
// they are acknowledged, their offsets.
type txn struct {
	rename  string // the rename whose producer it is
	p       *producer
	msgs    []*kafka.Message
	offsets []int64
	// err is why it failed; fenced says that a newer producer of its
	// transactional id fenced it (judged when it failed: a closed
	// producer no longer tells).
	err    error
	fenced bool
}

// fail records why t failed.
func (t *txn) fail(err error) error {
	t.err = err
	t.fenced = isFenced(err, t.p.p)
	return err
}

// commit runs txns, each a transaction of its producer: it begins every
// one and waits for all their records to be acknowledged, and only then
// commits them, in order. When one fails before the commits, all are
// aborted and committed is 0; when a commit fails, the later ones are
// aborted and committed says how many were. The failed txn keeps its
// error.
func (c *Cluster) commit(ctx context.Context, txns []*txn) (committed int, err error) {
	abort := func(ts []*txn) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Config.OperationTimeout())
		defer cancel()
		for _, t := range ts {
			if aerr := t.p.p.AbortTransaction(actx); aerr != nil {
				c.log.Debug("abort a lease transaction", "transactional.id", t.p.txid, "err", aerr)
			}
		}
	}
	for i, t := range txns {
		t.err, t.fenced, t.offsets = nil, false, nil
		if err := t.p.p.BeginTransaction(); err != nil {
			abort(txns[:i])
			return 0, t.fail(c.opts.Config.ScrubError(fmt.Errorf("begin a transaction of %s: %w", t.p.txid, err)))
		}
		if err := c.produce(ctx, t); err != nil {
			t.fail(err)
			abort(txns[:i+1])
			return 0, err
		}
	}
	for i, t := range txns {
		if err := c.commitOne(ctx, t); err != nil {
			t.fail(err)
			abort(txns[i+1:])
			return i, err
		}
	}
	return len(txns), nil
}

// produce sends t's records and waits until each is acknowledged.
func (c *Cluster) produce(ctx context.Context, t *txn) error {
	reports := make(chan kafka.Event, len(t.msgs))
	for i, m := range t.msgs {
		m.Opaque = i
		if err := t.p.p.Produce(m, reports); err != nil {
			return c.opts.Config.ScrubError(fmt.Errorf("write to topic %s (transactional.id %s): %w", *m.TopicPartition.Topic, t.p.txid, err))
		}
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.Config.OperationTimeout())
	defer cancel()
	t.offsets = make([]int64, len(t.msgs))
	for range t.msgs {
		select {
		case ev := <-reports:
			m, ok := ev.(*kafka.Message)
			if !ok {
				return fmt.Errorf("write to the state topics (transactional.id %s): unexpected event %v", t.p.txid, ev)
			}
			if m.TopicPartition.Error != nil {
				return c.opts.Config.ScrubError(fmt.Errorf("write to topic %s (transactional.id %s): %w", *m.TopicPartition.Topic, t.p.txid, m.TopicPartition.Error))
			}
			if j, ok := m.Opaque.(int); ok && j >= 0 && j < len(t.offsets) {
				t.offsets[j] = int64(m.TopicPartition.Offset)
			}
		case <-wctx.Done():
			return fmt.Errorf("write to the state topics (transactional.id %s): no acknowledgement within %s: %w", t.p.txid, c.opts.Config.OperationTimeout(), wctx.Err())
		}
	}
	return nil
}

// commitOne commits t's transaction, retrying what Kafka says may be.
func (c *Cluster) commitOne(ctx context.Context, t *txn) error {
	cctx, cancel := context.WithTimeout(ctx, c.opts.Config.OperationTimeout())
	defer cancel()
	for {
		err := t.p.p.CommitTransaction(cctx)
		if err == nil {
			return nil
		}
		var ke kafka.Error
		if errors.As(err, &ke) && ke.IsRetriable() && cctx.Err() == nil {
			continue
		}
		return c.opts.Config.ScrubError(fmt.Errorf("commit a transaction of %s: %w", t.p.txid, err))
	}
}

// fencedIn returns the txn that failed because another producer of its
// transactional id fenced it.
func fencedIn(txns []*txn) (*txn, bool) {
	for _, t := range txns {
		if t.fenced {
			return t, true
		}
	}
	return nil, false
}

// isFenced reports whether err, or the producer's fatal error, says that
// a newer producer of its transactional id (may have) fenced it.
func isFenced(err error, p *kafka.Producer) bool {
	fenced := func(err error) bool {
		var ke kafka.Error
		if !errors.As(err, &ke) {
			return false
		}
		switch ke.Code() {
		case kafka.ErrFenced, kafka.ErrProducerFenced, kafka.ErrInvalidProducerEpoch:
			return true
		}
		return false
	}
	if fenced(err) || fenced(p.GetFatalError()) {
		return true
	}
	// A transaction the coordinator aborted because a newer producer
	// initialised: kfake, and Kafka's transaction verification, refuse
	// its records so. Taking the producer back (reclaim) is safe either
	// way.
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Code() == kafka.ErrInvalidTxnState
}

// stateMessage is a record of the state topic; a nil value is a tombstone.
func (c *Cluster) stateMessage(key string, value []byte) *kafka.Message {
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &c.opts.StateTopic, Partition: 0},
		Key:            []byte(key), Value: value,
	}
}

// auditMessage is a record of the audit topic. The entry's Seq is its
// place in the topic, so a state file's is not kept.
func (c *Cluster) auditMessage(e state.AuditEntry) (*kafka.Message, error) {
	e.Seq = 0
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode an audit entry: %w", err)
	}
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &c.opts.AuditTopic, Partition: 0},
		Key:            []byte(e.Rename), Value: v,
	}, nil
}
