package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Keys of a rename's state Data.
const (
	// dataOldEndAtCut holds the old topic's end offsets (JSON, partition →
	// offset) when producers were cut over: writes after them are stray.
	dataOldEndAtCut = "old_end_at_producers_cut"
	// dataVerifiedAt and dataVerifiedEnd record the last verify that
	// passed and the old topic's end offsets it covered.
	dataVerifiedAt  = "verified_at"
	dataVerifiedEnd = "verified_old_end"
)

// CutoverProducers records that producers now write to the new topic: the
// rename moves to producers-cut and the old topic's end offsets are kept,
// so that status reports every later write to the old topic as stray.
func CutoverProducers(ctx context.Context, env *Env, rename string, dryRun bool) (*state.Rename, error) {
	r, ok := findRename(env.Map, rename)
	if !ok {
		return nil, fmt.Errorf("--rename %s: no rename from that topic in the map", rename)
	}
	if r.Strategy == plan.StrategySwap {
		return nil, fmt.Errorf("%s uses strategy swap: its producers move with `migrator cutover swap`", r.From)
	}
	rec, found, err := env.Store.Rename(ctx, r.From)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s is not in the state file %s: run apply first", r.From, env.Store.Path())
	}
	if rec.Phase == state.PhaseProducersCut {
		return rec, nil
	}
	if err := state.CanTransition(rec.Phase, state.PhaseProducersCut); err != nil {
		return nil, fmt.Errorf("cutover producers of %s: %w (move the consumers first)", r.From, err)
	}
	ends, err := endOffsets(ctx, env.Admin, r.From)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(ends)
	audit := state.AuditEntry{Command: env.Command, Action: "phase producers-cut", Detail: "old topic end offsets " + string(data), DryRun: dryRun}
	if dryRun {
		return env.Store.Transition(ctx, r.From, state.PhaseProducersCut, "producers write to "+r.To, audit)
	}
	err = env.Store.Update(ctx, func(tx *state.Tx) error {
		cur, _, err := tx.Rename(r.From)
		if err != nil {
			return err
		}
		if cur.Data == nil {
			cur.Data = map[string]string{}
		}
		cur.Data[dataOldEndAtCut] = string(data)
		return tx.PutRename(cur)
	})
	if err != nil {
		return nil, err
	}
	return env.Store.Transition(ctx, r.From, state.PhaseProducersCut, "producers write to "+r.To, audit)
}

// endOffsets returns a topic's end offsets (read_committed), by partition.
func endOffsets(ctx context.Context, cl *admin.Client, topic string) (map[int32]int64, error) {
	snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: []string{topic}})
	if err != nil {
		return nil, err
	}
	t := snap.Topics[topic]
	if t == nil || t.Offsets == nil {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	out := map[int32]int64{}
	for p, o := range t.Offsets.Latest {
		out[int32(p)] = o
	}
	return out, nil
}

// strayWrites counts records written to the old topic after the recorded
// end offsets; -1 when nothing was recorded.
func strayWrites(rec state.Rename, now map[int32]int64) int64 {
	raw := rec.Data[dataOldEndAtCut]
	if raw == "" {
		return -1
	}
	var at map[int32]int64
	if json.Unmarshal([]byte(raw), &at) != nil {
		return -1
	}
	var n int64
	for p, end := range now {
		n += max(end-at[p], 0)
	}
	return n
}

// DrainOptions bound a drain.
type DrainOptions struct {
	Rename      string
	BridgeGroup string
	Timeout     time.Duration
	// Poll is how often the bridge's progress is checked (default 500ms).
	Poll time.Duration
}

// Drain blocks until the bridge has copied everything the old topic holds
// now (its group's committed offsets reach the topic's end), for deploy
// scripts that stop old producers and start new ones without reordering a
// key. It fails with the remaining lag when the timeout passes.
func Drain(ctx context.Context, cl *admin.Client, m *plan.RenameMap, opts DrainOptions) error {
	r, ok := findRename(m, opts.Rename)
	if !ok {
		return fmt.Errorf("--rename %s: no rename from that topic in the map", opts.Rename)
	}
	if opts.Poll <= 0 {
		opts.Poll = 500 * time.Millisecond
	}
	ends, err := endOffsets(ctx, cl, r.From)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(opts.Timeout)
	for {
		committed, err := cl.GroupOffsets(ctx, opts.BridgeGroup)
		if err != nil {
			return err
		}
		var lag int64
		for p, end := range ends {
			lag += max(end-committed[r.From][p], 0)
		}
		if lag == 0 {
			return nil
		}
		if opts.Timeout > 0 && time.Now().After(deadline) {
			return fmt.Errorf("drain %s: the bridge (group %s) still has %d record(s) to copy after %s", r.From, opts.BridgeGroup, lag, opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %w with %d record(s) to copy", r.From, ctx.Err(), lag)
		case <-time.After(opts.Poll):
		}
	}
}

// recordVerified notes in the state that verify passed up to the old
// topic's end offsets it saw.
func recordVerified(ctx context.Context, st *state.Store, from string, ends map[int32]int64, now time.Time) error {
	data, _ := json.Marshal(ends)
	return st.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(from)
		if err != nil || !found {
			return err
		}
		if cur.Data == nil {
			cur.Data = map[string]string{}
		}
		cur.Data[dataVerifiedAt] = now.UTC().Format(time.RFC3339)
		cur.Data[dataVerifiedEnd] = string(data)
		return tx.PutRename(cur)
	})
}

// VerifyAndRecord verifies the copy of a rename (see Verify) and, when it
// matches and env has a state file, records that verify passed up to the
// old topic's end offsets seen before it began: retire requires that no
// write came after them.
func VerifyAndRecord(ctx context.Context, env *Env, from, to string, partitions int32, progress func(PartitionReport)) (*VerifyReport, error) {
	ends, err := endOffsets(ctx, env.Admin, from)
	if err != nil {
		return nil, err
	}
	rep, err := Verify(ctx, env.Admin.Config(), from, to, plan.DLQTopic(to), partitions, progress)
	if err != nil || !rep.OK() || env.Store == nil {
		return rep, err
	}
	if _, found, err := env.Store.Rename(ctx, from); err != nil || !found {
		return rep, err
	}
	return rep, recordVerified(ctx, env.Store, from, ends, time.Now())
}
