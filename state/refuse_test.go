package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeBolt makes path a bbolt file holding what fill puts in it.
func writeBolt(t *testing.T, path string, fill func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// buckets returns a fill function that creates the named buckets, each
// holding the given key/value pairs.
func buckets(contents map[string]map[string]string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		for name, kv := range contents {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for k, v := range kv {
				if err := b.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// storeOps runs every Store operation, reading and writing, and returns
// their errors by name.
func storeOps(s *Store) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	_, _, errs["Rename"] = s.Rename(ctx, "a")
	_, errs["Renames"] = s.Renames(ctx)
	_, errs["Audit"] = s.Audit(ctx, "")
	_, errs["EnsureRename"] = s.EnsureRename(ctx, "x", "y", "dual")
	_, errs["Transition"] = s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{})
	_, errs["BeginStep"] = s.BeginStep(ctx, "a", Step{Name: "s"}, AuditEntry{})
	_, errs["EndStep"] = s.EndStep(ctx, "a", "s", AuditEntry{})
	errs["Update"] = s.Update(ctx, func(tx *Tx) error { return tx.Append(AuditEntry{Command: "x"}) })
	return errs
}

// TestRefusedFiles checks that a file this migrator must not use is refused
// by Open and by every operation, with a clear error, and is never written.
func TestRefusedFiles(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a database\n"), 3)
	bigGarbage := make([]byte, 64<<10)
	for i := range bigGarbage {
		bigGarbage[i] = byte(i*7 + i/4096)
	}
	schema := func(version string) map[string]map[string]string {
		return map[string]map[string]string{
			"meta":    {"schema_version": version},
			"renames": {},
			"audit":   {},
		}
	}

	tests := []struct {
		name string
		make func(t *testing.T, path string)
		kind error
		want string // the error, %[1]q standing for the path
	}{
		{
			name: "newer schema",
			make: func(t *testing.T, path string) { writeBolt(t, path, buckets(schema("3"))) },
			kind: ErrNewerSchema,
			want: `state file %[1]q has schema version 3, this migrator understands up to 2: use a newer migrator`,
		},
		{
			name: "text file",
			make: func(t *testing.T, path string) { writeFile(t, path, garbage) },
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: invalid database; it was left untouched`,
		},
		{
			name: "64KiB of garbage",
			make: func(t *testing.T, path string) { writeFile(t, path, bigGarbage) },
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: invalid database; it was left untouched`,
		},
		{
			name: "other program's bbolt file",
			make: func(t *testing.T, path string) {
				writeBolt(t, path, buckets(map[string]map[string]string{"widgets": {"w1": "blue"}, "gadgets": {}}))
			},
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: it has no "meta" bucket (its buckets: "gadgets", "widgets"); it was left untouched`,
		},
		{
			name: "no schema version",
			make: func(t *testing.T, path string) {
				writeBolt(t, path, buckets(map[string]map[string]string{"meta": {"other": "x"}, "renames": {}, "audit": {}}))
			},
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: its "meta" bucket has no "schema_version"; it was left untouched`,
		},
		{
			name: "schema version not a number",
			make: func(t *testing.T, path string) { writeBolt(t, path, buckets(schema("one"))) },
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: its schema version "one" is not a version; it was left untouched`,
		},
		{
			name: "bucket missing",
			make: func(t *testing.T, path string) {
				writeBolt(t, path, buckets(map[string]map[string]string{"meta": {"schema_version": "1"}, "renames": {}}))
			},
			kind: ErrCorrupt,
			want: `state file %[1]q is not a migrator state file or is damaged: it has no "audit" bucket; it was left untouched`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			// The Store is made while the file is good; then the file is
			// replaced, as another program might do.
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			tt.make(t, path)
			before := snapshot(t, path)
			want := fmt.Sprintf(tt.want, path)

			_, err = Open(path, Options{})
			wantErr(t, err, tt.kind)
			if err != nil && err.Error() != want {
				t.Errorf("Open error =\n%s\nwant\n%s", err, want)
			}
			for op, err := range storeOps(s) {
				if err == nil || err.Error() != want {
					t.Errorf("%s error = %v\nwant %s", op, err, want)
				}
				wantErr(t, err, tt.kind)
			}
			assertUnchanged(t, path, before)
		})
	}
}

// TestDamagedStateFile checks that a state file damaged after it was
// written (cut short, or a record overwritten) gives ErrCorrupt errors, not
// a crash, and is not written to.
func TestDamagedStateFile(t *testing.T) {
	ctx := context.Background()

	// A state file big enough to span many pages.
	s, _ := openTest(t)
	big := strings.Repeat("x", 1000)
	err := s.Update(ctx, func(tx *Tx) error {
		for i := range 300 {
			r := &Rename{From: fmt.Sprintf("topic.%03d", i), To: fmt.Sprintf("topic.%03d.v2", i), Strategy: "dual", Phase: PhasePlanned,
				Step: &Step{Name: "fill", Params: map[string]string{"filler": big}}}
			if err := tx.PutRename(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("cut short", func(t *testing.T) {
		writeFile(t, s.Path(), good[:len(good)/3])
		before := snapshot(t, s.Path())
		for op, err := range storeOps(s) {
			if err == nil {
				t.Errorf("%s: no error", op)
				continue
			}
			wantErr(t, err, ErrCorrupt, "is not a migrator state file or is damaged")
		}
		assertUnchanged(t, s.Path(), before)
	})

	t.Run("record overwritten", func(t *testing.T) {
		if err := os.Remove(s.Path()); err != nil {
			t.Fatal(err)
		}
		writeBolt(t, s.Path(), buckets(map[string]map[string]string{
			"meta":    {"schema_version": strconv.Itoa(SchemaVersion)},
			"renames": {"a": "{not json"},
			"audit":   {},
		}))
		before := snapshot(t, s.Path())
		if _, err := Open(s.Path(), Options{}); err != nil {
			t.Errorf("Open checks the schema only, yet: %v", err)
		}
		_, err := s.Renames(ctx)
		wantErr(t, err, ErrCorrupt, `is not a migrator state file or is damaged: rename "a": `)
		_, err = s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{})
		wantErr(t, err, ErrCorrupt)
		assertUnchanged(t, s.Path(), before)
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
