package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrOperatorBusy is returned when another operator's command holds the
// state file.
var ErrOperatorBusy = errors.New("another operator is changing this migration")

// Operator is one operator command's exclusive claim on a migration: the
// commands that change the cluster and the state (apply, cutover,
// rollback, retire) hold it from start to end, so that two operators
// cannot interleave their steps. Each state-file operation also locks the
// file, but only for its own transaction; this claim spans the command.
// The bridge does not take it. The claim is a lock on FILE.lock next to the
// state file, which names its holder.
type Operator struct {
	f *os.File
}

// ClaimOperator claims the migration whose state file is path for the
// command, waiting up to wait for a command that holds it. The error
// names the holder.
func ClaimOperator(ctx context.Context, path, command string, wait time.Duration) (*Operator, error) {
	name := path + ".lock"
	f, err := openShared(name, os.O_RDWR|os.O_CREATE, 0o660)
	if errors.Is(err, fs.ErrPermission) {
		// A lock file another operator created without group write
		// access (an older migrator): a read-only descriptor can still
		// be locked; the holder line is then left as it is.
		f, err = os.Open(name)
	}
	if err != nil {
		return nil, fmt.Errorf("operator lock %q: %w", name, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("operator lock %q: %w", name, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(name)
			f.Close()
			return nil, fmt.Errorf("%w: state file %q is held by %s (waited %s); retry when that command finishes",
				ErrOperatorBusy, path, strings.TrimSpace(string(holder)), wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	who := fmt.Sprintf("%s (pid %d, since %s): %s", defaultActor(), os.Getpid(), time.Now().UTC().Format(time.RFC3339), command)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(who+"\n"), 0)
	}
	return &Operator{f: f}, nil
}

// Release gives the claim up. The lock file stays, empty.
func (o *Operator) Release() {
	if o == nil || o.f == nil {
		return
	}
	_ = o.f.Truncate(0)
	_ = syscall.Flock(int(o.f.Fd()), syscall.LOCK_UN)
	o.f.Close()
	o.f = nil
}
