package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// RollbackOptions shape a rollback.
type RollbackOptions struct {
	Rename string
	// ReverseGroup is the reverse copy's consumer group (default
	// DefaultReverseGroup); it is never moved, nor is the Env's bridge
	// group.
	ReverseGroup string
	// Reverse copies new → old until caught up (run when producers
	// already write to the new topic); nil means the bridge, in
	// ReverseGroup. For tests.
	Reverse func(ctx context.Context) error
	// DryRun says what would happen and changes nothing; offsets of
	// records that only the reverse copy would bring back show as -1.
	DryRun bool
	// AfterStep, when set, is called after each step of a rollback of a
	// dual rename (RollbackFenced, RollbackCopiedBack, RollbackGroupsMoved,
	// RollbackDeleted); an error stops the rollback there, as a crash
	// would (for tests).
	AfterStep func(step string) error
}

// The steps of a rollback of a dual rename, in order.
const (
	RollbackFenced      = "fenced"       // writes to the new topic refused
	RollbackCopiedBack  = "copied-back"  // its direct records copied to the old topic
	RollbackGroupsMoved = "groups-moved" // every group on the new topic moved back
	RollbackDeleted     = "deleted"      // the new topic deleted through the proof
)

// RollbackResult says what the rollback did.
type RollbackResult struct {
	From string `json:"from"`
	To   string `json:"to"`
	// FromPhase is the phase the rename was in.
	FromPhase state.Phase    `json:"from_phase"`
	DryRun    bool           `json:"dry_run"`
	Groups    []GroupCutover `json:"groups"`
	// ReverseCopy says whether records written to the new topic directly
	// were (or would be) copied back; DirectRecords counts them.
	ReverseCopy   bool `json:"reverse_copy"`
	DirectRecords int  `json:"direct_records"`
	// NewTopic says what became of the new topic: deleted once the safety
	// proof passed ("would be deleted" for a dry run), or absent.
	NewTopic string `json:"new_topic"`
}

// Rollback takes a rename back to its old topic from any phase before
// retired (a hop named by its old topic: back to the old topic while it
// exists, else, hop 1 being retired, hop 2 back to the interim): it
// fences writes to the new topic, copies back every record written to it
// directly (the reverse bridge, which skips the forward
// copies), whatever the phase, moves every consumer group on the new topic
// back to the old one with exact translation through the records' origin
// headers, deletes the new topic once the safety proof passes (every
// record of it is in the old topic), and only then records phase
// rolled-back. Each of these is safe to run again: a re-run after a crash
// finishes the rollback.
func Rollback(ctx context.Context, env *Env, opts RollbackOptions) (*RollbackResult, error) {
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	r, begun, err := hopRollbackTarget(ctx, env, r)
	if err != nil {
		return nil, err
	}
	if !begun {
		return &RollbackResult{From: r.From, To: r.To, FromPhase: state.PhasePlanned, DryRun: opts.DryRun,
			NewTopic: "nothing to roll back: hop 1 is retired (" + r.Hop.Old + " is gone), every client is on " + r.From + " and hop 2 has not begun"}, nil
	}
	rec, err := env.record(ctx, r.From, "nothing to roll back")
	if err != nil {
		return nil, err
	}
	if opts.ReverseGroup == "" {
		opts.ReverseGroup = DefaultReverseGroup
	}
	if opts.Reverse == nil {
		opts.Reverse = func(ctx context.Context) error {
			routes := &MapRoutes{Map: env.Map, Admin: env.Admin, Store: env.Store, Only: []string{r.From}, Reverse: true, Command: env.Command, Log: env.Log}
			return env.copyUntilCaughtUp(ctx, "copy back "+r.To+" → "+r.From, opts.ReverseGroup, "rollback", routes, false, nil)
		}
	}
	if !opts.DryRun {
		if err := ResumeMove(ctx, env, r.From); err != nil {
			return nil, err
		}
	}
	res := &RollbackResult{From: r.From, To: r.To, FromPhase: rec.Phase, DryRun: opts.DryRun}
	if r.Strategy == plan.StrategySwap && rec.Phase != state.PhaseRolledBack {
		return rollbackSwap(ctx, env, r, rec, res)
	}
	if rec.Phase == state.PhaseRolledBack {
		res.NewTopic = "already rolled back"
		return res, nil
	}
	if err := state.CanTransition(rec.Phase, state.PhaseRolledBack); err != nil {
		return nil, fmt.Errorf("rollback of %s refused: %w (the old topic is deleted)", r.From, err)
	}
	topics, err := env.Admin.DescribeTopics(ctx, []string{r.To})
	if err != nil {
		return nil, err
	}
	d := deletion{rename: r.From, topic: r.To, keeper: r.From, copyGroups: []string{env.bridgeGroup(), opts.ReverseGroup}}
	if topics[r.To] != nil {
		if !opts.DryRun {
			// Nothing more may reach the new topic: what producers wrote to
			// it is copied back and proven before it goes.
			if err := env.fence(ctx, d); err != nil {
				return nil, err
			}
			if err := after(opts, RollbackFenced); err != nil {
				return res, err
			}
		}
		direct, err := countDirect(ctx, env, r.From, r.To, int32(topics[r.To].Partitions))
		if err != nil {
			return nil, err
		}
		res.DirectRecords = direct
		res.ReverseCopy = direct > 0 || rec.Phase == state.PhaseProducersCut
		if res.ReverseCopy && !opts.DryRun {
			if err := opts.Reverse(ctx); err != nil {
				return nil, fmt.Errorf("reverse copy %s → %s: %w", r.To, r.From, err)
			}
			if err := after(opts, RollbackCopiedBack); err != nil {
				return res, err
			}
		}
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{r.From, r.To}, Groups: true})
	if err != nil {
		return nil, err
	}
	if snap.Topics[r.To] != nil {
		if res.Groups, err = moveGroupsBack(ctx, env, r, r.From, r.To, snap, opts); err != nil {
			return res, err
		}
		if !opts.DryRun {
			if err := after(opts, RollbackGroupsMoved); err != nil {
				return res, err
			}
		}
	}
	switch {
	case snap.Topics[r.To] == nil:
		res.NewTopic = "absent"
	case res.DirectRecords > 0:
		res.NewTopic = fmt.Sprintf("deleted once its %d record(s) written to it directly were copied back to %s and proven there", res.DirectRecords, r.From)
	default:
		res.NewTopic = "deleted (it held only copies)"
	}
	if opts.DryRun {
		if snap.Topics[r.To] != nil {
			res.NewTopic = "would be " + res.NewTopic
		}
		return res, nil
	}
	if snap.Topics[r.To] != nil {
		if err := env.deleteTopic(ctx, d); err != nil {
			return res, fmt.Errorf("rollback of %s: %w (the consumer groups are back on %s; run rollback again once fixed)", r.From, err, r.From)
		}
		if err := after(opts, RollbackDeleted); err != nil {
			return res, err
		}
	}
	if _, err := env.Store.Transition(ctx, r.From, state.PhaseRolledBack, "rollback from "+string(rec.Phase),
		state.AuditEntry{Command: env.Command, Action: "phase rolled-back", Detail: fmt.Sprintf("from %s; %d group(s) moved back; new topic %s", rec.Phase, len(res.Groups), res.NewTopic)}); err != nil {
		return res, err
	}
	return res, nil
}

// moveGroupsBack moves every group with offsets on to back to from. A group
// at offset n of the new topic resumes on the old one at the record its
// next record stands for: the origin of the copy at n; for a record written
// to the new topic directly, the position of its reverse copy; at the end
// of the new topic, the end of the old one.
func moveGroupsBack(ctx context.Context, env *Env, r plan.Rename, from, to string, snap *admin.Snapshot, opts RollbackOptions) ([]GroupCutover, error) {
	newTr, err := newTranslator(env.Admin.Config(), to, from, true)
	if err != nil {
		return nil, err
	}
	defer newTr.Close()
	oldTr, err := newTranslator(env.Admin.Config(), from, to, true)
	if err != nil {
		return nil, err
	}
	defer oldTr.Close()
	var oldEnd []int64
	if t := snap.Topics[from]; t != nil && t.Offsets != nil {
		oldEnd = t.Offsets.Latest
	}
	var out []GroupCutover
	for _, g := range snap.Groups {
		if g.ID == env.bridgeGroup() || g.ID == opts.ReverseGroup || len(g.Offsets[to]) == 0 {
			continue
		}
		if len(g.Members) > 0 {
			return out, fmt.Errorf("%w: group %s still reads %s; stop its consumers first", ErrGroupActive, g.ID, to)
		}
		res := GroupCutover{Group: g.ID}
		parts := make([]int32, 0, len(g.Offsets[to]))
		for p := range g.Offsets[to] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			n := g.Offsets[to][p]
			at, origin, err := newTr.probe(ctx, p, n)
			if err != nil {
				return out, err
			}
			var old int64
			switch {
			case origin >= 0: // A copy of an old record.
				old = origin
			case origin == foreign && opts.DryRun: // Its reverse copy does not exist yet.
				old = -1
			case origin == foreign: // Written to the new topic directly.
				if old, err = oldTr.Translate(ctx, p, at); err != nil {
					return out, err
				}
			default: // The end of the new topic.
				if int(p) < len(oldEnd) {
					old = oldEnd[p]
				}
			}
			res.Translations = append(res.Translations, Translation{Partition: p, OldOffset: n, NewOffset: old})
		}
		if opts.DryRun {
			res.Outcome = "would move back"
			out = append(out, res)
			continue
		}
		if err := moveGroup(ctx, env, r, to, from, g, res.Translations); err != nil {
			return out, err
		}
		res.Outcome = "moved back"
		out = append(out, res)
	}
	return out, nil
}

// countDirect counts the records of to that are not copies of from's.
func countDirect(ctx context.Context, env *Env, from, to string, partitions int32) (int, error) {
	direct := 0
	for p := range partitions {
		rd, err := openReader(env.Admin.Config(), to, p, -1)
		if err != nil {
			return 0, err
		}
		for {
			m, err := rd.read(ctx)
			if err != nil {
				rd.close()
				return 0, err
			}
			if m == nil {
				break
			}
			if o, ok := bridge.OriginOf(m.Headers); !ok || o.Topic != from {
				direct++
			}
		}
		rd.close()
	}
	return direct, nil
}

// rollbackSwap takes a swap back to where it started, as long as the old
// topic has not been deleted: it lifts the fence, forgets the swap's
// progress, deletes the staging topic when it holds only copies, and moves
// the rename to rolled-back. Consumer groups were not moved before the
// delete, so none moves back.
func rollbackSwap(ctx context.Context, env *Env, r plan.Rename, rec *state.Rename, res *RollbackResult) (*RollbackResult, error) {
	staging := plan.StagingTopic(r.To)
	done := swapStepsDone(rec)
	progress := state.SwapProgress{}
	if rec.Swap != nil {
		progress = *rec.Swap
	}
	deleting := "an earlier run"
	if !progress.DeletingAt.IsZero() {
		deleting = progress.DeletingAt.UTC().Format(time.RFC3339)
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{r.From, staging}})
	if err != nil {
		return nil, err
	}
	pastDelete := done >= slices.Index(SwapSteps, SwapOldDeleted) || rec.Phase == state.PhaseRetired
	if !progress.DeletingAt.IsZero() && snap.Topics[r.From] == nil {
		pastDelete = true
	}
	if pastDelete {
		return nil, fmt.Errorf("rollback of %s refused: %w at %s; %s holds every record: finish with `migrator cutover swap --rename %s`, then, to go back, rename %s back with a new map entry",
			r.From, ErrSwapPastDelete, deleting, staging, r.From, r.To)
	}
	if err := state.CanTransition(rec.Phase, state.PhaseRolledBack); err != nil {
		return nil, fmt.Errorf("rollback of %s refused: %w", r.From, err)
	}
	res.To = staging
	if res.DryRun {
		res.NewTopic = "staging " + staging + " would be deleted once the safety proof passes"
		if progress.Fence != nil {
			res.NewTopic += "; writes to " + r.From + " would be allowed again"
		}
		return res, nil
	}
	if progress.Fence != nil {
		if err := unfence(ctx, env, r.From, *progress.Fence); err != nil {
			return res, err
		}
	}
	err = env.updateRecord(ctx, r.From, func(cur *state.Rename) error {
		cur.Swap = nil
		if cur.Step != nil && cur.Step.Name == stepSwap {
			cur.Step = nil
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.NewTopic = "absent"
	if snap.Topics[staging] != nil {
		d := deletion{rename: r.From, topic: staging, keeper: r.From, copyGroups: []string{env.bridgeGroup(), DefaultSwapGroup}}
		if err := env.deleteTopic(ctx, d); err != nil {
			return res, fmt.Errorf("rollback of %s: %w", r.From, err)
		}
		res.NewTopic = "deleted (it held only copies)"
	}
	if _, err := env.Store.Transition(ctx, r.From, state.PhaseRolledBack, "rollback of the swap from "+string(rec.Phase),
		state.AuditEntry{Command: env.Command, Action: "phase rolled-back", Detail: "swap abandoned before the old topic was deleted; staging " + res.NewTopic}); err != nil {
		return res, err
	}
	return res, nil
}

// after calls opts.AfterStep, when set, for step.
func after(opts RollbackOptions, step string) error {
	if opts.AfterStep == nil {
		return nil
	}
	return opts.AfterStep(step)
}
