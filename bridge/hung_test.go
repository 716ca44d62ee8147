package bridge

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBoundedGivesUpAHungCall: a client call that never returns (as
// rd_kafka_send_offsets_to_transaction after its group coordinator is
// killed, librdkafka#5511) ends in a HungError naming the call, and the
// bridge stops waiting on its clients; a call that returns in time passes
// its own error through untouched.
func TestBoundedGivesUpAHungCall(t *testing.T) {
	b := &Bridge{opts: Options{HungAfter: 50 * time.Millisecond}, log: slog.New(slog.NewTextHandler(t.Output(), nil))}

	want := errors.New("coordinator not available")
	if err := b.bounded(t.Context(), "CommitTransaction", func(context.Context) error { return want }); err != want {
		t.Fatalf("a call that returned: got %v, want its own error", err)
	}
	if b.hung.Load() {
		t.Fatal("marked hung after a call that returned")
	}

	release := make(chan struct{})
	defer close(release)
	err := b.bounded(t.Context(), "SendOffsetsToTransaction", func(context.Context) error { <-release; return nil })
	var hung *HungError
	if !errors.As(err, &hung) || hung.Call != "SendOffsetsToTransaction" || hung.After != 50*time.Millisecond {
		t.Fatalf("a call that never returned: got %v, want a HungError for SendOffsetsToTransaction after 50ms", err)
	}
	if !strings.Contains(err.Error(), "hung in SendOffsetsToTransaction") || !strings.Contains(err.Error(), "nothing of the open transaction was committed") {
		t.Errorf("message %q does not say what hung and that nothing was committed", err)
	}
	if !b.hung.Load() {
		t.Fatal("not marked hung")
	}
	// close must not touch wedged clients (they would block it); with
	// the mark it returns at once even though they are set.
	b.lanes, b.consumer = nil, nil
	done := make(chan struct{})
	go func() { b.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("close blocked on a hung bridge")
	}
}

// TestHungAfterDefaultsPastTheTransactionTimeout: the bridge waits for a
// transactional call until the coordinator has aborted the transaction
// anyway, and a little longer.
func TestHungAfterDefaultsPastTheTransactionTimeout(t *testing.T) {
	o := Options{Routes: StaticRoutes(nil), TransactionTimeout: 10 * time.Second}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	b := &Bridge{opts: o}
	if got := b.hungAfter(); got != 25*time.Second {
		t.Errorf("hungAfter = %s, want 25s (transaction timeout 10s + 15s)", got)
	}
}
