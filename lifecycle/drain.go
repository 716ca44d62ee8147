package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/huleedu/topic-migrator/state"
)

// DrainOptions bound a drain.
type DrainOptions struct {
	Rename string
	// Timeout, when positive, bounds the wait.
	Timeout time.Duration
	// Poll is how often the bridge's progress is checked (default 500ms).
	Poll time.Duration
}

// DrainResult says what the bridge copied up to.
type DrainResult struct {
	From string `json:"from"`
	// Group is the bridge's consumer group.
	Group string `json:"group"`
	// Ends are the old topic's end offsets the bridge reached.
	Ends state.Offsets `json:"ends"`
}

// Drain blocks until the bridge has copied everything the old topic holds
// now (its group's committed offsets reach the topic's end), for deploy
// scripts that stop old producers and start new ones without reordering a
// key. It fails with the remaining lag when the timeout passes.
func Drain(ctx context.Context, env *Env, opts DrainOptions) (*DrainResult, error) {
	r, err := env.rename(opts.Rename)
	if err != nil {
		return nil, err
	}
	if opts.Poll <= 0 {
		opts.Poll = 500 * time.Millisecond
	}
	ends, err := endOffsets(ctx, env.Admin, r.From)
	if err != nil {
		return nil, err
	}
	group := env.bridgeGroup()
	deadline := time.Now().Add(opts.Timeout)
	report := env.progress("drain "+r.From, "records")
	defer report.finish()
	var first int64 = -1 // the lag when the drain began
	for {
		committed, err := env.Admin.GroupOffsets(ctx, group)
		if err != nil {
			return nil, err
		}
		var lag int64
		for p, end := range ends {
			lag += max(end-committed[r.From][p], 0)
		}
		if first < 0 {
			first = lag
		}
		report.set(first-lag, first)
		if lag == 0 {
			return &DrainResult{From: r.From, Group: group, Ends: ends}, nil
		}
		if opts.Timeout > 0 && time.Now().After(deadline) {
			return nil, fmt.Errorf("drain %s: the bridge (group %s) still has %d record(s) to copy after %s", r.From, group, lag, opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("drain %s: %w with %d record(s) to copy", r.From, ctx.Err(), lag)
		case <-time.After(opts.Poll):
		}
	}
}
