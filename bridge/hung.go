package bridge

import (
	"context"
	"fmt"
	"time"
)

// HungError says that a call into the Kafka client did not return long
// after its own deadline. librdkafka 2.11 can block for good in
// rd_kafka_send_offsets_to_transaction once the bridge's group coordinator
// has left the cluster, whatever the timeout it was given
// (confluentinc/librdkafka#5511, #5456; docs/reliability.md). The open
// transaction is never committed, so nothing was copied twice or lost,
// but the process cannot recover: the client is wedged and even closing it
// may block. Run returns this error without closing the clients; the
// process should exit non-zero so that its supervisor (Kubernetes,
// systemd) starts a fresh one, which aborts the open transaction with
// InitTransactions and copies on from the committed offsets.
type HungError struct {
	// Call is the client call that did not return.
	Call string
	// After is how long the bridge waited for it.
	After time.Duration
}

func (e *HungError) Error() string {
	return fmt.Sprintf("the Kafka client hung in %s for %s (librdkafka#5511): nothing of the open transaction was committed; exiting so that a fresh process copies on", e.Call, e.After.Round(time.Second))
}

// hungAfter is how long a transactional call may take before the bridge
// gives it up as hung: past the transaction timeout the coordinator has
// aborted the transaction anyway, so no answer can still commit it.
func (b *Bridge) hungAfter() time.Duration {
	if b.opts.HungAfter > 0 {
		return b.opts.HungAfter
	}
	return b.opts.TransactionTimeout + 15*time.Second
}

// bounded runs a blocking client call and waits for it at most
// b.hungAfter(). A call that does not return by then is left running (it
// cannot be interrupted) and the bridge is marked hung: close then
// abandons the clients instead of waiting on them.
func (b *Bridge) bounded(ctx context.Context, call string, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	limit := b.hungAfter()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		b.hung.Store(true)
		b.log.Error("Kafka client call did not return; abandoning the clients", "call", call, "after", limit)
		return &HungError{Call: call, After: limit}
	}
}
