package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
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

// ErrNotSafe is returned when retiring would lose a reader or a record.
var ErrNotSafe = errors.New("not safe to retire")

// Retire deletes the old topic once that is safe: the window is over (or
// forced with a reason), no consumer group has offsets or members on it,
// no stray write arrived within the quiet period, and verify has passed
// since the last write. The rename moves to retired and the bridge stops
// copying it.
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
	if w := windowOf(*rec, env.Map.Window); now.Before(w.End) && !opts.Force {
		return nil, fmt.Errorf("%w: the window of %s ends %s (%.1f days left); retire then, or --force --reason", ErrNotSafe, r.From, w.End.Format(time.RFC3339), w.DaysLeft(now))
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{r.From}, Groups: true})
	if err != nil {
		return nil, err
	}
	src := snap.Topics[r.From]
	if src == nil {
		// Deleted by an interrupted run (or by hand): finish the record.
		return res, finishRetire(ctx, env, r.From, opts)
	}
	var onOld []string
	for _, g := range snap.Groups {
		if g.ID == env.bridgeGroup() {
			continue
		}
		if len(g.Offsets[r.From]) > 0 || memberReads(g, r.From) {
			onOld = append(onOld, g.ID)
		}
	}
	if len(onOld) > 0 {
		return nil, fmt.Errorf("%w: consumer group(s) %s still read %s; move them with cutover consumers", ErrNotSafe, strings.Join(onOld, ", "), r.From)
	}
	ends := latestOffsets(src)
	if n := strayWrites(*rec, ends); n > 0 {
		last, err := lastWrite(ctx, env.Admin, r.From)
		if err != nil {
			return nil, err
		}
		if now.Sub(last) < opts.QuietPeriod {
			return nil, fmt.Errorf("%w: %d stray write(s) to %s since producers were cut over, the last at %s, within the quiet period of %s", ErrNotSafe, n, r.From, last.Format(time.RFC3339), opts.QuietPeriod)
		}
	}
	if rec.Verified == nil || !maps.Equal(rec.Verified.OldEnd, ends) {
		return nil, fmt.Errorf("%w: verify has not passed since the last write to %s; run migrator verify --rename %s", ErrNotSafe, r.From, r.From)
	}
	if opts.DryRun {
		res.Outcome = "safe to retire"
		return res, nil
	}
	intent := state.Step{Name: stepRetire, Params: map[string]string{"reason": opts.Reason}}
	if _, err := env.Store.BeginStep(ctx, r.From, intent,
		state.AuditEntry{Command: env.Command, Action: "retire: begin", Detail: fmt.Sprintf("delete %s (force %v, reason %q)", r.From, opts.Force, opts.Reason)}); err != nil {
		return nil, err
	}
	if err := env.Admin.DeleteTopic(ctx, r.From); err != nil {
		return nil, err
	}
	return res, finishRetire(ctx, env, r.From, opts)
}

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
