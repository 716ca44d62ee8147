package state

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fixtureV1 is a state file of schema version 1 written by the state
// package of commit e88522a (see testdata/v1gen.go.txt).
const fixtureV1 = "testdata/v1.db"

// copyFixture copies the version 1 fixture to a new directory and returns
// the copy's path and the fixture's bytes.
func copyFixture(t *testing.T) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(fixtureV1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), DefaultPath)
	writeFile(t, path, data)
	return path, data
}

// boltView runs fn on the file at path, opened read-only with bbolt itself.
func boltView(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

// schemaOf returns the file's schema_version as stored.
func schemaOf(t *testing.T, path string) string {
	t.Helper()
	var v string
	boltView(t, path, func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get(keySchemaVersion))
		return nil
	})
	return v
}

// rawAudit returns the audit log as stored, decoded as it is.
func rawAudit(t *testing.T, path string) []AuditEntry {
	t.Helper()
	var entries []AuditEntry
	boltView(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			entries = append(entries, e)
			return nil
		})
	})
	return entries
}

// backups returns the backups made of path.
func backups(t *testing.T, path string) []string {
	t.Helper()
	names, err := filepath.Glob(path + ".v*.bak")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// at is a time of the fixture: 2025-11-03 at hh:mm UTC.
func at(hh, mm int) time.Time {
	return time.Date(2025, 11, 3, hh, mm, 0, 0, time.UTC)
}

// fixtureV1Renames is what the fixture's renames are at schema version 2.
func fixtureV1Renames() []Rename {
	const ops = "ops@bastion-1"
	created := func(mm int, topic string) Transition {
		return Transition{From: PhasePlanned, To: PhaseCreated, At: at(9, mm), Actor: ops, Reason: "apply: created " + topic}
	}
	mirroring := func(mm int) Transition {
		return Transition{From: PhaseCreated, To: PhaseMirroring, At: at(9, mm), Actor: ops, Reason: "bridge started"}
	}
	return []Rename{
		{
			From: "huleedu.essays.submitted.v1", To: "huleedu.essay.submitted.v1", Strategy: "dual",
			Phase: PhaseCreated, PhaseSince: at(9, 4), CreatedAt: at(9, 1),
			History: []Transition{created(4, "huleedu.essay.submitted.v1")},
		},
		{
			From: "huleedu.feedback.v1", To: "huleedu.feedback.v2", Strategy: "swap",
			Phase: PhaseMirroring, PhaseSince: at(9, 18), CreatedAt: at(9, 14),
			History: []Transition{created(17, "huleedu.feedback.v2.staging"), mirroring(18)},
			Step: &Step{Name: "swap", StartedAt: at(9, 19), Actor: ops,
				Params: map[string]string{"to": "huleedu.feedback.v2", "staging": "huleedu.feedback.v2.staging"}},
			Swap: &SwapProgress{
				Done:       "old-deleted",
				Fence:      &Fence{Own: true, Value: "2097152"},
				Groups:     GroupOffsets{"report-svc": {0: 101, 1: 99, 5: 0}, "audit-svc": {0: 50}},
				OldOffsets: GroupOffsets{"report-svc": {0: 1001, 1: 990, 5: 3}, "audit-svc": {0: 500}},
				Spec: &TopicSpec{
					Name: "huleedu.feedback.v2", Partitions: 6, ReplicationFactor: 3,
					Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "max.message.bytes": "2097152"},
					ACLs: []ACL{
						{Principal: "User:feedback-svc", Host: "*", Operation: "WRITE", Permission: "ALLOW", Pattern: "LITERAL", Resource: "huleedu.feedback.v1"},
						{Principal: "User:report-svc", Host: "10.0.0.7", Operation: "READ", Permission: "ALLOW", Pattern: "LITERAL", Resource: "huleedu.feedback.v1"},
					},
				},
				DeletingAt: at(9, 26),
			},
		},
		{
			From: "huleedu.grades.v1", To: "huleedu.grades.v2", Strategy: "dual",
			Phase: PhaseProducersCut, PhaseSince: at(9, 12), CreatedAt: at(9, 5),
			History: []Transition{
				created(8, "huleedu.grades.v2"),
				mirroring(9),
				{From: PhaseMirroring, To: PhaseConsumersCut, At: at(9, 10), Actor: ops, Reason: "consumers on huleedu.grades.v2"},
				{From: PhaseConsumersCut, To: PhaseProducersCut, At: at(9, 12), Actor: ops, Reason: "producers write to huleedu.grades.v2"},
			},
			ProducersCut: &ProducersCut{OldEnd: Offsets{0: 12, 1: 7, 2: 0}},
			Verified:     &Verification{At: at(9, 13), OldEnd: Offsets{0: 12, 1: 9, 2: 0}},
		},
		{
			From: "huleedu.legacy.v1", To: "huleedu.legacy.v2", Strategy: "dual",
			Phase: PhaseRolledBack, PhaseSince: at(9, 39), CreatedAt: at(9, 35),
			History: []Transition{
				created(38, "huleedu.legacy.v2"),
				{From: PhaseCreated, To: PhaseRolledBack, At: at(9, 39), Actor: "lead@bastion-2", Reason: "abandoned: consumers not ready"},
			},
		},
		{
			From: "huleedu.sessions.v1", To: "huleedu.sessions.v2", Strategy: "dual",
			Phase: PhaseMirroring, PhaseSince: at(9, 33), CreatedAt: at(9, 29),
			History: []Transition{created(32, "huleedu.sessions.v2"), mirroring(33)},
			Step: &Step{
				Name: "move-group:sessions-svc:huleedu.sessions.v2", StartedAt: at(9, 34), Actor: ops,
				Params:  map[string]string{"group": "sessions-svc", "to": "huleedu.sessions.v2"},
				Offsets: GroupOffsets{"huleedu.sessions.v2": {0: 40, 1: 41, 2: 0}, "huleedu.clicks.v1": {0: 5}},
			},
		},
	}
}

func TestMigrationsList(t *testing.T) {
	if len(migrations) == 0 || migrations[len(migrations)-1].schemaVersion != SchemaVersion {
		t.Fatalf("the last migration must be to SchemaVersion %d", SchemaVersion)
	}
	for i, m := range migrations {
		if m.schemaVersion != i+2 || m.name == "" || m.migrate == nil {
			t.Errorf("migration %d = {%d, %q}: want version %d, a name and a function", i, m.schemaVersion, m.name, i+2)
		}
	}
}

func TestUpgradeV1(t *testing.T) {
	ctx := context.Background()
	path, original := copyFixture(t)
	fixtureAudit := rawAudit(t, path)
	if len(fixtureAudit) != 32 {
		t.Fatalf("the fixture has %d audit entries, want 32", len(fixtureAudit))
	}

	s, err := Open(path, Options{Now: newClock().Now, Actor: testActor})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if v := schemaOf(t, path); v != "2" {
		t.Errorf("schema_version = %q, want \"2\"", v)
	}

	// The backup is the file as it was, byte for byte.
	backup := path + ".v1.bak"
	if got := backups(t, path); !reflect.DeepEqual(got, []string{backup}) {
		t.Errorf("backups = %q, want %q", got, backup)
	}
	if data, err := os.ReadFile(backup); err != nil || !bytes.Equal(data, original) {
		t.Errorf("backup %s differs from the fixture (%d bytes, %v; want %d bytes)", backup, len(data), err, len(original))
	}

	// Every rename, with its typed data.
	renames, err := s.Renames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fixtureV1Renames()
	if len(renames) != len(want) {
		t.Fatalf("%d renames, want %d", len(renames), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(renames[i], want[i]) {
			got, _ := json.MarshalIndent(renames[i], "", "  ")
			exp, _ := json.MarshalIndent(want[i], "", "  ")
			t.Errorf("rename %d:\n%s\nwant\n%s", i, got, exp)
		}
	}
	// Nothing of the old layout is left in the file.
	boltView(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRenames).ForEach(func(k, v []byte) error {
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if _, ok := rec["data"]; ok {
				t.Errorf("rename %s still has data: %s", k, v)
			}
			if bytes.Contains(v, []byte(`"offsets":"`)) {
				t.Errorf("rename %s still has offsets as a param: %s", k, v)
			}
			return nil
		})
	})

	// Every audit entry, in order, then the upgrade's.
	audit, err := s.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(fixtureAudit)+1 {
		t.Fatalf("%d audit entries, want %d", len(audit), len(fixtureAudit)+1)
	}
	if !reflect.DeepEqual(audit[:len(fixtureAudit)], fixtureAudit) {
		t.Errorf("audit entries changed:\n%+v\nwant\n%+v", audit[:len(fixtureAudit)], fixtureAudit)
	}
	if e := audit[9]; e.Seq != 10 || e.Command != "migrator cutover producers" || e.Action != "phase producers-cut" || e.DryRun ||
		e.Detail != `old topic end offsets {"0":12,"1":7,"2":0}` || !e.Time.Equal(at(9, 12)) {
		t.Errorf("audit entry 10 = %+v", e)
	}
	if e := audit[31]; e.Seq != 32 || e.Actor != "lead@bastion-2" || e.Rename != "huleedu.legacy.v1" || e.Action != "phase rolled-back" {
		t.Errorf("audit entry 32 = %+v", e)
	}
	up := audit[len(audit)-1]
	wantDetail := `schema version 1 → 2 (migrations: 2 typed rename data); the file as it was is kept in ` + backup +
		`; dropped, no longer used: rename "huleedu.grades.v1": data "handoff_ticket" = "OPS-4711 (set by hand)"`
	if up.Seq != 33 || up.Action != "upgrade state file" || up.Detail != wantDetail || up.Rename != "" ||
		up.Actor != testActor || up.Result != "ok" || up.DryRun || up.Command == "" ||
		!up.Time.Equal(time.Date(2026, 3, 1, 12, 0, 2, 0, time.UTC)) {
		t.Errorf("upgrade audit entry = %+v\nwant detail %s", up, wantDetail)
	}

	// Opening it again changes nothing: no second upgrade, no second backup.
	before := snapshot(t, path)
	if _, err := Open(path, Options{Now: newClock().Now, Actor: testActor}); err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, path, before)
	if got := backups(t, path); len(got) != 1 {
		t.Errorf("backups after a second Open: %q", got)
	}
	if again, err := s.Audit(ctx, ""); err != nil || len(again) != len(audit) {
		t.Errorf("audit after a second Open: %d entries, %v; want %d", len(again), err, len(audit))
	}

	// The upgraded file works as any other.
	r, err := s.EndStep(ctx, "huleedu.sessions.v1", "move-group:sessions-svc:huleedu.sessions.v2", AuditEntry{Command: "test"})
	if err != nil || r.Step != nil {
		t.Fatalf("EndStep after the upgrade: %+v, %v", r, err)
	}
}

// TestUpgradeBackupName checks that an upgrade never overwrites an earlier
// backup: it names its own after the time.
func TestUpgradeBackupName(t *testing.T) {
	path, original := copyFixture(t)
	earlier := []byte("an earlier backup")
	writeFile(t, path+".v1.bak", earlier)
	// The timestamped name is taken too: the next one gets a number.
	stamped := path + ".v1.20260301T120001Z.bak"
	writeFile(t, stamped, earlier)

	if _, err := Open(path, Options{Now: newClock().Now, Actor: testActor}); err != nil {
		t.Fatal(err)
	}
	backup := path + ".v1.20260301T120001Z-2.bak"
	if got, want := backups(t, path), []string{path + ".v1.20260301T120001Z-2.bak", stamped, path + ".v1.bak"}; !reflect.DeepEqual(got, want) {
		t.Errorf("backups = %q, want %q", got, want)
	}
	for _, name := range []string{path + ".v1.bak", stamped} {
		if data, err := os.ReadFile(name); err != nil || !bytes.Equal(data, earlier) {
			t.Errorf("earlier backup %s was changed: %q, %v", name, data, err)
		}
	}
	if data, err := os.ReadFile(backup); err != nil || !bytes.Equal(data, original) {
		t.Errorf("backup %s differs from the fixture: %v", backup, err)
	}
	audit := rawAudit(t, path)
	if d := audit[len(audit)-1].Detail; !strings.Contains(d, "the file as it was is kept in "+backup+";") {
		t.Errorf("upgrade audit detail %q does not name %s", d, backup)
	}
}

// editRename rewrites one stored rename of the file at path (a version 1
// fixture), as JSON, with bbolt directly.
func editRename(t *testing.T, path, from string, edit func(rec map[string]any)) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRenames)
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(from)), &rec); err != nil {
			return err
		}
		edit(rec)
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(from), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFails checks that an upgrade that fails half-way, on a value
// it cannot read, leaves the file as it was, at version 1, with no backup,
// and says which file, rename and key.
func TestUpgradeFails(t *testing.T) {
	tests := []struct {
		name   string
		rename string
		edit   func(rec map[string]any)
		want   string
	}{
		{
			name:   "swap groups not JSON",
			rename: "huleedu.feedback.v1",
			edit:   func(rec map[string]any) { rec["data"].(map[string]any)["swap_groups"] = `{"report-svc":{"0":101,` },
			want: `rename "huleedu.feedback.v1": data "swap_groups" = "{\"report-svc\":{\"0\":101," ` +
				`is not JSON group → partition → offset: unexpected end of JSON input`,
		},
		{
			name:   "verified_at not a time",
			rename: "huleedu.grades.v1",
			edit:   func(rec map[string]any) { rec["data"].(map[string]any)["verified_at"] = "yesterday" },
			want:   `rename "huleedu.grades.v1": data "verified_at" = "yesterday" is not an RFC 3339 time`,
		},
		{
			name:   "group move offsets not JSON",
			rename: "huleedu.sessions.v1",
			edit: func(rec map[string]any) {
				rec["step"].(map[string]any)["params"].(map[string]any)["offsets"] = `{"t":{"x":1}}`
			},
			want: `rename "huleedu.sessions.v1": step "move-group:sessions-svc:huleedu.sessions.v2": ` +
				`param "offsets" = "{\"t\":{\"x\":1}}" is not JSON topic → partition → offset`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := copyFixture(t)
			editRename(t, path, tt.rename, tt.edit)
			before := snapshot(t, path)

			_, err := Open(path, Options{Now: newClock().Now, Actor: testActor})
			wantErr(t, err, nil, fmt.Sprintf("state file %q: cannot upgrade it from schema version 1 to 2 (migration 2, typed rename data): ", path),
				tt.want, "the file was left as it was, at version 1")
			assertUnchanged(t, path, before)
			if got := backups(t, path); len(got) != 0 {
				t.Errorf("a failed upgrade left backups %q", got)
			}
			if v := schemaOf(t, path); v != "1" {
				t.Errorf("schema_version = %q, want \"1\"", v)
			}

			// A Store made before: every write fails the same way, every
			// read with ErrOlderSchema, and the file stays as it was.
			s := &Store{path: path, lockTimeout: time.Second, now: newClock().Now, actor: testActor}
			for op, err := range storeOps(s) {
				switch op {
				case "Rename", "Renames", "Audit":
					wantErr(t, err, ErrOlderSchema)
				default:
					wantErr(t, err, nil, tt.want)
				}
			}
			assertUnchanged(t, path, before)
		})
	}
}

// TestReadOlderFile checks that a read of a file replaced, after Open, by
// one of an older version refuses it clearly, without writing it, and that
// the next write upgrades it.
func TestReadOlderFile(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	data, err := os.ReadFile(fixtureV1)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.Path(), data)
	before := snapshot(t, s.Path())

	_, err = s.Renames(ctx)
	wantErr(t, err, ErrOlderSchema, fmt.Sprintf(`state file %q: listing renames: it has schema version 1, older than this migrator's 2, `, s.Path()),
		"and reading does not upgrade it")
	_, _, err = s.Rename(ctx, "huleedu.grades.v1")
	wantErr(t, err, ErrOlderSchema)
	_, err = s.Audit(ctx, "")
	wantErr(t, err, ErrOlderSchema)
	assertUnchanged(t, s.Path(), before)

	// A write upgrades it first.
	if _, err := s.Transition(ctx, "huleedu.essays.submitted.v1", PhaseMirroring, "bridge started", AuditEntry{Command: "test"}); err != nil {
		t.Fatal(err)
	}
	if v := schemaOf(t, s.Path()); v != "2" {
		t.Errorf("schema_version = %q, want \"2\"", v)
	}
	audit, err := s.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(audit); n != 34 || audit[32].Action != "upgrade state file" || audit[33].Action != "transition" {
		t.Errorf("audit after the write: %d entries, last %+v", n, audit[n-2:])
	}
	r, _, err := s.Rename(ctx, "huleedu.grades.v1")
	if err != nil || !reflect.DeepEqual(*r, fixtureV1Renames()[2]) {
		t.Errorf("rename after the upgrade: %+v, %v", r, err)
	}
}

// TestUpgradeNewerRefused checks that a file of a newer schema version is
// still refused and not written.
func TestUpgradeNewerRefused(t *testing.T) {
	path, _ := copyFixture(t)
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte("3")) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, path)
	_, err = Open(path, Options{})
	wantErr(t, err, ErrNewerSchema, fmt.Sprintf("state file %q has schema version 3, this migrator understands up to 2: use a newer migrator", path))
	assertUnchanged(t, path, before)
	if got := backups(t, path); len(got) != 0 {
		t.Errorf("backups of a refused file: %q", got)
	}
}

// TestUpgradeConcurrent checks that processes opening an old file at once
// upgrade it once: one backup, one audit entry.
func TestUpgradeConcurrent(t *testing.T) {
	path, _ := copyFixture(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Open(path, Options{Now: newClock().Now, Actor: testActor, LockTimeout: 10 * time.Second})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := backups(t, path); len(got) != 1 {
		t.Errorf("backups = %q, want one", got)
	}
	var upgrades int
	for _, e := range rawAudit(t, path) {
		if e.Action == "upgrade state file" {
			upgrades++
		}
	}
	if upgrades != 1 {
		t.Errorf("%d upgrade audit entries, want 1", upgrades)
	}
}
