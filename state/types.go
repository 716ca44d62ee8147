package state

import (
	"fmt"
	"time"
)

// Rename is one rename's record: where it stands and how it got there. It
// is stored as JSON in the "renames" bucket under its From topic.
type Rename struct {
	// From is the old topic name; it identifies the rename.
	From string `json:"from"`
	// To is the new topic name.
	To string `json:"to"`
	// Strategy is "dual" or "swap" (see plan.Strategy).
	Strategy string `json:"strategy"`
	// Phase is the phase the rename is in.
	Phase Phase `json:"phase"`
	// PhaseSince is when the rename entered Phase.
	PhaseSince time.Time `json:"phase_since"`
	// CreatedAt is when the rename was first recorded.
	CreatedAt time.Time `json:"created_at"`
	// History lists every phase change, oldest first.
	History []Transition `json:"history,omitempty"`
	// Step is the step in progress (its intent is written, its result not
	// yet), nil when none is.
	Step *Step `json:"step,omitempty"`
	// Data holds step-specific facts, e.g. a staging topic name or a plan
	// id.
	Data map[string]string `json:"data,omitempty"`
}

// Transition is one phase change of a rename.
type Transition struct {
	// From is the phase the rename left.
	From Phase `json:"from"`
	// To is the phase it entered.
	To Phase `json:"to"`
	// At is when.
	At time.Time `json:"at"`
	// Actor is who moved it, as user@host.
	Actor string `json:"actor"`
	// Reason is why, as the caller put it.
	Reason string `json:"reason,omitempty"`
}

// Step is a unit of work on a rename whose intent is recorded before it
// starts, so that a crashed command can tell, when it is run again, that the
// step must be resumed.
type Step struct {
	// Name says which step it is, e.g. "create-topic".
	Name string `json:"name"`
	// StartedAt is when it began.
	StartedAt time.Time `json:"started_at"`
	// Actor is who began it, as user@host.
	Actor string `json:"actor"`
	// Params are what the step was begun with, for resuming it.
	Params map[string]string `json:"params,omitempty"`
}

// AuditEntry is one line of the append-only audit log: who did what, when,
// and how it ended.
type AuditEntry struct {
	// Seq is the entry's place in the log, from 1; the store sets it.
	Seq uint64 `json:"seq"`
	// Time is when it happened; the store sets it when it is zero.
	Time time.Time `json:"time"`
	// Actor is who did it, as user@host; the store sets it when it is
	// empty.
	Actor string `json:"actor"`
	// Command is the migrator command line that did it.
	Command string `json:"command"`
	// Rename is the From topic of the rename concerned, "" for none.
	Rename string `json:"rename,omitempty"`
	// Action is what was done, e.g. "create topic".
	Action string `json:"action"`
	// Detail says more about it.
	Detail string `json:"detail,omitempty"`
	// DryRun is set when the action was only simulated.
	DryRun bool `json:"dry_run"`
	// Result is "ok" or the error.
	Result string `json:"result"`
}

// validate checks what every stored rename must have.
func (r *Rename) validate() error {
	switch {
	case r.From == "":
		return fmt.Errorf("rename has no from topic")
	case r.To == "":
		return fmt.Errorf("rename %q has no to topic", r.From)
	case r.From == r.To:
		return fmt.Errorf("rename %q has the same from and to topic", r.From)
	case r.Strategy != "dual" && r.Strategy != "swap":
		return fmt.Errorf("rename %q: strategy %q is not a strategy (use dual or swap)", r.From, r.Strategy)
	case !r.Phase.Valid():
		return fmt.Errorf("rename %q: phase %q is not a phase (phases: %s)", r.From, r.Phase, listPhases(allPhases()))
	}
	return nil
}
