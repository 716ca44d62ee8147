package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a fake Options.Now: every call is one second after the last.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

const testActor = "tester@testhost"

// openTest opens a new store in a temporary directory.
func openTest(t *testing.T) (*Store, *clock) {
	t.Helper()
	c := newClock()
	s, err := Open(filepath.Join(t.TempDir(), DefaultPath), Options{Now: c.Now, Actor: testActor})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, c
}

// fileSnapshot is what a file looked like, to tell whether it was written.
type fileSnapshot struct {
	data    []byte
	modTime time.Time
	mode    fs.FileMode
}

// snapshot records path's bytes and mtime. It first moves the mtime into the
// past, so that a write, however quick, shows as a new mtime.
func snapshot(t *testing.T, path string) fileSnapshot {
	t.Helper()
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, past, past); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileSnapshot{data: data, modTime: info.ModTime(), mode: info.Mode()}
}

func assertUnchanged(t *testing.T, path string, before fileSnapshot) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, before.data) {
		t.Errorf("%s: content changed (%d bytes before, %d after)", path, len(before.data), len(data))
	}
	if !info.ModTime().Equal(before.modTime) {
		t.Errorf("%s: mtime changed from %v to %v", path, before.modTime, info.ModTime())
	}
	if info.Mode() != before.mode {
		t.Errorf("%s: mode changed from %v to %v", path, before.mode, info.Mode())
	}
}

func wantErr(t *testing.T, err error, kind error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one wrapping %v", kind)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %q", err, kind)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

func TestOpenCreatesFile(t *testing.T) {
	s, _ := openTest(t)
	if filepath.Base(s.Path()) != "migrator.db" {
		t.Errorf("Path() = %q", s.Path())
	}

	// Look at the file with bbolt itself.
	db, err := bolt.Open(s.Path(), 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var buckets []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			buckets = append(buckets, string(name))
			return nil
		})
		if got, want := strings.Join(buckets, ","), "audit,meta,renames"; got != want {
			t.Errorf("buckets = %s, want %s", got, want)
		}
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); string(v) != "2" {
			t.Errorf("schema_version = %q, want \"2\"", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenDefaults(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.lockTimeout != DefaultLockTimeout {
		t.Errorf("lock timeout = %v, want %v", s.lockTimeout, DefaultLockTimeout)
	}
	if user, host, ok := strings.Cut(s.actor, "@"); !ok || user == "" || host == "" {
		t.Errorf("default actor = %q, want user@host", s.actor)
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)

	if _, err := s.EnsureRename(ctx, "huleedu.a_b.v1", "huleedu.a.b.v1", "swap"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureRename(ctx, "huleedu.c.v1", "huleedu.c.v2", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "huleedu.a_b.v1", PhaseCreated, "topics created", AuditEntry{Command: "apply"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginStep(ctx, "huleedu.a_b.v1", Step{Name: "stage", Params: map[string]string{"partitions": "6"}}, AuditEntry{Command: "mirror"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EndStep(ctx, "huleedu.a_b.v1", "stage", AuditEntry{Command: "mirror"}); err != nil {
		t.Fatal(err)
	}
	// Every typed field, set with Update, is stored and read back as it was.
	swap := &SwapProgress{
		Done:       "saved",
		Fence:      &Fence{Own: true, Value: "1048576"},
		Groups:     GroupOffsets{"g1": {0: 10, 1: 11}, "g2": {0: 0}},
		OldOffsets: GroupOffsets{"g1": {0: 110, 1: 111}, "g2": {0: 7}},
		Spec: &TopicSpec{Name: "huleedu.a.b.v1", Partitions: 2, ReplicationFactor: 3,
			Configs: map[string]string{"retention.ms": "1000"},
			ACLs:    []ACL{{Principal: "User:a", Host: "*", Operation: "READ", Permission: "ALLOW", Pattern: "LITERAL", Resource: "huleedu.a_b.v1"}}},
		DeletingAt: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
	}
	cut := &ProducersCut{OldEnd: Offsets{0: 12, 1: 7}}
	verified := &Verification{At: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), OldEnd: Offsets{0: 12, 1: 9}}
	prefix := &VerifiedPrefix{At: time.Date(2026, 3, 1, 12, 40, 0, 0, time.UTC), Source: "huleedu.a_b.v1", Target: "migrator.staging.huleedu.a.b.v1",
		SourceID: "AAAAAAAAAAAAAAAAAAAAAQ", TargetID: "AAAAAAAAAAAAAAAAAAAAAg", Partitions: []PrefixPartition{
			{Partition: 0, SourceLogStart: 0, TargetLogStart: 0, SourceFrom: 0, SourceEnd: 12, TargetFrom: 0, TargetEnd: 14, Records: 12},
			{Partition: 1, SourceLogStart: 3, TargetLogStart: 0, SourceFrom: 3, SourceEnd: 9, TargetFrom: 0, TargetEnd: 7, Records: 6}}}
	err := s.Update(ctx, func(tx *Tx) error {
		r, _, err := tx.Rename("huleedu.a_b.v1")
		if err != nil {
			return err
		}
		r.Swap, r.ProducersCut, r.Verified, r.StagingVerified = swap, cut, verified, prefix
		return tx.PutRename(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	last, _, err := s.Rename(ctx, "huleedu.a_b.v1")
	if err != nil {
		t.Fatal(err)
	}
	wantRenames, err := s.Renames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAudit, err := s.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	// A new Store on the same file, as the next command would make, sees
	// the same state.
	again, err := Open(s.Path(), Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	got, ok, err := again.Rename(ctx, "huleedu.a_b.v1")
	if err != nil || !ok {
		t.Fatalf("Rename = %v, %v, %v", got, ok, err)
	}
	if !reflect.DeepEqual(got, last) {
		t.Errorf("reopened rename =\n%+v\nwant\n%+v", got, last)
	}
	if !reflect.DeepEqual(got.Swap, swap) || !reflect.DeepEqual(got.ProducersCut, cut) || !reflect.DeepEqual(got.Verified, verified) ||
		!reflect.DeepEqual(got.StagingVerified, prefix) || got.StagingVerified.Records() != 18 || got.StagingVerified.SourceEnds()[1] != 9 ||
		got.Step != nil || got.Phase != PhaseCreated {
		t.Errorf("reopened rename = %+v\nswap %+v", got, got.Swap)
	}
	gotRenames, err := again.Renames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRenames, wantRenames) {
		t.Errorf("reopened renames = %+v\nwant %+v", gotRenames, wantRenames)
	}
	gotAudit, err := again.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotAudit, wantAudit) || len(gotAudit) != 3 {
		t.Errorf("reopened audit = %+v\nwant %+v", gotAudit, wantAudit)
	}
}

func TestEnsureRename(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)

	r, err := s.EnsureRename(ctx, "a", "b", "dual")
	if err != nil {
		t.Fatal(err)
	}
	want := Rename{From: "a", To: "b", Strategy: "dual", Revision: 1, Phase: PhasePlanned, PhaseSince: r.CreatedAt, CreatedAt: r.CreatedAt}
	if !reflect.DeepEqual(*r, want) || r.CreatedAt.IsZero() {
		t.Errorf("new rename = %+v, want %+v", *r, want)
	}

	// Ensuring it again returns the stored one, unchanged.
	if _, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	again, err := s.EnsureRename(ctx, "a", "b", "dual")
	if err != nil {
		t.Fatal(err)
	}
	if again.Phase != PhaseCreated || !again.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("EnsureRename of a recorded rename = %+v", again)
	}

	tests := []struct {
		name               string
		from, to, strategy string
		wantErr            string
	}{
		{"other to", "a", "c", "dual", `rename "a" is already recorded in state file "` + s.Path() + `" with to topic "b", not "c"`},
		{"other strategy", "a", "b", "swap", `rename "a" is already recorded in state file "` + s.Path() + `" with strategy "dual", not "swap"`},
		{"no from", "", "b", "dual", "rename has no from topic"},
		{"no to", "x", "", "dual", `rename "x" has no to topic`},
		{"same topic", "x", "x", "dual", `rename "x" has the same from and to topic`},
		{"bad strategy", "x", "y", "copy", `strategy "copy" is not a strategy (use dual, swap or hop)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.EnsureRename(ctx, tt.from, tt.to, tt.strategy)
			wantErr(t, err, nil, tt.wantErr)
		})
	}
	renames, err := s.Renames(ctx)
	if err != nil || len(renames) != 1 {
		t.Errorf("after refused EnsureRenames: %d renames, %v", len(renames), err)
	}
}

func TestTransitionForward(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}

	prev := PhasePlanned
	for i, to := range []Phase{PhaseCreated, PhaseMirroring, PhaseConsumersCut, PhaseProducersCut, PhaseRetired} {
		reason := "step " + string(to)
		r, err := s.Transition(ctx, "a", to, reason, AuditEntry{Command: "migrator " + string(to)})
		if err != nil {
			t.Fatalf("Transition to %s: %v", to, err)
		}
		if r.Phase != to || len(r.History) != i+1 {
			t.Fatalf("after Transition to %s: phase %s, %d history entries", to, r.Phase, len(r.History))
		}
		h := r.History[i]
		want := Transition{From: prev, To: to, At: h.At, Actor: testActor, Reason: reason}
		if h != want || h.At.IsZero() || !r.PhaseSince.Equal(h.At) {
			t.Errorf("history entry %d = %+v (phase since %v), want %+v", i, h, r.PhaseSince, want)
		}
		if i > 0 && !h.At.After(r.History[i-1].At) {
			t.Errorf("history not in order: %v", r.History)
		}
		stored, _, err := s.Rename(ctx, "a")
		if err != nil || !reflect.DeepEqual(stored, r) {
			t.Errorf("stored rename = %+v, %v; want %+v", stored, err, r)
		}
		prev = to
	}

	audit, err := s.Audit(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 5 {
		t.Fatalf("%d audit entries, want 5", len(audit))
	}
	for _, e := range audit {
		if e.Rename != "a" || e.Action != "transition" || e.Result != "ok" || e.Actor != testActor {
			t.Errorf("audit entry = %+v", e)
		}
	}

	_, err = s.Transition(ctx, "a", PhaseRolledBack, "too late", AuditEntry{})
	wantErr(t, err, ErrIllegalTransition, `rename "a": cannot move from phase "retired" to "rolled-back": "retired" is final`)
}

func TestTransitionRollBackAndStartOver(t *testing.T) {
	ctx := context.Background()
	order := []Phase{PhasePlanned, PhaseCreated, PhaseMirroring, PhaseConsumersCut, PhaseProducersCut}
	for n, phase := range order {
		t.Run(string(phase), func(t *testing.T) {
			s, _ := openTest(t)
			if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
				t.Fatal(err)
			}
			for _, to := range order[1 : n+1] {
				if _, err := s.Transition(ctx, "a", to, "", AuditEntry{}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := s.Transition(ctx, "a", PhaseRolledBack, "broker trouble", AuditEntry{})
			if err != nil {
				t.Fatalf("roll back from %s: %v", phase, err)
			}
			if r.Phase != PhaseRolledBack || r.History[len(r.History)-1].From != phase {
				t.Errorf("after roll back: %+v", r)
			}
			r, err = s.Transition(ctx, "a", PhasePlanned, "start over", AuditEntry{})
			if err != nil {
				t.Fatalf("plan again: %v", err)
			}
			if r.Phase != PhasePlanned || len(r.History) != n+2 {
				t.Errorf("after planning again: phase %s, %d history entries", r.Phase, len(r.History))
			}
		})
	}
}

func TestTransitionSamePhaseIsNoOp(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	first, err := s.Transition(ctx, "a", PhaseCreated, "apply", AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Transition(ctx, "a", PhaseCreated, "apply again", AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatalf("same-phase transition: %v", err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Errorf("same-phase transition changed the rename:\n%+v\nwas\n%+v", again, first)
	}
	// The re-run is still logged.
	audit, err := s.Audit(ctx, "a")
	if err != nil || len(audit) != 2 {
		t.Errorf("audit = %+v, %v; want 2 entries", audit, err)
	}
}

func TestTransitionRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Path())

	tests := []struct {
		name string
		from string
		to   Phase
		kind error
		want string
	}{
		{"skips a phase", "a", PhaseMirroring, ErrIllegalTransition,
			`rename "a": cannot move from phase "planned" to "mirroring": from "planned" the next phase can only be "created" or "rolled-back"`},
		{"straight to retired", "a", PhaseRetired, ErrIllegalTransition,
			`rename "a": cannot move from phase "planned" to "retired"`},
		{"not a phase", "a", "done", ErrIllegalTransition,
			`rename "a": cannot move to phase "done": it is not a phase`},
		{"unknown rename", "nope", PhaseCreated, ErrNotFound,
			`rename "nope" is not in state file "` + s.Path() + `"; plan it first`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Transition(ctx, tt.from, tt.to, "", AuditEntry{Command: "x"})
			wantErr(t, err, tt.kind, tt.want)
		})
	}
	// A refused transition writes nothing, not even its audit entry.
	assertUnchanged(t, s.Path(), before)
}

func TestTransitionDryRun(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{Command: "apply --dry-run", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase != PhaseCreated {
		t.Errorf("dry run returned phase %s, want what it would become (created)", r.Phase)
	}
	stored, _, err := s.Rename(ctx, "a")
	if err != nil || stored.Phase != PhasePlanned || len(stored.History) != 0 {
		t.Errorf("dry run changed the stored rename: %+v, %v", stored, err)
	}
	audit, err := s.Audit(ctx, "a")
	if err != nil || len(audit) != 1 || !audit[0].DryRun {
		t.Errorf("dry run audit = %+v, %v", audit, err)
	}
	_, err = s.Transition(ctx, "a", PhaseRetired, "", AuditEntry{DryRun: true})
	wantErr(t, err, ErrIllegalTransition)
}

func TestSteps(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "swap"); err != nil {
		t.Fatal(err)
	}

	intent := Step{
		Name:    "create-staging",
		Params:  map[string]string{"partitions": "6"},
		Offsets: GroupOffsets{"a.staging": {0: 5, 1: 6}},
		// The store sets these two: what the caller says is ignored.
		StartedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		Actor:     "someone@else",
	}
	r, err := s.BeginStep(ctx, "a", intent, AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	began := r.Step
	if began == nil || began.Name != "create-staging" || began.Actor != testActor || began.Params["partitions"] != "6" ||
		!reflect.DeepEqual(began.Offsets, intent.Offsets) || began.StartedAt.IsZero() || began.StartedAt.Equal(intent.StartedAt) {
		t.Fatalf("Step after BeginStep = %+v", began)
	}
	// The step holds copies: changing the caller's maps changes nothing.
	intent.Params["partitions"], intent.Offsets["a.staging"][0] = "99", 99
	if began.Params["partitions"] != "6" || began.Offsets["a.staging"][0] != 5 {
		t.Fatalf("Step shares the caller's maps: %+v", began)
	}

	// The intent is on disk: a command that crashed now finds it.
	reopened, err := Open(s.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := reopened.Rename(ctx, "a")
	if err != nil || !reflect.DeepEqual(stored.Step, began) {
		t.Fatalf("stored Step = %+v, %v; want %+v", stored.Step, err, began)
	}

	// Running the same step again resumes it: same Step, not a new one.
	r, err = s.BeginStep(ctx, "a", Step{Name: "create-staging", Params: map[string]string{"partitions": "12"}, Offsets: GroupOffsets{"x": {0: 1}}}, AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatalf("resuming the step: %v", err)
	}
	if !reflect.DeepEqual(r.Step, began) {
		t.Errorf("resumed Step = %+v, want the one in progress %+v", r.Step, began)
	}

	// Another step is refused while it is in progress.
	started := began.StartedAt.Format(time.RFC3339)
	_, err = s.BeginStep(ctx, "a", Step{Name: "copy-acls"}, AuditEntry{})
	wantErr(t, err, ErrStepInProgress,
		`rename "a": cannot begin step "copy-acls": step "create-staging" is in progress since `+started+` (begun by `+testActor+`)`)
	_, err = s.EndStep(ctx, "a", "copy-acls", AuditEntry{})
	wantErr(t, err, ErrNoStep,
		`rename "a": cannot end step "copy-acls": the step in progress is "create-staging" (since `+started+`)`)

	r, err = s.EndStep(ctx, "a", "create-staging", AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != nil {
		t.Errorf("after EndStep: step %+v", r.Step)
	}
	_, err = s.EndStep(ctx, "a", "create-staging", AuditEntry{})
	wantErr(t, err, ErrNoStep, `rename "a": cannot end step "create-staging": no step is in progress`)

	// A step's results, stored with Update, are kept by the steps and
	// transitions that follow.
	cut := &ProducersCut{OldEnd: Offsets{0: 12, 1: 7}}
	swap := &SwapProgress{Done: "fenced", Fence: &Fence{Own: true, Value: "1048576"}}
	err = s.Update(ctx, func(tx *Tx) error {
		cur, _, err := tx.Rename("a")
		if err != nil {
			return err
		}
		cur.ProducersCut, cur.Swap = cut, swap
		return tx.PutRename(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginStep(ctx, "a", Step{Name: "copy-acls"}, AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	r, err = s.EndStep(ctx, "a", "copy-acls", AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.ProducersCut, cut) || !reflect.DeepEqual(r.Swap, swap) || r.Verified != nil {
		t.Errorf("after a second step: producers cut %+v, swap %+v, verified %+v", r.ProducersCut, r.Swap, r.Verified)
	}
	r, err = s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err = s.Rename(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored, r) || !reflect.DeepEqual(stored.ProducersCut, cut) || !reflect.DeepEqual(stored.Swap, swap) {
		t.Errorf("after a transition: stored %+v, returned %+v", stored, r)
	}

	audit, err := s.Audit(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	want := "begin step create-staging,begin step create-staging,end step create-staging,begin step copy-acls,end step copy-acls,transition"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("audit actions = %s\nwant %s", got, want)
	}

	_, err = s.BeginStep(ctx, "nope", Step{Name: "x"}, AuditEntry{})
	wantErr(t, err, ErrNotFound)
	_, err = s.EndStep(ctx, "nope", "x", AuditEntry{})
	wantErr(t, err, ErrNotFound)
	_, err = s.BeginStep(ctx, "a", Step{}, AuditEntry{})
	wantErr(t, err, nil, "cannot begin a step with no name")
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	s, c := openTest(t)
	for _, from := range []string{"a", "b"} {
		if _, err := s.EnsureRename(ctx, from, from+"2", "dual"); err != nil {
			t.Fatal(err)
		}
	}
	earlier := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		rename string
		entry  AuditEntry
	}{
		{"a", AuditEntry{Command: "cmd1", Action: "create topic"}},
		{"b", AuditEntry{Command: "cmd2"}},
		{"a", AuditEntry{Command: "cmd3", Actor: "bob@laptop", Time: earlier}},
		{"", AuditEntry{Command: "cmd4", Action: "plan", Detail: "11 renames", Result: "boom"}},
		{"b", AuditEntry{Command: "cmd5", Action: "verify", DryRun: true}},
	}
	for _, st := range steps {
		var err error
		if st.entry.Action == "" {
			_, err = s.Transition(ctx, st.rename, PhasePlanned, "", st.entry)
		} else {
			st.entry.Rename = st.rename
			err = s.Update(ctx, func(tx *Tx) error { return tx.Append(st.entry) })
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	all, err := s.Audit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(steps) {
		t.Fatalf("%d entries, want %d", len(all), len(steps))
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Command != steps[i].entry.Command {
			t.Errorf("entry %d = seq %d command %q; want seq %d command %q", i, e.Seq, e.Command, i+1, steps[i].entry.Command)
		}
		if e.Time.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
	}
	if e := all[0]; e.Actor != testActor || e.Rename != "a" || e.Result != "" {
		t.Errorf("appended entry = %+v; want the store's actor and the caller's (empty) result", e)
	}
	if e := all[1]; e.Action != "transition" || e.Result != "ok" || e.Rename != "b" {
		t.Errorf("transition entry = %+v", e)
	}
	if e := all[2]; e.Actor != "bob@laptop" || !e.Time.Equal(earlier) {
		t.Errorf("caller's actor and time not kept: %+v", e)
	}
	if e := all[3]; e.Rename != "" || e.Detail != "11 renames" || e.Result != "boom" {
		t.Errorf("entry with no rename = %+v", e)
	}
	if !all[4].DryRun || !all[4].Time.Before(c.Now()) {
		t.Errorf("last entry = %+v", all[4])
	}

	tests := []struct {
		rename string
		want   []string
	}{
		{"a", []string{"cmd1", "cmd3"}},
		{"b", []string{"cmd2", "cmd5"}},
		{"zzz", nil},
		{"", []string{"cmd1", "cmd2", "cmd3", "cmd4", "cmd5"}},
	}
	for _, tt := range tests {
		got, err := s.Audit(ctx, tt.rename)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Errorf("Audit(%q) = nil, want an empty slice", tt.rename)
		}
		var commands []string
		for _, e := range got {
			commands = append(commands, e.Command)
		}
		if !reflect.DeepEqual(commands, tt.want) {
			t.Errorf("Audit(%q) commands = %v, want %v", tt.rename, commands, tt.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	s, c := openTest(t)

	// Several changes in one transaction.
	now := c.Now()
	err := s.Update(ctx, func(tx *Tx) error {
		for _, from := range []string{"b", "a"} {
			r := &Rename{From: from, To: from + ".v2", Strategy: "dual", Phase: PhasePlanned, PhaseSince: now, CreatedAt: now}
			if err := tx.PutRename(r); err != nil {
				return err
			}
		}
		r, ok, err := tx.Rename("a")
		if err != nil || !ok || r.To != "a.v2" {
			return fmt.Errorf("Rename in the same transaction = %+v, %v, %v", r, ok, err)
		}
		all, err := tx.Renames()
		if err != nil || len(all) != 2 || all[0].From != "a" {
			return fmt.Errorf("Renames in the same transaction = %+v, %v", all, err)
		}
		return tx.Append(AuditEntry{Command: "plan", Action: "plan"})
	})
	if err != nil {
		t.Fatal(err)
	}
	renames, err := s.Renames(ctx)
	if err != nil || len(renames) != 2 || renames[0].From != "a" || renames[1].From != "b" {
		t.Fatalf("Renames = %+v, %v", renames, err)
	}

	// An error or a panic rolls everything back.
	before := snapshot(t, s.Path())
	errStop := errors.New("stop")
	err = s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutRename(&Rename{From: "c", To: "d", Strategy: "dual", Phase: PhasePlanned}); err != nil {
			return err
		}
		if err := tx.Append(AuditEntry{Command: "x"}); err != nil {
			return err
		}
		return errStop
	})
	if err != errStop {
		t.Errorf("Update returned %v, want the function's own error", err)
	}
	err = s.Update(ctx, func(tx *Tx) error {
		if err := tx.Append(AuditEntry{Command: "x"}); err != nil {
			return err
		}
		var m map[string]int
		m["boom"]++ // panics
		return nil
	})
	wantErr(t, err, nil, "the update function panicked", "its transaction was rolled back")
	assertUnchanged(t, s.Path(), before)

	// Badly formed renames are refused.
	bad := []*Rename{
		nil,
		{From: "", To: "x", Strategy: "dual", Phase: PhasePlanned},
		{From: "x", To: "", Strategy: "dual", Phase: PhasePlanned},
		{From: "x", To: "y", Strategy: "", Phase: PhasePlanned},
		{From: "x", To: "y", Strategy: "dual", Phase: "done"},
	}
	for _, r := range bad {
		err := s.Update(ctx, func(tx *Tx) error { return tx.PutRename(r) })
		if err == nil {
			t.Errorf("PutRename(%+v) succeeded", r)
		}
	}

	// A Tx is dead once its function has returned.
	var kept *Tx
	if err := s.Update(ctx, func(tx *Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kept.Rename("a"); err == nil {
		t.Error("Tx used after its Update: no error")
	}
	if err := s.Update(ctx, nil); err == nil {
		t.Error("Update(nil) succeeded")
	}
}

func TestReadMissingFileDoesNotCreateIt(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}

	r, ok, err := s.Rename(ctx, "a")
	if r != nil || ok || err != nil {
		t.Errorf("Rename on a missing file = %v, %v, %v", r, ok, err)
	}
	renames, err := s.Renames(ctx)
	if err != nil || renames == nil || len(renames) != 0 {
		t.Errorf("Renames on a missing file = %#v, %v", renames, err)
	}
	audit, err := s.Audit(ctx, "")
	if err != nil || audit == nil || len(audit) != 0 {
		t.Errorf("Audit on a missing file = %#v, %v", audit, err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading created the file: %v", err)
	}

	// An operation that writes creates it again.
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Rename(ctx, "a"); !ok || err != nil {
		t.Errorf("after EnsureRename: %v, %v", ok, err)
	}
}

func TestEmptyFilesAreInitialized(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// A zero-length file (touch, mktemp) ...
	zero := filepath.Join(dir, "zero.db")
	if err := os.WriteFile(zero, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// ... and a bbolt file with nothing in it, as a migrator that stopped
	// while creating the file leaves it.
	empty := filepath.Join(dir, "empty.db")
	db, err := bolt.Open(empty, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{zero, empty} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
				t.Fatal(err)
			}
			if renames, err := s.Renames(ctx); err != nil || len(renames) != 1 {
				t.Errorf("Renames = %v, %v", renames, err)
			}
		})
	}
}

func TestBadPaths(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	missingDir := filepath.Join(dir, "no-such-dir")
	path := filepath.Join(missingDir, "migrator.db")
	_, err := Open(path, Options{})
	wantErr(t, err, fs.ErrNotExist,
		fmt.Sprintf(`state file %q: opening it: cannot create it: directory %q does not exist`, path, missingDir))
	if _, err := os.Stat(missingDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created the directory: %v", err)
	}

	_, err = Open(dir, Options{})
	wantErr(t, err, nil, fmt.Sprintf("state file %q is a directory, not a file", dir))

	// A Store whose directory disappears.
	s, _ := openTest(t)
	if err := os.RemoveAll(filepath.Dir(s.Path())); err != nil {
		t.Fatal(err)
	}
	_, err = s.EnsureRename(ctx, "a", "b", "dual")
	wantErr(t, err, fs.ErrNotExist, s.Path(), `recording rename "a"`, "does not exist")
}

func TestReadOnlyFile(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Path(), 0o444); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Path())

	// Reading a read-only file works, Open included.
	if _, err := Open(s.Path(), Options{}); err != nil {
		t.Errorf("Open of a read-only file: %v", err)
	}
	if r, ok, err := s.Rename(ctx, "a"); !ok || err != nil || r.To != "b" {
		t.Errorf("Rename on a read-only file = %v, %v, %v", r, ok, err)
	}

	t.Run("write", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root, which chmod 0444 does not stop from writing; TestWriteFailure covers a failing disk")
		}
		_, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{})
		wantErr(t, err, fs.ErrPermission,
			fmt.Sprintf(`state file %q: moving rename "a" to "created": cannot open it for writing`, s.Path()))
	})
	assertUnchanged(t, s.Path(), before)
}

// TestWriteFailure simulates a disk that fails every write (the file is
// handed to bbolt opened read-only): the error names the file and the
// operation, and the file is left as it was.
func TestWriteFailure(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Path())
	wantRenames, err := s.Renames(ctx)
	if err != nil {
		t.Fatal(err)
	}

	failing := *s
	failing.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		return os.OpenFile(name, os.O_RDONLY, 0)
	}
	_, err = failing.Transition(ctx, "a", PhaseCreated, "", AuditEntry{Command: "apply"})
	wantErr(t, err, nil,
		fmt.Sprintf(`state file %q: moving rename "a" to "created": write failed (the file was left as it was): `, s.Path()))
	_, err = failing.EnsureRename(ctx, "c", "d", "dual")
	wantErr(t, err, nil, s.Path(), `recording rename "c"`, "write failed")

	assertUnchanged(t, s.Path(), before)
	if got, err := s.Renames(ctx); err != nil || !reflect.DeepEqual(got, wantRenames) {
		t.Errorf("after failed writes: %+v, %v; want %+v", got, err, wantRenames)
	}
	if audit, err := s.Audit(ctx, ""); err != nil || len(audit) != 0 {
		t.Errorf("after failed writes, audit = %+v, %v", audit, err)
	}
}

func TestContextCancelled(t *testing.T) {
	s, _ := openTest(t)
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	ops := map[string]func() error{
		"Rename":       func() error { _, _, err := s.Rename(ctx, "a"); return err },
		"Renames":      func() error { _, err := s.Renames(ctx); return err },
		"Audit":        func() error { _, err := s.Audit(ctx, ""); return err },
		"EnsureRename": func() error { _, err := s.EnsureRename(ctx, "a", "b", "dual"); return err },
		"Transition":   func() error { _, err := s.Transition(ctx, "a", PhaseCreated, "", AuditEntry{}); return err },
		"BeginStep":    func() error { _, err := s.BeginStep(ctx, "a", Step{Name: "x"}, AuditEntry{}); return err },
		"EndStep":      func() error { _, err := s.EndStep(ctx, "a", "x", AuditEntry{}); return err },
		"Update":       func() error { return s.Update(ctx, func(*Tx) error { return nil }) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			wantErr(t, op(), context.Canceled, s.Path())
		})
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled operation created the file: %v", err)
	}
}

// TestConcurrentStores checks that operations from many goroutines, each
// opening the file on its own, wait for one another and all land.
func TestConcurrentStores(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	const workers, each = 8, 5

	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				from := fmt.Sprintf("t%d.%d", w, i)
				if _, err := s.EnsureRename(ctx, from, from+".v2", "dual"); err != nil {
					errs <- err
					return
				}
				if _, err := s.Transition(ctx, from, PhaseCreated, "", AuditEntry{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	renames, err := s.Renames(ctx)
	if err != nil || len(renames) != workers*each {
		t.Fatalf("%d renames, %v; want %d", len(renames), err, workers*each)
	}
	audit, err := s.Audit(ctx, "")
	if err != nil || len(audit) != workers*each {
		t.Fatalf("%d audit entries, %v; want %d", len(audit), err, workers*each)
	}
	for i, e := range audit {
		if e.Seq != uint64(i+1) {
			t.Fatalf("audit entry %d has seq %d", i, e.Seq)
		}
	}
}
