package lifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/huleedu/topic-migrator/state"
)

// HistoryOptions narrow the audit log.
type HistoryOptions struct {
	// Rename limits it to one rename (by from topic); "" means all.
	Rename string
	// Since drops entries older than it; zero keeps all.
	Since time.Time
}

// HistoryEntry is one line of the audit log: when, who, what.
type HistoryEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Command string    `json:"command"`
	Rename  string    `json:"rename,omitempty"`
	Action  string    `json:"action"`
	Detail  string    `json:"detail,omitempty"`
	DryRun  bool      `json:"dry_run"`
	Result  string    `json:"result"`
}

// HistoryResult is the audit log, oldest first.
type HistoryResult struct {
	Entries []HistoryEntry `json:"entries"`
}

// History reads the audit log: every step, phase change, refusal and
// failure the migration recorded, with who did it, from which host and
// with which command line. It needs only the state (env.Store); a rename
// named that neither the map nor the log knows is an *UnknownRenameError.
func History(ctx context.Context, env *Env, opts HistoryOptions) (*HistoryResult, error) {
	if env.Store == nil {
		return nil, errors.New("history needs a state file: none at the --state path")
	}
	entries, err := env.Store.Audit(ctx, opts.Rename)
	if err != nil {
		return nil, err
	}
	if opts.Rename != "" && len(entries) == 0 && env.Map != nil {
		if _, err := env.rename(opts.Rename); err != nil {
			return nil, err
		}
	}
	res := &HistoryResult{Entries: []HistoryEntry{}}
	for _, e := range entries {
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			continue
		}
		res.Entries = append(res.Entries, historyEntry(e))
	}
	return res, nil
}

func historyEntry(e state.AuditEntry) HistoryEntry {
	return HistoryEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Command: e.Command, Rename: e.Rename,
		Action: e.Action, Detail: e.Detail, DryRun: e.DryRun, Result: e.Result}
}
