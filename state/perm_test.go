package state

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFilesSharedWithGroup: under the usual umask 022 the state file and
// its operator lock are created group-writable, so that a colleague in
// the group can take the lock; a umask of 077 is honoured.
func TestFilesSharedWithGroup(t *testing.T) {
	for _, c := range []struct {
		umask           int
		state, lockMode os.FileMode
	}{{0o022, 0o664, 0o660}, {0o002, 0o664, 0o660}, {0o077, 0o600, 0o600}} {
		old := syscall.Umask(c.umask)
		path := filepath.Join(t.TempDir(), "migrator.db")
		op, err := ClaimOperator(context.Background(), path, "test", time.Second)
		if err != nil {
			syscall.Umask(old)
			t.Fatal(err)
		}
		op.Release()
		_, err = Open(path, Options{})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]os.FileMode{path: c.state, path + ".lock": c.lockMode} {
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("umask %03o: %s has mode %03o, want %03o", c.umask, filepath.Base(file), got, want)
			}
		}
	}
}

// TestClaimReadOnlyLockFile: a lock file the operator cannot write (made
// by an older migrator, 0644, by another user) can still be locked.
func TestClaimReadOnlyLockFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write any file")
	}
	path := filepath.Join(t.TempDir(), "migrator.db")
	if err := os.WriteFile(path+".lock", nil, 0o444); err != nil {
		t.Fatal(err)
	}
	op, err := ClaimOperator(context.Background(), path, "test", time.Second)
	if err != nil {
		t.Fatalf("claim with a read-only lock file: %v", err)
	}
	op.Release()
}
