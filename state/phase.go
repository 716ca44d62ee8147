package state

import (
	"fmt"
	"strings"
)

// Phase is where a rename stands in its migration.
type Phase string

// The phases of a rename. A rename starts in PhasePlanned and moves forward
// one phase at a time up to PhaseRetired; it can be rolled back from any
// phase before PhaseRetired, and started over from PhaseRolledBack.
const (
	// PhasePlanned: the rename is recorded; nothing exists on the cluster yet.
	PhasePlanned Phase = "planned"
	// PhaseCreated: the new topic exists, with the old one's partitions,
	// configs and ACLs.
	PhaseCreated Phase = "created"
	// PhaseMirroring: records are mirrored old → new.
	PhaseMirroring Phase = "mirroring"
	// PhaseConsumersCut: consumer groups read the new topic.
	PhaseConsumersCut Phase = "consumers-cut"
	// PhaseProducersCut: producers write the new topic.
	PhaseProducersCut Phase = "producers-cut"
	// PhaseRetired: the old topic is gone. This phase is final.
	PhaseRetired Phase = "retired"
	// PhaseRolledBack: the rename was undone; it may be planned again.
	PhaseRolledBack Phase = "rolled-back"
)

// forward is the order a rename moves through, one phase at a time.
var forward = []Phase{PhasePlanned, PhaseCreated, PhaseMirroring, PhaseConsumersCut, PhaseProducersCut, PhaseRetired}

// Valid reports whether p is one of the phases above.
func (p Phase) Valid() bool {
	return p == PhaseRolledBack || forwardIndex(p) >= 0
}

func forwardIndex(p Phase) int {
	for i, q := range forward {
		if q == p {
			return i
		}
	}
	return -1
}

// NextPhases returns the phases a rename in phase p may move to, in the
// order a migration normally takes them. It is empty for PhaseRetired and
// for a phase that is not Valid.
func NextPhases(p Phase) []Phase {
	switch {
	case p == PhaseRetired:
		return nil
	case p == PhaseRolledBack:
		return []Phase{PhasePlanned}
	}
	i := forwardIndex(p)
	if i < 0 {
		return nil
	}
	return []Phase{forward[i+1], PhaseRolledBack}
}

// CanTransition reports whether a rename may move from phase from to phase
// to. Moving to the phase a rename is already in is allowed (it changes
// nothing, so commands can be re-run). The error, which wraps
// ErrIllegalTransition, names both phases and the phases allowed next.
func CanTransition(from, to Phase) error {
	if !from.Valid() {
		return &stateError{
			msg:  fmt.Sprintf("cannot move from phase %q: it is not a phase (phases: %s)", from, listPhases(allPhases())),
			kind: ErrIllegalTransition,
		}
	}
	if !to.Valid() {
		return &stateError{
			msg:  fmt.Sprintf("cannot move to phase %q: it is not a phase (phases: %s)", to, listPhases(allPhases())),
			kind: ErrIllegalTransition,
		}
	}
	if from == to {
		return nil
	}
	next := NextPhases(from)
	for _, p := range next {
		if p == to {
			return nil
		}
	}
	if len(next) == 0 {
		return &stateError{
			msg:  fmt.Sprintf("cannot move from phase %q to %q: %q is final", from, to, from),
			kind: ErrIllegalTransition,
		}
	}
	return &stateError{
		msg:  fmt.Sprintf("cannot move from phase %q to %q: from %q the next phase can only be %s", from, to, from, listPhases(next)),
		kind: ErrIllegalTransition,
	}
}

func allPhases() []Phase {
	return append(append([]Phase(nil), forward...), PhaseRolledBack)
}

// listPhases quotes phases and joins them: "a", "b" or "c".
func listPhases(ps []Phase) string {
	quoted := make([]string, len(ps))
	for i, p := range ps {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	if len(quoted) <= 1 {
		return strings.Join(quoted, "")
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}
