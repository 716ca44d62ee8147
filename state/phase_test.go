package state

import (
	"errors"
	"slices"
	"testing"
)

func TestCanTransition(t *testing.T) {
	legal := map[[2]Phase]bool{
		{PhasePlanned, PhaseCreated}:           true,
		{PhaseCreated, PhaseMirroring}:         true,
		{PhaseMirroring, PhaseConsumersCut}:    true,
		{PhaseConsumersCut, PhaseProducersCut}: true,
		{PhaseProducersCut, PhaseRetired}:      true,
		{PhasePlanned, PhaseRolledBack}:        true,
		{PhaseCreated, PhaseRolledBack}:        true,
		{PhaseMirroring, PhaseRolledBack}:      true,
		{PhaseConsumersCut, PhaseRolledBack}:   true,
		{PhaseProducersCut, PhaseRolledBack}:   true,
		{PhaseRolledBack, PhasePlanned}:        true,
		{PhasePlanned, PhasePlanned}:           true, // same phase: a no-op
		{PhaseCreated, PhaseCreated}:           true,
		{PhaseMirroring, PhaseMirroring}:       true,
		{PhaseConsumersCut, PhaseConsumersCut}: true,
		{PhaseProducersCut, PhaseProducersCut}: true,
		{PhaseRetired, PhaseRetired}:           true,
		{PhaseRolledBack, PhaseRolledBack}:     true,
	}
	// Every pair of phases: legal exactly when listed above.
	for _, from := range allPhases() {
		for _, to := range allPhases() {
			err := CanTransition(from, to)
			if legal[[2]Phase{from, to}] {
				if err != nil {
					t.Errorf("CanTransition(%s, %s) = %v, want nil", from, to, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("CanTransition(%s, %s) = nil, want an error", from, to)
			} else if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("CanTransition(%s, %s) = %v, does not wrap ErrIllegalTransition", from, to, err)
			}
		}
	}
}

func TestCanTransitionErrorText(t *testing.T) {
	tests := []struct {
		from, to Phase
		want     string
	}{
		{PhasePlanned, PhaseMirroring,
			`cannot move from phase "planned" to "mirroring": from "planned" the next phase can only be "created" or "rolled-back"`},
		{PhaseCreated, PhasePlanned,
			`cannot move from phase "created" to "planned": from "created" the next phase can only be "mirroring" or "rolled-back"`},
		{PhaseMirroring, PhaseRetired,
			`cannot move from phase "mirroring" to "retired": from "mirroring" the next phase can only be "consumers-cut" or "rolled-back"`},
		{PhaseProducersCut, PhaseConsumersCut,
			`cannot move from phase "producers-cut" to "consumers-cut": from "producers-cut" the next phase can only be "retired" or "rolled-back"`},
		{PhaseRetired, PhaseRolledBack,
			`cannot move from phase "retired" to "rolled-back": "retired" is final`},
		{PhaseRetired, PhasePlanned,
			`cannot move from phase "retired" to "planned": "retired" is final`},
		{PhaseRolledBack, PhaseCreated,
			`cannot move from phase "rolled-back" to "created": from "rolled-back" the next phase can only be "planned"`},
		{"paused", PhasePlanned,
			`cannot move from phase "paused": it is not a phase (phases: "planned", "created", "mirroring", "consumers-cut", "producers-cut", "retired" or "rolled-back")`},
		{PhasePlanned, "",
			`cannot move to phase "": it is not a phase (phases: "planned", "created", "mirroring", "consumers-cut", "producers-cut", "retired" or "rolled-back")`},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"→"+string(tt.to), func(t *testing.T) {
			err := CanTransition(tt.from, tt.to)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("CanTransition(%q, %q) = %v\nwant %s", tt.from, tt.to, err, tt.want)
			}
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("error does not wrap ErrIllegalTransition")
			}
		})
	}
}

func TestNextPhases(t *testing.T) {
	tests := []struct {
		from Phase
		want []Phase
	}{
		{PhasePlanned, []Phase{PhaseCreated, PhaseRolledBack}},
		{PhaseProducersCut, []Phase{PhaseRetired, PhaseRolledBack}},
		{PhaseRetired, nil},
		{PhaseRolledBack, []Phase{PhasePlanned}},
		{"nonsense", nil},
	}
	for _, tt := range tests {
		if got := NextPhases(tt.from); !slices.Equal(got, tt.want) {
			t.Errorf("NextPhases(%q) = %v, want %v", tt.from, got, tt.want)
		}
	}
}
