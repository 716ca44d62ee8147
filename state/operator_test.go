package state

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClaimOperator: a second operator's command waits for the first and
// is refused, naming the holder and its command, when the wait runs out;
// once released the claim can be taken again.
func TestClaimOperator(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "migrator.db")
	first, err := ClaimOperator(ctx, path, "migrator apply --yes", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = ClaimOperator(ctx, path, "migrator cutover consumers", 300*time.Millisecond)
	if !errors.Is(err, ErrOperatorBusy) || !strings.Contains(err.Error(), "migrator apply --yes") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second claim: %v; want ErrOperatorBusy naming the state file and the holder's command", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("refused after %s, before the 300ms wait", waited)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		first.Release()
		close(released)
	}()
	second, err := ClaimOperator(ctx, path, "migrator cutover consumers", 5*time.Second)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	<-released
	second.Release()
}
