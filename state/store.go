package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// DefaultPath is the state file's name when the operator names none.
	DefaultPath = "migrator.db"

	// DefaultLockTimeout is how long an operation waits for another
	// process to release the state file when Options.LockTimeout is unset.
	DefaultLockTimeout = 5 * time.Second

	// SchemaVersion is the newest state-file layout this package reads and
	// the one it writes.
	SchemaVersion = 2
)

// The layout of the state file.
var (
	bucketMeta       = []byte("meta")
	bucketRenames    = []byte("renames")
	bucketAudit      = []byte("audit")
	keySchemaVersion = []byte("schema_version")
)

// fileMode is the mode a new state file is created with, before the umask
// (as os.Create does); the group may then write it too (shareWithGroup).
const fileMode os.FileMode = 0o666

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long an operation waits for another process to
	// release the state file before it fails with ErrLocked. Zero or
	// less means DefaultLockTimeout; an operation never waits forever.
	LockTimeout time.Duration

	// Now returns the current time; nil means time.Now. For tests; it
	// must be safe for concurrent use if the Store is.
	Now func() time.Time

	// Actor is who is acting, recorded in history and audit entries that
	// do not name one. Empty means user@host of this process.
	Actor string

	// AfterWrite, when set, is called after each write transaction has
	// committed to the file, with what it was for: a point at which a
	// crash must be survivable (the fault tests kill the process there).
	AfterWrite func(op string)
}

// Store is the migration's state file. It holds only the file's path and
// options, never an open database: each operation opens the file, runs one
// short transaction and closes it again, so that a long-running mirror
// process and an operator's commands can share the file. While one process
// has the file open for writing, others wait for up to the lock timeout.
//
// A Store is safe for concurrent use.
type Store struct {
	path        string
	lockTimeout time.Duration
	now         func() time.Time
	actor       string
	afterWrite  func(op string)

	// replica, when set, gets every change before it commits (SetReplica);
	// journal collects the changes of the write transaction in progress,
	// one at a time (replicaMu).
	replica   Replica
	replicaMu *sync.Mutex
	journal   *journal

	// openFile opens the file for bbolt; Open sets openShared. Tests
	// replace it to simulate a disk that fails writes.
	openFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// Open checks the state file at path and returns a Store for it. A missing
// file is created (its directory must exist) with the current schema. An
// existing file is refused, without being written to, when it is not a
// migrator state file, is damaged (ErrCorrupt) or was written by a newer
// migrator (ErrNewerSchema). A file of an older schema version is upgraded
// to the current one, after a copy of it is kept next to it (see
// migrations.go); if the upgrade fails the file is left as it was and Open
// returns the error. Open does not keep the file open.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("state file path is empty")
	}
	s := &Store{
		path:        path,
		lockTimeout: opts.LockTimeout,
		now:         opts.Now,
		actor:       opts.Actor,
		afterWrite:  opts.AfterWrite,
		replicaMu:   &sync.Mutex{},
	}
	if s.lockTimeout <= 0 {
		s.lockTimeout = DefaultLockTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.openFile == nil {
		s.openFile = openShared
	}
	if s.actor == "" {
		s.actor = defaultActor()
	}
	if err := s.update(context.Background(), "opening it", nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the state file's path, as given to Open.
func (s *Store) Path() string {
	if s == nil {
		return ""
	}
	return s.path
}

// defaultActor returns user@host for this process, with "unknown" for a
// part it cannot find out.
func defaultActor() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// clock returns the current time in UTC, the form the file stores.
func (s *Store) clock() time.Time {
	return s.now().UTC()
}

// view runs fn in one read-only transaction. When the file does not exist
// yet (or holds no state yet) fn is not called and view returns nil: there
// is nothing to read, and reading never creates the file. Reading never
// writes either: a file of an older schema version (one replaced after Open
// upgraded it) is refused with ErrOlderSchema rather than read as if it were
// of the current one; the next write, or Open, upgrades it.
func (s *Store) view(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := s.ready(ctx, op); err != nil {
		return err
	}
	exists, err := s.exists(op)
	if err != nil || !exists {
		return err
	}
	return s.withDB(true, s.lockTimeout, op, func(db *bolt.DB) error {
		return s.run(db, false, op, func(tx *bolt.Tx) error {
			version, err := s.checkSchema(tx)
			if err != nil || version == 0 {
				return err
			}
			if version < SchemaVersion {
				return s.olderError(op, version)
			}
			return fn(tx)
		})
	})
}

// update runs fn in one read-write transaction, creating the file (with
// its schema) when it is missing, and upgrading it first, in a transaction
// of its own, when it has an older schema version (see upgrade). An
// existing file is first checked through a read-only open, so a file this
// package refuses is never opened for writing. A nil fn only creates,
// checks or upgrades the file.
func (s *Store) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	return s.write(ctx, op, true, fn)
}

// write is update; replicate false keeps the change from the replica (an
// import, which comes from it).
func (s *Store) write(ctx context.Context, op string, replicate bool, fn func(*bolt.Tx) error) error {
	if err := s.ready(ctx, op); err != nil {
		return err
	}
	// The two opens below share one lock timeout between them.
	deadline := time.Now().Add(s.lockTimeout)
	exists, err := s.exists(op)
	if err != nil {
		return err
	}
	if exists {
		var version int
		err := s.withDB(true, s.lockTimeout, op, func(db *bolt.DB) error {
			return s.run(db, false, op, func(tx *bolt.Tx) error {
				var err error
				version, err = s.checkSchema(tx)
				return err
			})
		})
		if err != nil {
			return err
		}
		if version == SchemaVersion && fn == nil {
			return nil
		}
		if err := s.ready(ctx, op); err != nil {
			return err
		}
	}
	// bbolt takes a zero timeout as "wait forever": always give it some.
	wait := max(time.Until(deadline), time.Millisecond)
	err = s.withDB(false, wait, op, func(db *bolt.DB) error {
		// Check again: the file may have changed between the two opens
		// (another process may have upgraded it meanwhile).
		var version int
		err := s.run(db, false, op, func(tx *bolt.Tx) error {
			var err error
			version, err = s.checkSchema(tx)
			return err
		})
		if err != nil {
			return err
		}
		switch {
		case version == 0:
			if err := s.run(db, true, op, s.initSchema); err != nil {
				return err
			}
		case version < SchemaVersion:
			if err := s.upgrade(db, op, version); err != nil {
				return err
			}
		}
		if fn == nil {
			return nil
		}
		replica := s.replicaOf()
		if replica == nil || !replicate {
			return s.run(db, true, op, fn)
		}
		// With a replica every change is published before it is
		// committed here: the replica (the cluster) is the record, this
		// file its cache. A publish that fails rolls the change back.
		s.replicaMu.Lock()
		defer s.replicaMu.Unlock()
		return s.run(db, true, op, func(tx *bolt.Tx) error {
			j := &journal{renames: map[string]Rename{}}
			s.journal = j
			defer func() { s.journal = nil }()
			if err := fn(tx); err != nil {
				return err
			}
			if len(j.renames) == 0 && len(j.audit) == 0 {
				return nil
			}
			renames := make([]Rename, 0, len(j.renames))
			for _, r := range j.renames {
				renames = append(renames, r)
			}
			slices.SortFunc(renames, func(a, b Rename) int { return strings.Compare(a.From, b.From) })
			if err := replica.Publish(ctx, renames, j.audit); err != nil {
				return fmt.Errorf("state: %s: %w (not recorded in the state file either)", op, err)
			}
			return nil
		})
	})
	if err == nil && fn != nil && s.afterWrite != nil {
		s.afterWrite(op)
	}
	return err
}

// Replica keeps the state elsewhere too (package clusterstate: in the
// cluster being migrated), as the record of which the state file is a
// cache. Publish gets, before a write transaction commits, every rename it
// stored and every audit entry it appended; an error rolls the
// transaction back.
type Replica interface {
	Publish(ctx context.Context, renames []Rename, audit []AuditEntry) error
}

// journal collects what one write transaction stores, for the replica.
type journal struct {
	renames map[string]Rename
	audit   []AuditEntry
}

// SetReplica makes every later write publish to r before it commits (nil:
// none). Writes are then made one at a time in this process.
func (s *Store) SetReplica(r Replica) {
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	s.replica = r
}

// replicaOf returns the replica, nil when there is none.
func (s *Store) replicaOf() Replica {
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	return s.replica
}

// run runs fn in one transaction, read-write when writable. An error fn
// returns comes back as it is; one from bbolt itself (beginning or
// committing the transaction) comes from the disk and is wrapped with the
// path and op. Either way bbolt has rolled the transaction back.
func (s *Store) run(db *bolt.DB, writable bool, op string, fn func(*bolt.Tx) error) error {
	var fnErr error
	txFn := func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	}
	var err error
	what := "read"
	if writable {
		what = "write"
		err = db.Update(txFn)
	} else {
		err = db.View(txFn)
	}
	if err != nil && fnErr == nil {
		return s.ioError(op, what, err)
	}
	return err
}

// ready reports a Store not made by Open, or a context already done.
func (s *Store) ready(ctx context.Context, op string) error {
	if s == nil || s.path == "" {
		return errors.New("state: the Store was not made by Open")
	}
	if ctx == nil {
		return fmt.Errorf("state file %q: %s: nil context", s.path, op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("state file %q: %s: %w", s.path, op, err)
	}
	return nil
}

// exists reports whether there is a state file to read. An empty file
// counts as missing: there is nothing in it to check, and bbolt fills it in
// when it is opened for writing.
func (s *Store) exists(op string) (bool, error) {
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("state file %q: %s: %w", s.path, op, err)
	case info.IsDir():
		return false, fmt.Errorf("state file %q is a directory, not a file", s.path)
	case !info.Mode().IsRegular():
		return false, fmt.Errorf("state file %q is not a regular file", s.path)
	}
	return info.Size() > 0, nil
}

// withDB opens the file, read-only (shared lock) or read-write (exclusive
// lock), waiting up to lockWait for another process to release it, calls
// fn and closes the file. A panic inside bbolt, which is how
// it reports some kinds of damage, is turned into an ErrCorrupt error; by
// then bbolt has rolled the transaction back.
func (s *Store) withDB(readOnly bool, lockWait time.Duration, op string, fn func(*bolt.DB) error) (err error) {
	// A damaged file can make bbolt read past the mapped memory: make that
	// a panic to recover from rather than a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt(fmt.Errorf("bbolt failed: %v", r))
		}
	}()

	db, err := bolt.Open(s.path, fileMode, &bolt.Options{
		Timeout:  lockWait,
		ReadOnly: readOnly,
		OpenFile: s.openFile,
	})
	if err != nil {
		return s.openError(op, readOnly, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = s.ioError(op, "close", cerr)
		}
	}()
	return fn(db)
}

// openError explains why bbolt.Open failed.
func (s *Store) openError(op string, readOnly bool, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return &stateError{
			msg: fmt.Sprintf("state file %q is in use by another migrator process (waited %s); retry when it finishes",
				s.path, s.lockTimeout),
			kind:  ErrLocked,
			cause: err,
		}
	}
	if !readOnly && errors.Is(err, fs.ErrNotExist) {
		return &stateError{
			msg: fmt.Sprintf("state file %q: %s: cannot create it: directory %q does not exist",
				s.path, op, filepath.Dir(s.path)),
			cause: err,
		}
	}
	// Errors from the operating system (permissions, a read-only file
	// system, ...) say nothing about the file's content; anything else
	// bbolt says on open is about a file it cannot make sense of.
	var pathErr *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pathErr) || errors.As(err, &errno) {
		how := "writing"
		if readOnly {
			how = "reading"
		}
		return fmt.Errorf("state file %q: %s: cannot open it for %s: %w", s.path, op, how, err)
	}
	return s.corrupt(err)
}

// ioError wraps an error from a transaction that bbolt could not begin,
// commit or close: it comes from the disk, and bbolt has left the file as
// it was.
func (s *Store) ioError(op, what string, err error) error {
	return fmt.Errorf("state file %q: %s: %s failed (the file was left as it was): %w", s.path, op, what, err)
}

// corrupt returns the ErrCorrupt error for the file, with cause saying what
// is wrong.
func (s *Store) corrupt(cause error) error {
	return &stateError{
		msg: fmt.Sprintf("state file %q is not a migrator state file or is damaged: %v; it was left untouched",
			s.path, cause),
		kind:  ErrCorrupt,
		cause: cause,
	}
}

// olderError is the error of a read that found the file at an older schema
// version: reading does not write, so it cannot upgrade it.
func (s *Store) olderError(op string, version int) error {
	return &stateError{
		msg: fmt.Sprintf("state file %q: %s: it has schema version %d, older than this migrator's %d, "+
			"and reading does not upgrade it: any migrator command opens it and upgrades it first, "+
			"keeping a copy of it as it was (if that fails, its error says why)",
			s.path, op, version, SchemaVersion),
		kind: ErrOlderSchema,
	}
}

// checkSchema checks that tx is a migrator state file of a schema version
// this package understands (SchemaVersion, or an older one that it can
// upgrade) and returns that version. It returns 0, with no error, for a
// bbolt file with no buckets at all: one whose creation stopped before its
// schema was written.
func (s *Store) checkSchema(tx *bolt.Tx) (version int, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, strconv.Quote(string(name)))
			return nil
		})
		if len(names) == 0 {
			return 0, nil
		}
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return 0, s.corrupt(fmt.Errorf("it has no %q bucket (its buckets: %s)", bucketMeta, strings.Join(names, ", ")))
	}
	raw := meta.Get(keySchemaVersion)
	if raw == nil {
		return 0, s.corrupt(fmt.Errorf("its %q bucket has no %q", bucketMeta, keySchemaVersion))
	}
	version, err = strconv.Atoi(string(raw))
	if err != nil || version < 1 {
		return 0, s.corrupt(fmt.Errorf("its schema version %q is not a version", raw))
	}
	if version > SchemaVersion {
		return 0, &stateError{
			msg: fmt.Sprintf("state file %q has schema version %d, this migrator understands up to %d: use a newer migrator",
				s.path, version, SchemaVersion),
			kind: ErrNewerSchema,
		}
	}
	for _, name := range [][]byte{bucketRenames, bucketAudit} {
		if tx.Bucket(name) == nil {
			return 0, s.corrupt(fmt.Errorf("it has no %q bucket", name))
		}
	}
	return version, nil
}

// initSchema writes the buckets and schema version of a new state file.
// It does nothing to a file that already has them.
func (s *Store) initSchema(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) != nil {
		return nil
	}
	for _, name := range [][]byte{bucketMeta, bucketRenames, bucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("state file %q: create bucket %q: %w", s.path, name, err)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return fmt.Errorf("state file %q: write the schema version: %w", s.path, err)
	}
	return nil
}
