package lifecycle

import (
	"context"
	"fmt"

	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// VerifyOptions choose what verify compares.
type VerifyOptions struct {
	// Renames limits verify to these renames (by from topic); empty: all.
	Renames []string
	// Progress, when set, is called after each partition of a rename
	// whose old topic has partitions partitions.
	Progress func(r plan.Rename, partitions int, p PartitionReport)
}

// VerifySkip is a rename verify could not compare.
type VerifySkip struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// VerifyResult is what verify found, rename by rename.
type VerifyResult struct {
	Reports []*VerifyReport `json:"reports"`
	Skipped []VerifySkip    `json:"skipped,omitempty"`
}

// Mismatched returns the first report that does not match, nil when all
// match.
func (r *VerifyResult) Mismatched() *VerifyReport {
	for _, rep := range r.Reports {
		if !rep.OK() {
			return rep
		}
	}
	return nil
}

// Verify compares each chosen rename's copy target (its new topic, or a
// swap's staging topic until the swap created the new one) with its old
// topic, record by record (see CompareCopy). For each that matches, with a
// state file, it records that verify passed up to the old topic's end
// offsets seen before it began: retire requires that no write came after
// them. A rename one of whose topics is missing is skipped.
func Verify(ctx context.Context, env *Env, opts VerifyOptions) (*VerifyResult, error) {
	want := map[string]bool{}
	for _, name := range opts.Renames {
		if _, err := env.rename(name); err != nil {
			return nil, err
		}
		want[name] = true
	}
	var names []string
	for _, r := range env.Map.Renames {
		names = append(names, r.From, r.To, plan.StagingTopic(r.To))
	}
	topics, err := env.Admin.DescribeTopics(ctx, names)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	for _, r := range env.Map.Renames {
		if len(want) > 0 && !want[r.From] {
			continue
		}
		to := copyTarget(r, func(t string) bool { return topics[t] != nil })
		if topics[r.From] == nil || topics[to] == nil {
			res.Skipped = append(res.Skipped, VerifySkip{From: r.From, To: to, Reason: "both topics must exist"})
			continue
		}
		partitions := topics[r.From].Partitions
		var progress func(PartitionReport)
		if opts.Progress != nil {
			progress = func(p PartitionReport) { opts.Progress(r, partitions, p) }
		}
		rep, err := verifyAndRecord(ctx, env, r.From, to, int32(partitions), progress)
		if err != nil {
			return res, fmt.Errorf("verify %s → %s: %w", r.From, to, err)
		}
		res.Reports = append(res.Reports, rep)
	}
	return res, nil
}

// verifyAndRecord compares to with from and, when it matches and env has
// a state file that knows the rename, records the verification.
func verifyAndRecord(ctx context.Context, env *Env, from, to string, partitions int32, progress func(PartitionReport)) (*VerifyReport, error) {
	ends, err := endOffsets(ctx, env.Admin, from)
	if err != nil {
		return nil, err
	}
	rep, err := CompareCopy(ctx, env.Admin.Config(), from, to, plan.DLQTopic(to), partitions, progress)
	if err != nil || !rep.OK() || env.Store == nil {
		return rep, err
	}
	if _, found, err := env.Store.Rename(ctx, from); err != nil || !found {
		return rep, err
	}
	now := env.now().UTC()
	return rep, env.updateRecord(ctx, from, func(cur *state.Rename) error {
		cur.Verified = &state.Verification{At: now, OldEnd: ends}
		return nil
	})
}
