package state

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Environment of the helper process: the file to lock, and "shared" for a
// read-only (shared) lock instead of an exclusive one.
const (
	envHoldLock   = "STATE_TEST_HOLD_LOCK"
	envLockShared = "STATE_TEST_LOCK_SHARED"
)

// TestHelperProcess is not a test: run by holdLock in a child process, it
// opens the file with bbolt, which locks it, says "locked" and holds the
// lock until it is killed (or its stdin closes).
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(envHoldLock)
	if path == "" {
		return
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 10 * time.Second, ReadOnly: os.Getenv(envLockShared) != ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = db.Close()
	os.Exit(0)
}

// holdLock starts a process that holds path's lock, shared or exclusive,
// waits until it has it, and returns a function that kills it.
func holdLock(t *testing.T, path string, shared bool) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHoldLock+"="+path)
	if shared {
		cmd.Env = append(cmd.Env, envLockShared+"=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = stdin.Close()
	}
	t.Cleanup(release)

	locked := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "locked" {
				locked <- nil
				return
			}
		}
		locked <- fmt.Errorf("helper process ended without taking the lock: %v", sc.Err())
	}()
	select {
	case err := <-locked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper process did not take the lock")
	}
	return release
}

// within runs fn and fails the test if it has not returned after a long
// while: the operations under test must give up on a lock, never hang.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- fn() }()
	select {
	case err := <-result:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s hung on a locked state file", what)
		return nil
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	s.lockTimeout = 300 * time.Millisecond
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, s.Path(), false)
	before := snapshot(t, s.Path())

	want := fmt.Sprintf("state file %q is in use by another migrator process (waited 300ms); retry when it finishes", s.Path())
	var ops map[string]error
	_ = within(t, "the Store's operations", func() error { ops = storeOps(s); return nil })
	ops["Open"] = within(t, "Open", func() error {
		_, err := Open(s.Path(), Options{LockTimeout: 300 * time.Millisecond})
		return err
	})
	for op, err := range ops {
		if err == nil || err.Error() != want {
			t.Errorf("%s error = %v\nwant %s", op, err, want)
		}
		wantErr(t, err, ErrLocked)
	}
	assertUnchanged(t, s.Path(), before)

	// Once the other process is gone, the file is usable again.
	release()
	if _, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{}); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

// TestSharedLock checks that a process reading the file (shared lock) does
// not stop others reading it, only writing it.
func TestSharedLock(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	s.lockTimeout = 300 * time.Millisecond
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	holdLock(t, s.Path(), true)

	err := within(t, "Renames", func() error {
		renames, err := s.Renames(ctx)
		if err == nil && len(renames) != 1 {
			err = fmt.Errorf("%d renames, want 1", len(renames))
		}
		return err
	})
	if err != nil {
		t.Errorf("reading while another process reads: %v", err)
	}
	err = within(t, "Transition", func() error {
		_, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{})
		return err
	})
	wantErr(t, err, ErrLocked, "is in use by another migrator process")
	if err != nil && !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("error does not name the file: %v", err)
	}
}
