package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// CutoverProducersOptions choose the rename whose producers moved.
type CutoverProducersOptions struct {
	Rename string
	// DryRun checks and shows, and changes nothing.
	DryRun bool
}

// CutoverProducersResult is the rename's record after the cutover (for a
// dry run: as it would be).
type CutoverProducersResult struct {
	Rename *state.Rename
}

// CutoverProducers records that producers now write to the new topic: the
// rename moves to producers-cut and the old topic's end offsets are kept,
// so that status reports every later write to the old topic as stray.
func CutoverProducers(ctx context.Context, env *Env, opts CutoverProducersOptions) (*CutoverProducersResult, error) {
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	if r.Strategy == plan.StrategySwap {
		return nil, fmt.Errorf("%s uses strategy swap: its producers move with `migrator cutover swap`", r.From)
	}
	rec, err := env.record(ctx, r.From, "run apply first")
	if err != nil {
		return nil, err
	}
	if rec.Phase == state.PhaseProducersCut {
		return &CutoverProducersResult{Rename: rec}, nil
	}
	if err := state.CanTransition(rec.Phase, state.PhaseProducersCut); err != nil {
		return nil, fmt.Errorf("cutover producers of %s: %w (move the consumers first)", r.From, err)
	}
	ends, err := endOffsets(ctx, env.Admin, r.From)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(ends)
	audit := state.AuditEntry{Command: env.Command, Action: "phase producers-cut", Detail: "old topic end offsets " + string(data), DryRun: opts.DryRun}
	if !opts.DryRun {
		err := env.updateRecord(ctx, r.From, func(cur *state.Rename) error {
			cur.ProducersCut = &state.ProducersCut{OldEnd: ends}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	rec, err = env.Store.Transition(ctx, r.From, state.PhaseProducersCut, "producers write to "+r.To, audit)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		rec.ProducersCut = &state.ProducersCut{OldEnd: ends} // as it would be
	}
	return &CutoverProducersResult{Rename: rec}, nil
}

// strayWrites counts records written to the old topic after the end
// offsets recorded when producers were cut over; -1 when nothing was
// recorded.
func strayWrites(rec state.Rename, now state.Offsets) int64 {
	if rec.ProducersCut == nil {
		return -1
	}
	var n int64
	for p, end := range now {
		n += max(end-rec.ProducersCut.OldEnd[p], 0)
	}
	return n
}
