package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Consumer groups of the copies a step runs itself.
const (
	// DefaultSwapGroup is the group of a swap's staging → new copy.
	DefaultSwapGroup = "topic-migrator-swap"
	// DefaultReverseGroup is the group of rollback's new → old copy.
	DefaultReverseGroup = "topic-migrator-reverse"
)

// Env is what every step works with: the cluster, the state, the map and
// who is acting. Each step takes an *Env and its own options struct, and
// returns its own result type.
type Env struct {
	Admin *admin.Client
	// Store is the state file; nil only for dry runs and read-only steps.
	Store *state.Store
	Map   *plan.RenameMap
	// Command is the command line, for the audit log.
	Command string
	Log     *slog.Logger
	// BridgeGroup is the forward bridge's consumer group: its committed
	// offsets say how far the copy is, and it is never moved. Empty means
	// bridge.DefaultGroup.
	BridgeGroup string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Progress, when set, is told how far every long wait of a step has
	// come: drains, copies, verifies.
	Progress Progress
}

func (e *Env) logger() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

func (e *Env) bridgeGroup() string {
	if e.BridgeGroup == "" {
		return bridge.DefaultGroup
	}
	return e.BridgeGroup
}

func (e *Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// UnknownRenameError is returned for a rename the map does not have.
type UnknownRenameError struct {
	// Name is the old topic asked for.
	Name string
	// Close lists the map's renames whose old topic is spelled nearly the
	// same; Known all of them.
	Close, Known []string
}

func (e *UnknownRenameError) Error() string {
	msg := fmt.Sprintf("--rename %s: no rename from that topic in the map", e.Name)
	switch {
	case len(e.Close) > 0:
		return msg + "; did you mean " + strings.Join(e.Close, " or ") + "?"
	case len(e.Known) == 0:
		return msg + " (the map has no renames)"
	case len(e.Known) <= 12:
		return msg + " (renames: " + strings.Join(e.Known, ", ") + ")"
	}
	return fmt.Sprintf("%s (%d renames: migrator validate-map lists them)", msg, len(e.Known))
}

// rename returns the map's rename from topic from.
func (e *Env) rename(from string) (plan.Rename, error) {
	return findRename(e.Map, from)
}

// findRename returns m's rename from topic from, or an
// *UnknownRenameError that suggests close names.
func findRename(m *plan.RenameMap, from string) (plan.Rename, error) {
	var known []string
	for _, r := range m.Renames {
		if r.From == from {
			return r, nil
		}
		known = append(known, r.From)
	}
	return plan.Rename{}, &UnknownRenameError{Name: from, Close: closeNames(from, known), Known: known}
}

// closeNames returns the names within a small edit distance of name,
// closest first.
func closeNames(name string, names []string) []string {
	limit := max(2, len(name)/8)
	type scored struct {
		name string
		d    int
	}
	var close []scored
	for _, n := range names {
		if d := editDistance(name, n); d <= limit {
			close = append(close, scored{n, d})
		}
	}
	slices.SortStableFunc(close, func(a, b scored) int { return a.d - b.d })
	out := make([]string, 0, min(len(close), 3))
	for _, c := range close[:min(len(close), 3)] {
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// errNotRecorded says that a rename has no record in the state file yet.
func errNotRecorded(env *Env, from, hint string) error {
	msg := fmt.Sprintf("%s is not in the state file %s", from, env.Store.Path())
	if hint != "" {
		msg += ": " + hint
	}
	return errors.New(msg)
}

// record returns the rename's state record; hint says what to do when it
// has none.
func (e *Env) record(ctx context.Context, from, hint string) (*state.Rename, error) {
	rec, found, err := e.Store.Rename(ctx, from)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNotRecorded(e, from, hint)
	}
	return rec, nil
}

// Window is a rename's transition window: it starts when the rename
// entered phase created and lasts the map's window.
type Window struct {
	Start, End time.Time
}

// windowOf returns the rename's window; zero when it never was created.
func windowOf(rec state.Rename, length time.Duration) Window {
	for _, t := range rec.History {
		if t.To == state.PhaseCreated {
			return Window{Start: t.At, End: t.At.Add(length)}
		}
	}
	return Window{}
}

// Known reports whether the window has started.
func (w Window) Known() bool { return !w.Start.IsZero() }

// DaysLeft is how many days of the window are left at now (negative once
// it is over).
func (w Window) DaysLeft(now time.Time) float64 { return w.End.Sub(now).Hours() / 24 }

// copyTarget is the topic the bridge copies the rename's old topic into:
// its new topic, or for a swap its staging topic until the swap has
// created the new one (the old name is gone by then).
func copyTarget(r plan.Rename, exists func(topic string) bool) string {
	if r.Strategy == plan.StrategySwap && !exists(r.To) {
		return plan.StagingTopic(r.To)
	}
	return r.To
}

// audit records a failed action; a failure to record it is logged, as the
// action's own error is what the operator needs to see.
func audit(ctx context.Context, env *Env, rename, action string, actionErr error) {
	if env.Store == nil {
		return
	}
	err := env.Store.Update(ctx, func(tx *state.Tx) error {
		return tx.Append(state.AuditEntry{Command: env.Command, Rename: rename, Action: action, Result: actionErr.Error()})
	})
	if err != nil {
		env.logger().Error("could not record a failure in the audit log", "action", action, "err", err)
	}
}

// updateRecord changes the rename's record in one transaction.
func (e *Env) updateRecord(ctx context.Context, from string, change func(*state.Rename) error) error {
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(from)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("rename %s vanished from the state file", from)
		}
		if err := change(cur); err != nil {
			return err
		}
		return tx.PutRename(cur)
	})
}

// copyUntilCaughtUp runs a one-off bridge in group that copies routes until
// every assigned partition reached the end it had when assigned: how every
// step that copies by itself (the swap's drain and copy, rollback's
// reverse copy, the probe) runs the bridge. enrich adds the standard
// headers a record lacks on every route (each route may ask for them
// itself: bridge.Route.Enrich). task names the copy in progress reports ("" for
// none).
func (e *Env) copyUntilCaughtUp(ctx context.Context, task, group, instance string, routes bridge.RouteSource, enrich bool, metrics *bridge.Metrics) error {
	opts := bridge.Options{
		Client: e.Admin.Config(), Group: group, InstanceID: instance, UntilCaughtUp: true, OneOff: true,
		Admin: e.Admin, Log: e.logger(), Routes: routes, Metrics: metrics,
		Headers: bridge.HeaderPolicy{Enrich: enrich},
	}
	if task == "" {
		return bridge.Run(ctx, opts)
	}
	report := e.progress(task, "records")
	defer report.finish()
	opts.Progress = report.set
	return bridge.Run(ctx, opts)
}

// startedLater reports whether the bridge starts the rename's copy after
// the old topic's first record by design (its start is latest or a time).
func startedLater(r plan.Rename) bool { return r.Start != "" && r.Start != "earliest" }

// appendAudit appends a successful action to the audit log.
func appendAudit(ctx context.Context, env *Env, rename, action, detail string) error {
	if env.Store == nil {
		return nil
	}
	return env.Store.Update(ctx, func(tx *state.Tx) error {
		return tx.Append(state.AuditEntry{Command: env.Command, Rename: rename, Action: action, Detail: detail, Result: "ok"})
	})
}

// CheckRename returns an *UnknownRenameError, suggesting close names, when
// the map has no rename from topic from.
func CheckRename(m *plan.RenameMap, from string) error {
	_, err := findRename(m, from)
	return err
}
