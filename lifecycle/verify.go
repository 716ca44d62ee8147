package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// VerifyOptions choose what verify compares.
type VerifyOptions struct {
	// Renames limits verify to these renames (by from topic); empty: all.
	Renames []string
	// AcceptDeadLetters lists the source records (by origin) whose dead
	// letters verify accepts in place of their copy.
	AcceptDeadLetters []bridge.Origin
}

// VerifySkip is a rename verify could not compare.
type VerifySkip struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// VerifyProblem is why a rename's copy is not complete and identical.
type VerifyProblem struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Kind is one of the VerifyXxx kinds below.
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Kinds of VerifyProblem.
const (
	// VerifyDiffers: a record is missing, duplicated, out of order or
	// different in the copy.
	VerifyDiffers = "differs"
	// VerifyIncomplete: records are not copied yet; run again once the
	// bridge caught up.
	VerifyIncomplete = "incomplete"
	// VerifyDeadLetters: records are only in the DLQ.
	VerifyDeadLetters = "dead-letters"
	// VerifyEarlyWrites: the new topic holds records that are not copies
	// while producers still write to the old one.
	VerifyEarlyWrites = "early-writes"
)

// VerifyResult is what verify found, rename by rename.
type VerifyResult struct {
	Reports  []*VerifyReport `json:"reports"`
	Skipped  []VerifySkip    `json:"skipped,omitempty"`
	Problems []VerifyProblem `json:"problems,omitempty"`
}

// Passed reports whether every copy verify compared is complete and
// identical.
func (r *VerifyResult) Passed() bool { return len(r.Problems) == 0 }

// OnlyIncomplete reports whether the copies verify found wanting are only
// behind (the bridge has not copied everything yet), not wrong.
func (r *VerifyResult) OnlyIncomplete() bool {
	for _, p := range r.Problems {
		if p.Kind != VerifyIncomplete {
			return false
		}
	}
	return len(r.Problems) > 0
}

// ErrNothingVerified is returned when no rename could be compared.
var ErrNothingVerified = errors.New("verify compared nothing")

// Verify proves that each chosen rename's copy target (its new topic, or a
// swap's staging topic until the swap created the new one) is complete and
// identical: every record of the old topic, from its first, is in it, in
// order, byte for byte (see CompareCopy). A copy fails it (a Problem) when
// a record differs or is missing, when records are not copied yet
// (VerifyIncomplete: run again once the bridge caught up), when a record
// is only in the DLQ and not accepted, and when the new topic holds
// records written to it directly while producers are not yet cut over
// (the state does not say producers-cut), naming the first. For each copy
// that passes, with a state file, it records that verify passed up to the
// old topic's end offsets seen before it began. A rename one of whose
// topics is missing is skipped; when nothing could be compared Verify
// fails with ErrNothingVerified.
func Verify(ctx context.Context, env *Env, opts VerifyOptions) (*VerifyResult, error) {
	want := map[string]bool{}
	for _, name := range opts.Renames {
		if _, err := env.rename(name); err != nil {
			return nil, err
		}
		want[name] = true
	}
	accepted := map[bridge.Origin]bool{}
	for _, o := range opts.AcceptDeadLetters {
		accepted[o] = true
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
		ends, err := endOffsets(ctx, env.Admin, r.From)
		if err != nil {
			return res, err
		}
		rec, err := verifyRecord(ctx, env, r.From)
		if err != nil {
			return res, err
		}
		report := env.progress("verify "+r.From, "records")
		copts := compareOptions{startedLater: startedLater(r), report: report}
		// A swap's staging is verified during the window so that its
		// stop compares only what came since: the prefix proven here is
		// recorded, and a prefix recorded earlier spares this run the
		// records it covers (when its proofs still hold).
		stagingPrefix := rec != nil && r.Strategy == plan.StrategySwap && to == plan.StagingTopic(r.To)
		var rep *VerifyReport
		var before *prefixFacts
		if stagingPrefix {
			if before, err = env.readPrefixFacts(ctx, r.From, to); err != nil {
				report.finish()
				return res, err
			}
			rep, _, err = env.compareWithPrefix(ctx, rec.StagingVerified, r.From, to, int32(partitions), copts)
		} else {
			rep, err = compareCopy(ctx, env.Admin.Config(), r.From, to, plan.DLQTopic(to), int32(partitions), copts, nil)
		}
		report.finish()
		if err != nil {
			return res, fmt.Errorf("verify %s → %s: %w", r.From, to, err)
		}
		res.Reports = append(res.Reports, rep)
		problems := judge(r, to, rep, rec, accepted)
		res.Problems = append(res.Problems, problems...)
		if err := recordVerify(ctx, env, rec, to, rep, ends, len(problems) == 0); err != nil {
			return res, err
		}
		if stagingPrefix {
			after, err := env.readPrefixFacts(ctx, r.From, to)
			if err != nil {
				return res, err
			}
			if err := recordStagingPrefix(ctx, env, r.From, rep.verifiedPrefix(env.now().UTC(), before, after), rep); err != nil {
				return res, err
			}
		}
	}
	if len(res.Reports) == 0 {
		return res, fmt.Errorf("%w: no rename has both its topics (%d skipped)", ErrNothingVerified, len(res.Skipped))
	}
	return res, nil
}

// verifyRecord returns the rename's state record, nil without a state file
// or a record.
func verifyRecord(ctx context.Context, env *Env, from string) (*state.Rename, error) {
	if env.Store == nil {
		return nil, nil
	}
	rec, _, err := env.Store.Rename(ctx, from)
	return rec, err
}

// judge says what keeps a compared copy from passing.
func judge(r plan.Rename, to string, rep *VerifyReport, rec *state.Rename, accepted map[bridge.Origin]bool) []VerifyProblem {
	var out []VerifyProblem
	add := func(kind, format string, args ...any) {
		out = append(out, VerifyProblem{From: r.From, To: to, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	t := rep.Totals()
	if !rep.OK() {
		add(VerifyDiffers, "%s is not an identical copy of %s: %s", to, r.From, t.Divergence)
	}
	if t.NotYetCopied > 0 {
		add(VerifyIncomplete, "%d record(s) of %s are not in %s yet: run verify again once the bridge caught up (migrator drain --rename %s)", t.NotYetCopied, r.From, to, r.From)
	}
	var unaccepted []string
	for _, p := range rep.Partitions {
		for _, o := range p.DeadLetters {
			if !accepted[o] {
				unaccepted = append(unaccepted, o.String())
			}
		}
	}
	if len(unaccepted) > 0 {
		shown := unaccepted[:min(len(unaccepted), 5)]
		add(VerifyDeadLetters, "%d record(s) of %s are only in the DLQ %s, not in %s: %s; accept them with --accept-dead-letters %s, or fix the target's configs and copy them",
			len(unaccepted), r.From, plan.DLQTopic(to), to, strings.Join(shown, ", "), strings.Join(shown, ","))
	}
	producersCut := rec != nil && rec.Phase == state.PhaseProducersCut
	if t.Direct > 0 && !producersCut && to == r.To {
		add(VerifyEarlyWrites, "%d record(s) in %s are not copies of %s although producers are not cut over yet (the first: %s): a producer writes to the new topic early; consumers of the old topic never see these. Stop it, or, if producers moved, record it with `migrator cutover producers --rename %s`",
			t.Direct, to, r.From, t.FirstDirect, r.From)
	}
	return out
}

// recordVerify records, when the state knows the rename, a verify that
// passed (the old topic's ends it covered) and what it found written early
// to the new topic, each with an audit entry, so that the trail shows
// every verify that changed the record.
func recordVerify(ctx context.Context, env *Env, rec *state.Rename, to string, rep *VerifyReport, ends state.Offsets, passed bool) error {
	if rec == nil {
		return nil
	}
	now := env.now().UTC()
	t := rep.Totals()
	return env.Store.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(rec.From)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("rename %s vanished from the state file", rec.From)
		}
		if passed {
			cur.Verified = &state.Verification{At: now, OldEnd: ends}
			data, _ := json.Marshal(ends)
			if err := tx.Append(state.AuditEntry{Command: env.Command, Rename: cur.From, Action: "verified",
				Detail: fmt.Sprintf("%s holds identical copies of %s up to its end offsets %s", to, cur.From, data), Result: "ok"}); err != nil {
				return err
			}
		}
		cur.EarlyWrites = nil
		if t.Direct > 0 && cur.Phase != state.PhaseProducersCut && t.FirstDirect != nil {
			cur.EarlyWrites = &state.EarlyWrites{At: now, Count: t.Direct, First: t.FirstDirect.String()}
			if err := tx.Append(state.AuditEntry{Command: env.Command, Rename: cur.From, Action: "verify: early writes",
				Detail: fmt.Sprintf("%d record(s) written to %s directly before producers were cut over, the first %s", t.Direct, to, t.FirstDirect), Result: "ok"}); err != nil {
				return err
			}
		}
		return tx.PutRename(cur)
	})
}

// recordStagingPrefix records the prefix of a swap's staging a verify
// proved (nil: none, which forgets an earlier one), with an audit entry.
func recordStagingPrefix(ctx context.Context, env *Env, from string, pre *state.VerifiedPrefix, rep *VerifyReport) error {
	return env.Store.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(from)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("rename %s vanished from the state file", from)
		}
		if cur.StagingVerified == nil && pre == nil {
			return nil
		}
		cur.StagingVerified = pre
		detail := fmt.Sprintf("no verified prefix of %s kept: %s", rep.Target, rep.Summary())
		if pre != nil {
			data, _ := json.Marshal(pre.SourceEnds())
			detail = fmt.Sprintf("%s holds identical copies of %s up to %s (%d record(s)); a swap's stop compares only what comes after", rep.Target, from, data, pre.Records())
		}
		if err := tx.PutRename(cur); err != nil {
			return err
		}
		return tx.Append(state.AuditEntry{Command: env.Command, Rename: from, Action: "staging verified", Detail: detail, Result: "ok"})
	})
}
