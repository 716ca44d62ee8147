package state

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// recordingReplica records what it is given, or fails.
type recordingReplica struct {
	renames [][]Rename
	audit   [][]AuditEntry
	fail    error
}

func (r *recordingReplica) Publish(_ context.Context, renames []Rename, audit []AuditEntry) error {
	if r.fail != nil {
		return r.fail
	}
	r.renames = append(r.renames, renames)
	r.audit = append(r.audit, audit)
	return nil
}

// TestReplicaGetsEveryChangeBeforeCommit: each write transaction publishes
// the renames it stored (with their new revision) and the audit entries it
// appended; a publish that fails leaves the file as it was; a write that
// changes nothing publishes no rename.
func TestReplicaGetsEveryChangeBeforeCommit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	rep := &recordingReplica{}
	s.SetReplica(rep)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Transition(ctx, "a", PhaseCreated, "apply", AuditEntry{Command: "apply"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.renames) != 2 || len(rep.renames[1]) != 1 || !reflect.DeepEqual(rep.renames[1][0], *r) || r.Revision != 2 {
		t.Fatalf("published %+v, want the created rename at revision 2 (%+v)", rep.renames, r)
	}
	if len(rep.audit[1]) != 1 || rep.audit[1][0].Action != "transition" || rep.audit[1][0].Seq == 0 {
		t.Errorf("published audit %+v, want the transition's entry, numbered", rep.audit[1])
	}
	// The same phase again: logged, but the rename did not change.
	if _, err := s.Transition(ctx, "a", PhaseCreated, "apply again", AuditEntry{Command: "apply"}); err != nil {
		t.Fatal(err)
	}
	if len(rep.renames[2]) != 0 || len(rep.audit[2]) != 1 {
		t.Errorf("a no-op transition published renames %+v and audit %+v, want no rename and one entry", rep.renames[2], rep.audit[2])
	}

	rep.fail = errors.New("fenced: another holder took the lease")
	_, err = s.Transition(ctx, "a", PhaseMirroring, "bridge", AuditEntry{Command: "mirror"})
	if err == nil || !errors.Is(err, rep.fail) {
		t.Fatalf("transition with a failing replica: %v, want its error", err)
	}
	got, _, err := s.Rename(ctx, "a")
	if err != nil || got.Phase != PhaseCreated || got.Revision != 2 {
		t.Errorf("after a failed publish: %+v (err %v), want phase created at revision 2", got, err)
	}
	audit, _ := s.Audit(ctx, "a")
	if n := len(audit); n != 2 {
		t.Errorf("%d audit entries after a failed publish, want the 2 of before (nothing of it kept)", n)
	}
}

// TestExportImport: a snapshot exported from one file and imported into
// another gives the same renames (revisions included) and audit log.
func TestExportImport(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, err := s.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "a", PhaseCreated, "apply", AuditEntry{Command: "apply"}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := openTest(t)
	if err := other.Import(ctx, snap, true); err != nil {
		t.Fatal(err)
	}
	again, err := other.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, snap) {
		t.Errorf("imported state = %+v, want %+v", again, snap)
	}
}

// TestImportIsNotPublished: an import comes from the replica (state pull,
// a sync), so nothing of it goes back there.
func TestImportIsNotPublished(t *testing.T) {
	ctx := context.Background()
	src, _ := openTest(t)
	if _, err := src.EnsureRename(ctx, "a", "b", "dual"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Transition(ctx, "a", PhaseCreated, "apply", AuditEntry{Command: "apply"}); err != nil {
		t.Fatal(err)
	}
	snap, err := src.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := openTest(t)
	rep := &recordingReplica{}
	dst.SetReplica(rep)
	if err := dst.Import(ctx, snap, true); err != nil {
		t.Fatal(err)
	}
	if len(rep.renames) != 0 || len(rep.audit) != 0 {
		t.Errorf("an import published %+v and %+v, want nothing", rep.renames, rep.audit)
	}
}
