package lifecycle

import (
	"context"
	"fmt"
	"sort"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// RollbackOptions shape a rollback.
type RollbackOptions struct {
	Rename string
	// BridgeGroup and ReverseGroup are the forward and reverse bridges'
	// consumer groups; neither is moved.
	BridgeGroup  string
	ReverseGroup string
	// Reverse, when set, copies new → old until caught up (run when
	// producers already write to the new topic); the caller supplies it
	// so that the bridge's options stay in one place.
	Reverse func(ctx context.Context) error
	// DryRun says what would happen and changes nothing; offsets of
	// records that only the reverse copy would bring back show as -1.
	DryRun bool
}

// RollbackResult says what the rollback did.
type RollbackResult struct {
	From string `json:"from"`
	To   string `json:"to"`
	// FromPhase is the phase the rename was in.
	FromPhase   state.Phase    `json:"from_phase"`
	DryRun      bool           `json:"dry_run"`
	Groups      []GroupCutover `json:"groups"`
	ReverseCopy bool           `json:"reverse_copy"`
	// NewTopic is "deleted" when it held nothing but copies, else "kept"
	// with the reason.
	NewTopic string `json:"new_topic"`
}

// Rollback takes a rename back to its old topic from any phase before
// retired: when producers already write to the new topic it first copies
// their records back (the reverse bridge, which skips the forward copies),
// then moves every consumer group on the new topic back to the old one
// with exact translation through the records' origin headers, records
// phase rolled-back (the bridge stops), and deletes the new topic only when
// it holds nothing but copies of the old one.
func Rollback(ctx context.Context, env *Env, opts RollbackOptions) (*RollbackResult, error) {
	r, ok := findRename(env.Map, opts.Rename)
	if !ok {
		return nil, fmt.Errorf("--rename %s: no rename from that topic in the map", opts.Rename)
	}
	rec, found, err := env.Store.Rename(ctx, r.From)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s is not in the state file %s: nothing to roll back", r.From, env.Store.Path())
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
	if rec.Phase == state.PhaseProducersCut && opts.DryRun {
		res.ReverseCopy = true
	} else if rec.Phase == state.PhaseProducersCut {
		if opts.Reverse == nil {
			return nil, fmt.Errorf("producers write to %s: rollback must copy their records back first", r.To)
		}
		if err := opts.Reverse(ctx); err != nil {
			return nil, fmt.Errorf("reverse copy %s → %s: %w", r.To, r.From, err)
		}
		res.ReverseCopy = true
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{r.From, r.To}, Groups: true})
	if err != nil {
		return nil, err
	}
	if snap.Topics[r.To] != nil {
		if res.Groups, err = moveGroupsBack(ctx, env, r.From, r.To, snap, opts); err != nil {
			return res, err
		}
	}
	if opts.DryRun {
		direct, err := countDirect(ctx, env, r.From, r.To, snap)
		switch {
		case err != nil:
			return res, err
		case snap.Topics[r.To] == nil:
			res.NewTopic = "absent"
		case direct > 0:
			res.NewTopic = fmt.Sprintf("would be kept: it holds %d record(s) written to it directly", direct)
		default:
			res.NewTopic = "would be deleted (it holds only copies)"
		}
		return res, nil
	}
	if _, err := env.Store.Transition(ctx, r.From, state.PhaseRolledBack, "rollback from "+string(rec.Phase),
		state.AuditEntry{Command: env.Command, Action: "phase rolled-back", Detail: fmt.Sprintf("from %s; %d group(s) moved back", rec.Phase, len(res.Groups))}); err != nil {
		return res, err
	}
	res.NewTopic, err = deleteIfOnlyCopies(ctx, env, r.From, r.To, snap)
	return res, err
}

// moveGroupsBack moves every group with offsets on to back to from. A group
// at offset n of the new topic resumes on the old one at the record its
// next record stands for: the origin of the copy at n; for a record written
// to the new topic directly, the position of its reverse copy; at the end
// of the new topic, the end of the old one.
func moveGroupsBack(ctx context.Context, env *Env, from, to string, snap *admin.Snapshot, opts RollbackOptions) ([]GroupCutover, error) {
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
		if g.ID == opts.BridgeGroup || g.ID == opts.ReverseGroup || len(g.Offsets[to]) == 0 {
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
		if err := moveGroup(ctx, env, mustRename(env, from), to, from, g, res.Translations); err != nil {
			return out, err
		}
		res.Outcome = "moved back"
		out = append(out, res)
	}
	return out, nil
}

func mustRename(env *Env, from string) plan.Rename {
	r, _ := findRename(env.Map, from)
	return r
}

// deleteIfOnlyCopies deletes to when every record in it is a copy of a
// record of from; otherwise it keeps it and says why.
func deleteIfOnlyCopies(ctx context.Context, env *Env, from, to string, snap *admin.Snapshot) (string, error) {
	if snap.Topics[to] == nil {
		return "absent", nil
	}
	direct, err := countDirect(ctx, env, from, to, snap)
	if err != nil {
		return "", err
	}
	if direct > 0 {
		return fmt.Sprintf("kept: it holds %d record(s) written to it directly (copied back to %s)", direct, from), nil
	}
	res, err := env.Admin.Kafka().DeleteTopics(ctx, []string{to})
	if err != nil {
		return "", fmt.Errorf("delete %s: %w", to, err)
	}
	if code := res[0].Error.Code(); code != kafka.ErrNoError && code != kafka.ErrUnknownTopicOrPart {
		return "", fmt.Errorf("delete %s: %w", to, res[0].Error)
	}
	if err := env.Admin.WaitForTopics(ctx, []string{to}, false); err != nil {
		return "", err
	}
	return "deleted (it held only copies)", nil
}

// countDirect counts the records of to that are not copies of from's.
func countDirect(ctx context.Context, env *Env, from, to string, snap *admin.Snapshot) (int, error) {
	t := snap.Topics[to]
	if t == nil {
		return 0, nil
	}
	direct := 0
	for p := int32(0); p < int32(t.Partitions); p++ {
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
