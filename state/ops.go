package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Rename returns the rename whose old topic is from, and whether there is
// one. A missing state file holds no renames.
func (s *Store) Rename(ctx context.Context, from string) (*Rename, bool, error) {
	var r *Rename
	err := s.view(ctx, fmt.Sprintf("reading rename %q", from), func(tx *bolt.Tx) error {
		var err error
		r, err = s.getRename(tx, from)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return r, r != nil, nil
}

// Renames returns every rename, sorted by From. A missing state file holds
// no renames.
func (s *Store) Renames(ctx context.Context) ([]Rename, error) {
	renames := []Rename{}
	err := s.view(ctx, "listing renames", func(tx *bolt.Tx) error {
		var err error
		renames, err = s.listRenames(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return renames, nil
}

// EnsureRename records the rename from → to in PhasePlanned unless it is
// already recorded, and returns it. A rename already recorded with another
// To or Strategy is an error: the rename map changed under a migration.
// strategy must be "dual", "swap" or "hop".
func (s *Store) EnsureRename(ctx context.Context, from, to, strategy string) (*Rename, error) {
	op := fmt.Sprintf("recording rename %q", from)
	if err := s.ready(ctx, op); err != nil {
		return nil, err
	}
	// Check the arguments before the file is opened, or even created.
	want := &Rename{From: from, To: to, Strategy: strategy, Phase: PhasePlanned}
	if err := want.validate(); err != nil {
		return nil, fmt.Errorf("state file %q: cannot record rename: %w", s.path, err)
	}
	var out *Rename
	err := s.update(ctx, op, func(tx *bolt.Tx) error {
		r, err := s.getRename(tx, from)
		if err != nil {
			return err
		}
		if r == nil {
			want.CreatedAt = s.clock()
			want.PhaseSince = want.CreatedAt
			out = want
			return s.putRename(tx, want)
		}
		if r.To != to {
			return fmt.Errorf("rename %q is already recorded in state file %q with to topic %q, not %q: "+
				"the rename map changed under a recorded migration", from, s.path, r.To, to)
		}
		if r.Strategy != strategy {
			return fmt.Errorf("rename %q is already recorded in state file %q with strategy %q, not %q: "+
				"the rename map changed under a recorded migration", from, s.path, r.Strategy, strategy)
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Transition moves the rename from to phase to (see CanTransition), records
// the change in its History, sets PhaseSince and appends audit to the audit
// log, all in one transaction. Moving to the phase the rename is already in
// changes nothing but still appends audit, so a re-run command is logged.
//
// The store fills in audit's Seq, and its Time, Actor, Rename ("from"),
// Action ("transition") and Result ("ok") when they are empty. When
// audit.DryRun is set the transition is checked and audit appended, but the
// rename is not changed; the Rename returned shows what it would become.
func (s *Store) Transition(ctx context.Context, from string, to Phase, reason string, audit AuditEntry) (*Rename, error) {
	var out *Rename
	err := s.update(ctx, fmt.Sprintf("moving rename %q to %q", from, to), func(tx *bolt.Tx) error {
		r, err := s.mustGetRename(tx, from)
		if err != nil {
			return err
		}
		if err := CanTransition(r.Phase, to); err != nil {
			return fmt.Errorf("rename %q: %w", from, err)
		}
		now := s.clock()
		if r.Phase != to {
			r.History = append(r.History, Transition{
				From: r.Phase, To: to, At: now, Actor: s.actorOf(audit), Reason: reason,
			})
			r.Phase = to
			r.PhaseSince = now
		}
		out = r
		return s.finish(tx, r, fillAudit(audit, from, "transition"), now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BeginStep records that the step intent.Name is starting on the rename
// from (its intent: its Params and Offsets), and appends audit, in one
// transaction; the store sets StartedAt and Actor. If the same step is
// already in progress (a command crashed and runs again), the rename is
// returned with that Step, its StartedAt, Params and Offsets unchanged, so
// the caller can resume it. If another step is in progress the error, which wraps
// ErrStepInProgress, names it and when it started.
//
// audit is filled in as for Transition (Action "begin step <step>"); with
// audit.DryRun set the step is checked but not recorded.
func (s *Store) BeginStep(ctx context.Context, from string, intent Step, audit AuditEntry) (*Rename, error) {
	step := intent.Name
	op := fmt.Sprintf("beginning step %q of rename %q", step, from)
	if err := s.ready(ctx, op); err != nil {
		return nil, err
	}
	if step == "" {
		return nil, fmt.Errorf("state file %q: rename %q: cannot begin a step with no name", s.path, from)
	}
	var out *Rename
	err := s.update(ctx, op, func(tx *bolt.Tx) error {
		r, err := s.mustGetRename(tx, from)
		if err != nil {
			return err
		}
		now := s.clock()
		switch {
		case r.Step == nil:
			r.Step = &Step{Name: step, StartedAt: now, Actor: s.actorOf(audit), Params: maps.Clone(intent.Params), Offsets: cloneGroupOffsets(intent.Offsets)}
		case r.Step.Name != step:
			return &stateError{
				msg: fmt.Sprintf("rename %q: cannot begin step %q: step %q is in progress since %s (begun by %s); "+
					"run the command that began it again so that it can finish",
					from, step, r.Step.Name, r.Step.StartedAt.Format(time.RFC3339), r.Step.Actor),
				kind: ErrStepInProgress,
			}
		}
		out = r
		return s.finish(tx, r, fillAudit(audit, from, "begin step "+step), now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EndStep records that step has finished on the rename from: it clears
// Step and appends audit, in one transaction. The
// error wraps ErrNoStep when step is not the step in progress.
//
// audit is filled in as for Transition (Action "end step <step>"); with
// audit.DryRun set the rename is not changed.
func (s *Store) EndStep(ctx context.Context, from, step string, audit AuditEntry) (*Rename, error) {
	var out *Rename
	err := s.update(ctx, fmt.Sprintf("ending step %q of rename %q", step, from), func(tx *bolt.Tx) error {
		r, err := s.mustGetRename(tx, from)
		if err != nil {
			return err
		}
		switch {
		case r.Step == nil:
			return &stateError{
				msg:  fmt.Sprintf("rename %q: cannot end step %q: no step is in progress", from, step),
				kind: ErrNoStep,
			}
		case r.Step.Name != step:
			return &stateError{
				msg: fmt.Sprintf("rename %q: cannot end step %q: the step in progress is %q (since %s)",
					from, step, r.Step.Name, r.Step.StartedAt.Format(time.RFC3339)),
				kind: ErrNoStep,
			}
		}
		r.Step = nil
		out = r
		return s.finish(tx, r, fillAudit(audit, from, "end step "+step), s.clock())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update runs fn in one read-write transaction, creating the state file if
// it is missing. If fn returns an error (or panics) nothing it did is
// written and the error is returned as it is (a panic as an error). fn must
// not keep tx.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return errors.New("state: Update needs a function")
	}
	return s.update(ctx, "updating it", func(btx *bolt.Tx) error {
		t := &Tx{s: s, tx: btx}
		err := s.callUpdateFn(fn, t)
		t.tx = nil
		if t.failed != nil {
			// bbolt failed half-way through a change: never commit it.
			return t.failed
		}
		return err
	})
}

// callUpdateFn calls fn, turning a panic into an error so that the
// transaction is rolled back and the file closed.
func (s *Store) callUpdateFn(fn func(*Tx) error, t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("state file %q: the update function panicked: %v; its transaction was rolled back", s.path, r)
		}
	}()
	return fn(t)
}

// Audit returns the audit log in the order it was written: every entry
// when rename is "", else only the entries for that rename. A missing
// state file has an empty log.
func (s *Store) Audit(ctx context.Context, rename string) ([]AuditEntry, error) {
	entries := []AuditEntry{}
	err := s.view(ctx, "reading the audit log", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return s.corrupt(fmt.Errorf("audit entry %x: %w", k, err))
			}
			if rename == "" || e.Rename == rename {
				entries = append(entries, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// Tx is a read-write transaction on the state file, given to the function
// passed to Store.Update. It is only valid until that function returns.
type Tx struct {
	s  *Store
	tx *bolt.Tx // nil once the function has returned
	// failed is set when bbolt failed in the middle of a call; the
	// transaction is then rolled back whatever the function returns.
	failed error
}

// Rename returns the rename whose old topic is from, and whether there is
// one.
func (t *Tx) Rename(from string) (r *Rename, found bool, err error) {
	if err := t.usable(); err != nil {
		return nil, false, err
	}
	defer t.catchPanic(&err)
	r, err = t.s.getRename(t.tx, from)
	if err != nil {
		return nil, false, err
	}
	return r, r != nil, nil
}

// Renames returns every rename, sorted by From.
func (t *Tx) Renames() (renames []Rename, err error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	defer t.catchPanic(&err)
	return t.s.listRenames(t.tx)
}

// PutRename stores r under r.From, replacing what was there. It checks
// that r is well formed (From, To, Strategy and Phase set and valid) but
// not that its phase change is legal: use CanTransition for that.
func (t *Tx) PutRename(r *Rename) (err error) {
	if err := t.usable(); err != nil {
		return err
	}
	if r == nil {
		return errors.New("state: PutRename needs a rename")
	}
	defer t.catchPanic(&err)
	return t.s.putRename(t.tx, r)
}

// Append appends e to the audit log, filling in its Seq, and its Time and
// Actor when they are empty.
func (t *Tx) Append(e AuditEntry) (err error) {
	if err := t.usable(); err != nil {
		return err
	}
	defer t.catchPanic(&err)
	_, err = t.s.appendAudit(t.tx, e, t.s.clock())
	return err
}

// usable reports a Tx used after its Update returned.
func (t *Tx) usable() error {
	if t == nil || t.tx == nil {
		return errors.New("state: Tx used after its Update function returned")
	}
	return nil
}

// catchPanic turns a panic inside bbolt into an ErrCorrupt error and
// marks the transaction failed. It must be deferred directly.
func (t *Tx) catchPanic(err *error) {
	if r := recover(); r != nil {
		*err = t.s.corrupt(fmt.Errorf("bbolt failed: %v", r))
		t.failed = *err
	}
}

// getRename reads one rename; nil when there is none.
func (s *Store) getRename(tx *bolt.Tx, from string) (*Rename, error) {
	if from == "" {
		return nil, nil
	}
	v := tx.Bucket(bucketRenames).Get([]byte(from))
	if v == nil {
		return nil, nil
	}
	return s.decodeRename([]byte(from), v)
}

// mustGetRename reads one rename; ErrNotFound when there is none.
func (s *Store) mustGetRename(tx *bolt.Tx, from string) (*Rename, error) {
	r, err := s.getRename(tx, from)
	if err == nil && r == nil {
		err = &stateError{
			msg:  fmt.Sprintf("rename %q is not in state file %q; plan it first", from, s.path),
			kind: ErrNotFound,
		}
	}
	return r, err
}

// listRenames reads every rename, in key (that is From) order.
func (s *Store) listRenames(tx *bolt.Tx) ([]Rename, error) {
	renames := []Rename{}
	err := tx.Bucket(bucketRenames).ForEach(func(k, v []byte) error {
		r, err := s.decodeRename(k, v)
		if err != nil {
			return err
		}
		renames = append(renames, *r)
		return nil
	})
	return renames, err
}

func (s *Store) decodeRename(key, v []byte) (*Rename, error) {
	var r Rename
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, s.corrupt(fmt.Errorf("rename %q: %w", key, err))
	}
	if r.From != string(key) {
		return nil, s.corrupt(fmt.Errorf("the rename stored under %q is for %q", key, r.From))
	}
	return &r, nil
}

// putRename checks r and stores it under r.From.
func (s *Store) putRename(tx *bolt.Tx, r *Rename) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("state file %q: cannot store rename: %w", s.path, err)
	}
	// A write that changes nothing keeps the revision and is not a change
	// (a re-run command stores the same record again).
	var old struct {
		Revision int64 `json:"revision"`
	}
	if prev := tx.Bucket(bucketRenames).Get([]byte(r.From)); prev != nil && json.Unmarshal(prev, &old) == nil {
		same := *r
		same.Revision = old.Revision
		if v, err := json.Marshal(&same); err == nil && bytes.Equal(v, prev) {
			r.Revision = old.Revision
			return nil
		}
	}
	r.Revision = max(r.Revision, old.Revision) + 1
	if err := s.storeRename(tx, r); err != nil {
		return err
	}
	if s.journal != nil {
		s.journal.renames[r.From] = *r
	}
	return nil
}

// storeRename writes r as it is, revision included.
func (s *Store) storeRename(tx *bolt.Tx, r *Rename) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state file %q: encode rename %q: %w", s.path, r.From, err)
	}
	if err := tx.Bucket(bucketRenames).Put([]byte(r.From), v); err != nil {
		return fmt.Errorf("state file %q: store rename %q: %w", s.path, r.From, err)
	}
	return nil
}

// appendAudit fills in e's Seq, and its Time and Actor when they are
// empty, and appends it to the audit log.
func (s *Store) appendAudit(tx *bolt.Tx, e AuditEntry, now time.Time) (AuditEntry, error) {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return e, fmt.Errorf("state file %q: number audit entry: %w", s.path, err)
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Actor == "" {
		e.Actor = s.actor
	}
	v, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("state file %q: encode audit entry: %w", s.path, err)
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return e, fmt.Errorf("state file %q: append audit entry: %w", s.path, err)
	}
	if s.journal != nil {
		s.journal.audit = append(s.journal.audit, e)
	}
	return e, nil
}

// finish stores r, unless audit is a dry run, and appends audit: the end
// of Transition, BeginStep and EndStep.
func (s *Store) finish(tx *bolt.Tx, r *Rename, audit AuditEntry, now time.Time) error {
	if !audit.DryRun {
		if err := s.putRename(tx, r); err != nil {
			return err
		}
	}
	_, err := s.appendAudit(tx, audit, now)
	return err
}

// actorOf is who acts for audit: its Actor, or the store's.
func (s *Store) actorOf(audit AuditEntry) string {
	if audit.Actor != "" {
		return audit.Actor
	}
	return s.actor
}

// fillAudit sets the audit fields an operation on a rename knows.
func fillAudit(e AuditEntry, rename, action string) AuditEntry {
	if e.Rename == "" {
		e.Rename = rename
	}
	if e.Action == "" {
		e.Action = action
	}
	if e.Result == "" {
		e.Result = "ok"
	}
	return e
}

// cloneGroupOffsets returns a deep copy of g (nil for nil).
func cloneGroupOffsets(g GroupOffsets) GroupOffsets {
	if g == nil {
		return nil
	}
	out := make(GroupOffsets, len(g))
	for k, v := range g {
		out[k] = maps.Clone(v)
	}
	return out
}

// Snapshot is the whole state: every rename record and the audit log, in
// order. It is what moves between a state file and the cluster.
type Snapshot struct {
	Renames []Rename     `json:"renames"`
	Audit   []AuditEntry `json:"audit"`
}

// Export returns the whole state.
func (s *Store) Export(ctx context.Context) (*Snapshot, error) {
	renames, err := s.Renames(ctx)
	if err != nil {
		return nil, err
	}
	audit, err := s.Audit(ctx, "")
	if err != nil {
		return nil, err
	}
	return &Snapshot{Renames: renames, Audit: audit}, nil
}

// Import makes the file hold snap, in one transaction: its renames as
// they are (revisions included) and, when replaceAudit, its audit log in
// place of the file's (numbered from 1 in snap's order). Nothing is
// published to a replica: an import comes from it.
func (s *Store) Import(ctx context.Context, snap *Snapshot, replaceAudit bool) error {
	for i := range snap.Renames {
		if err := snap.Renames[i].validate(); err != nil {
			return fmt.Errorf("state file %q: cannot import: %w", s.path, err)
		}
	}
	return s.write(ctx, "importing a snapshot", false, func(tx *bolt.Tx) error {
		for i := range snap.Renames {
			if err := s.storeRename(tx, &snap.Renames[i]); err != nil {
				return err
			}
		}
		if !replaceAudit {
			return nil
		}
		if err := tx.DeleteBucket(bucketAudit); err != nil {
			return fmt.Errorf("state file %q: clear the audit log: %w", s.path, err)
		}
		if _, err := tx.CreateBucket(bucketAudit); err != nil {
			return fmt.Errorf("state file %q: clear the audit log: %w", s.path, err)
		}
		for _, e := range snap.Audit {
			e.Seq = 0
			if _, err := s.appendAudit(tx, e, s.clock()); err != nil {
				return err
			}
		}
		return nil
	})
}
