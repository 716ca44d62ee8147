package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Translation is one partition's move.
type Translation struct {
	Partition int32 `json:"partition"`
	OldOffset int64 `json:"old_offset"`
	NewOffset int64 `json:"new_offset"`
}

// GroupCutover is what cutover did for one group.
type GroupCutover struct {
	Group        string        `json:"group"`
	Translations []Translation `json:"translations"`
	Outcome      string        `json:"outcome"`
}

// CutoverConsumersOptions choose the groups and the mode.
type CutoverConsumersOptions struct {
	Rename    string
	Groups    []string
	AllGroups bool
	DryRun    bool
	// Wait, when positive, waits up to this long for the bridge to copy
	// past the groups' offsets instead of refusing at once.
	Wait time.Duration
}

// CutoverConsumersResult is what cutover did, group by group (as far as
// it got when it fails).
type CutoverConsumersResult struct {
	From   string         `json:"from"`
	To     string         `json:"to"`
	DryRun bool           `json:"dry_run"`
	Groups []GroupCutover `json:"groups"`
}

// ErrGroupActive is returned for a group that still has members.
var ErrGroupActive = errors.New("consumer group has active members")

// CutoverConsumers moves consumer groups' committed offsets from the old
// topic to the new one with exact translation, then removes their
// old-topic offsets. It refuses a group with active members and a
// partition the bridge has not copied past the group's offset. The new
// offsets are recorded in the state before the group is changed, so that a
// re-run after a crash finishes the move. When no group is left on the old
// topic the rename moves to phase consumers-cut.
func CutoverConsumers(ctx context.Context, env *Env, opts CutoverConsumersOptions) (*CutoverConsumersResult, error) {
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	if r.Strategy == plan.StrategySwap {
		return nil, fmt.Errorf("%s uses strategy swap: its consumer groups move with `migrator cutover swap`", r.From)
	}
	if !opts.DryRun {
		if err := ResumeMove(ctx, env, r.From); err != nil {
			return nil, err
		}
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Groups: true})
	if err != nil {
		return nil, err
	}
	src, dst := snap.Topics[r.From], snap.Topics[r.To]
	if src == nil || dst == nil {
		return nil, fmt.Errorf("both %s and %s must exist to move consumers", r.From, r.To)
	}
	if src.Partitions != dst.Partitions {
		return nil, fmt.Errorf("%s has %d partitions and %s %d: offsets translate partition for partition only", r.From, src.Partitions, r.To, dst.Partitions)
	}
	groups, bridgeOffsets, err := chooseGroups(snap, r.From, env.bridgeGroup(), opts)
	if err != nil {
		return nil, err
	}
	if opts.Wait > 0 {
		report := env.progress("wait for the bridge to copy "+r.From+" past the groups", "records")
		bridgeOffsets, err = waitForBridge(ctx, env.Admin, r.From, env.bridgeGroup(), groups, bridgeOffsets, opts.Wait, report)
		report.finish()
		if err != nil {
			return nil, err
		}
	}
	tr, err := NewTranslator(env.Admin.Config(), r.To, r.From)
	if err != nil {
		return nil, err
	}
	defer tr.Close()

	// Every offset to translate, per partition, answered in one pass each.
	needed := map[int32][]int64{}
	for _, g := range groups {
		for p, o := range g.Offsets[r.From] {
			needed[p] = append(needed[p], o)
		}
	}
	translated, err := tr.translateAll(ctx, needed)
	if err != nil {
		return nil, err
	}
	result := &CutoverConsumersResult{From: r.From, To: r.To, DryRun: opts.DryRun}
	checked := map[[2]int64]error{}
	out := &result.Groups
	for _, g := range groups {
		res := GroupCutover{Group: g.ID}
		if len(g.Members) > 0 {
			var names []string
			for _, m := range g.Members {
				names = append(names, fmt.Sprintf("%s (%s)", m.ClientID, m.Host))
			}
			return result, fmt.Errorf("%w: group %s: %s; stop its consumers first", ErrGroupActive, g.ID, strings.Join(names, ", "))
		}
		parts := make([]int32, 0, len(g.Offsets[r.From]))
		for p := range g.Offsets[r.From] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			o := g.Offsets[r.From][p]
			copied, ok := bridgeOffsets[p]
			if !ok || copied < o {
				return result, fmt.Errorf("group %s is at %s/%d offset %d but the bridge has copied only up to %d: wait for the bridge (migrator drain) and retry", g.ID, r.From, p, o, copied)
			}
			// Groups at the same offset share one check (each reads both topics).
			key := [2]int64{int64(p), o}
			if _, ok := checked[key]; !ok {
				checked[key] = checkTranslation(ctx, env, tr, r, p, o, copied, translated[p][o])
			}
			if err := checked[key]; err != nil {
				return result, fmt.Errorf("group %s: %w", g.ID, err)
			}
			res.Translations = append(res.Translations, Translation{Partition: p, OldOffset: o, NewOffset: translated[p][o]})
		}
		if opts.DryRun {
			res.Outcome = "would move"
			*out = append(*out, res)
			continue
		}
		if err := moveGroup(ctx, env, r, r.From, r.To, g, res.Translations); err != nil {
			return result, err
		}
		res.Outcome = "moved"
		*out = append(*out, res)
	}
	if !opts.DryRun {
		if err := markConsumersCut(ctx, env, r, snap, env.bridgeGroup(), *out); err != nil {
			return result, err
		}
	}
	return result, nil
}

// chooseGroups returns the groups to move (those with offsets on the old
// topic) and the bridge group's committed offsets there.
func chooseGroups(snap *admin.Snapshot, from, bridgeGroup string, opts CutoverConsumersOptions) ([]admin.Group, map[int32]int64, error) {
	var bridgeOffsets map[int32]int64
	byID := map[string]admin.Group{}
	for _, g := range snap.Groups {
		if g.ID == bridgeGroup {
			bridgeOffsets = g.Offsets[from]
			continue
		}
		byID[g.ID] = g
	}
	var out []admin.Group
	if opts.AllGroups {
		for _, g := range snap.Groups {
			if g.ID != bridgeGroup && len(g.Offsets[from]) > 0 {
				out = append(out, g)
			}
		}
		return out, bridgeOffsets, nil
	}
	for _, id := range opts.Groups {
		if id == bridgeGroup {
			return nil, nil, fmt.Errorf("group %s is the bridge's own", id)
		}
		g, ok := byID[id]
		if !ok || len(g.Offsets[from]) == 0 {
			return nil, nil, fmt.Errorf("group %s has no committed offsets on %s", id, from)
		}
		out = append(out, g)
	}
	return out, bridgeOffsets, nil
}

// markConsumersCut moves the rename to consumers-cut once no group but
// the bridge's is left on the old topic.
func markConsumersCut(ctx context.Context, env *Env, r plan.Rename, snap *admin.Snapshot, bridgeGroup string, moved []GroupCutover) error {
	done := map[string]bool{}
	for _, m := range moved {
		done[m.Group] = true
	}
	for _, g := range snap.Groups {
		if g.ID != bridgeGroup && !done[g.ID] && len(g.Offsets[r.From]) > 0 {
			return nil // Groups remain on the old topic.
		}
	}
	rec, err := env.Store.EnsureRename(ctx, r.From, r.To, string(r.Strategy))
	if err != nil {
		return err
	}
	for _, next := range []state.Phase{state.PhaseCreated, state.PhaseMirroring, state.PhaseConsumersCut} {
		if rec.Phase == next || state.CanTransition(rec.Phase, next) != nil {
			continue
		}
		if rec, err = env.Store.Transition(ctx, r.From, next, "every consumer group moved to "+r.To,
			state.AuditEntry{Command: env.Command, Action: "phase " + string(next)}); err != nil {
			return err
		}
	}
	return nil
}

// waitForBridge waits until the bridge group has committed, on every
// partition of from, at least the offsets the groups are at.
func waitForBridge(ctx context.Context, cl *admin.Client, from, bridgeGroup string, groups []admin.Group, copied map[int32]int64, wait time.Duration, report *reporter) (map[int32]int64, error) {
	deadline := time.Now().Add(wait)
	var first int64 = -1 // records to copy when the wait began
	for {
		behind := false
		need := map[int32]int64{} // the groups' furthest offset per partition
		for _, g := range groups {
			for p, o := range g.Offsets[from] {
				if c, ok := copied[p]; !ok || c < o {
					behind = true
				}
				need[p] = max(need[p], o)
			}
		}
		var left int64
		for p, o := range need {
			left += max(o-copied[p], 0)
		}
		if first < 0 {
			first = left
		}
		report.set(first-left, first)
		if !behind {
			return copied, nil
		}
		if time.Now().After(deadline) {
			return copied, nil // The caller refuses with the details.
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		offsets, err := cl.GroupOffsets(ctx, bridgeGroup)
		if err != nil {
			return nil, err
		}
		copied = offsets[from]
	}
}

// checkTranslation proves one translation exact before a group moves: the
// first record of the old topic at or after the group's offset o that the
// bridge says it copied (below copied), and did not dead-letter, must be
// the origin of the record of the new topic the group will resume at, t. Otherwise its copy is missing,
// although the bridge's group has committed past it (the new topic was
// re-created after the bridge had copied, as when a rename is applied again
// after a rollback), and moving the group would skip records.
func checkTranslation(ctx context.Context, env *Env, tr *Translator, r plan.Rename, p int32, o, copied, t int64) error {
	if copied <= o {
		return nil
	}
	rd, err := openReaderFrom(env.Admin.Config(), r.From, p, o, copied)
	if err != nil {
		return err
	}
	defer rd.close()
	first, err := rd.read(ctx)
	if err != nil {
		return fmt.Errorf("read %s/%d at %d: %w", r.From, p, o, err)
	}
	if first == nil {
		return nil // Nothing but markers (or aborted records) up to copied.
	}
	want := int64(first.TopicPartition.Offset)
	at, origin, err := tr.probe(ctx, p, t)
	if err != nil {
		return err
	}
	if at == t && origin > want {
		// The bridge passes over records it dead-lettered: the group
		// resumes at the next copy when every record before its origin
		// is in the DLQ.
		dead, err := deadLettered(ctx, env.Admin.Config(), plan.DLQTopic(r.To))
		if err != nil {
			return err
		}
		for m := first; m != nil && int64(m.TopicPartition.Offset) < origin; {
			if !dead[bridge.Origin{Topic: r.From, Partition: p, Offset: int64(m.TopicPartition.Offset)}] {
				want = int64(m.TopicPartition.Offset)
				break
			}
			want = origin
			if m, err = rd.read(ctx); err != nil {
				return fmt.Errorf("read %s/%d: %w", r.From, p, err)
			}
		}
	}
	if at != t || origin != want {
		return fmt.Errorf("%w: %s/%d has no copy of %s/%d@%d, the record the group resumes at, although the bridge group %s has committed up to %d there: "+
			"the new topic lacks records the bridge copied once (re-created after a rollback?); copy them again before moving consumers (runbooks/rollback.md)",
			ErrCopyMissing, r.To, p, r.From, p, want, env.bridgeGroup(), copied)
	}
	return nil
}

// ErrCopyMissing says that the new topic lacks the copy of a record the
// bridge's committed offsets claim it copied.
var ErrCopyMissing = errors.New("copy missing")
