package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// RetireOptions shape a retire.
type RetireOptions struct {
	Rename string
	// Force with a Reason retires before the window ends; both are recorded.
	Force  bool
	Reason string
	// QuietPeriod is how long the old topic must have had no stray write.
	QuietPeriod time.Duration
	// DryRun checks only.
	DryRun bool
}

// RetireResult says what retire did.
type RetireResult struct {
	From   string `json:"from"`
	DryRun bool   `json:"dry_run"`
	// Outcome is "retired", "already retired" or, for a dry run, "safe to
	// retire".
	Outcome string `json:"outcome"`
}

// Retire deletes the old topic once that is safe: the window is over (or
// forced with a reason), no stray write arrived within the quiet period,
// and the safety proof passes at the moment of the delete (see
// deleteTopic: no reader left, the bridge caught up, every record of the
// old topic in the new one, none only in a DLQ). The rename moves to
// retired and the bridge stops copying it.
func Retire(ctx context.Context, env *Env, opts RetireOptions) (*RetireResult, error) {
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	res := &RetireResult{From: r.From, DryRun: opts.DryRun, Outcome: "retired"}
	rec, err := env.record(ctx, r.From, "")
	if err != nil {
		return nil, err
	}
	if rec.Phase == state.PhaseRetired {
		res.Outcome = "already retired"
		return res, nil
	}
	if err := state.CanTransition(rec.Phase, state.PhaseRetired); err != nil {
		return nil, fmt.Errorf("retire %s: %w", r.From, err)
	}
	if opts.Force && strings.TrimSpace(opts.Reason) == "" {
		return nil, errors.New("retire --force needs --reason, which is recorded")
	}
	now := env.now()
	if w := windowOf(*rec, env.Map.WindowOf(r)); now.Before(w.End) && !opts.Force {
		return nil, fmt.Errorf("%w: the window of %s ends %s (%.1f days left); retire then, or --force --reason", ErrNotSafe, r.From, w.End.Format(time.RFC3339), w.DaysLeft(now))
	}
	topics, err := env.Admin.DescribeTopics(ctx, []string{r.From})
	if err != nil {
		return nil, err
	}
	if topics[r.From] == nil {
		// Deleted by an interrupted run (or by hand): finish the record.
		if err := env.deleteTopic(ctx, retireDeletion(env, r)); err != nil {
			return nil, err
		}
		return res, finishRetire(ctx, env, r.From, opts)
	}
	ends, err := endOffsets(ctx, env.Admin, r.From)
	if err != nil {
		return nil, err
	}
	if n := strayWrites(*rec, ends); n > 0 {
		last, err := lastWrite(ctx, env.Admin, r.From)
		if err != nil {
			return nil, err
		}
		if now.Sub(last) < opts.QuietPeriod {
			return nil, fmt.Errorf("%w: %d stray write(s) to %s since producers were cut over, the last at %s, within the quiet period of %s", ErrNotSafe, n, r.From, last.Format(time.RFC3339), opts.QuietPeriod)
		}
	}
	d := retireDeletion(env, r)
	if opts.DryRun {
		if _, err := env.prove(ctx, d, topics[r.From]); err != nil {
			return nil, err
		}
		res.Outcome = "safe to retire"
		return res, nil
	}
	if err := appendAudit(ctx, env, r.From, "retire: begin", fmt.Sprintf("delete %s (force %v, reason %q)", r.From, opts.Force, opts.Reason)); err != nil {
		return nil, err
	}
	if err := env.deleteTopic(ctx, d); err != nil {
		return nil, err
	}
	return res, finishRetire(ctx, env, r.From, opts)
}

// retireDeletion is the delete of a rename's old topic, whose records its
// new topic keeps.
func retireDeletion(env *Env, r plan.Rename) deletion {
	return deletion{rename: r.From, topic: r.From, keeper: r.To, startedLater: startedLater(r), copyGroups: []string{env.bridgeGroup()}}
}

// stepRetire is the step a retire of an older migrator recorded while it
// deleted the old topic; a re-run closes it.
const stepRetire = "retire"

func finishRetire(ctx context.Context, env *Env, from string, opts RetireOptions) error {
	rec, _, err := env.Store.Rename(ctx, from)
	if err != nil {
		return err
	}
	if rec.Step != nil && rec.Step.Name == stepRetire {
		if _, err := env.Store.EndStep(ctx, from, stepRetire, state.AuditEntry{Command: env.Command, Action: "retire: end", Result: "ok"}); err != nil {
			return err
		}
	}
	reason := "window over"
	if opts.Force {
		reason = "forced: " + opts.Reason
	}
	_, err = env.Store.Transition(ctx, from, state.PhaseRetired, reason,
		state.AuditEntry{Command: env.Command, Action: "phase retired", Detail: from + " deleted; " + reason})
	return err
}
