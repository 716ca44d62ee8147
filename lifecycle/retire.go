package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

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
	BridgeGroup string
	DryRun      bool
}

// ErrNotSafe is returned when retiring would lose a reader or a record.
var ErrNotSafe = errors.New("not safe to retire")

// Retire deletes the old topic once that is safe: the window is over (or
// forced with a reason), no consumer group has offsets or members on it,
// no stray write arrived within the quiet period, and verify has passed
// since the last write. The rename moves to retired and the bridge stops
// copying it.
func Retire(ctx context.Context, env *Env, opts RetireOptions, now time.Time) error {
	r, ok := findRename(env.Map, opts.Rename)
	if !ok {
		return fmt.Errorf("--rename %s: no rename from that topic in the map", opts.Rename)
	}
	rec, found, err := env.Store.Rename(ctx, r.From)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s is not in the state file %s", r.From, env.Store.Path())
	}
	if rec.Phase == state.PhaseRetired {
		return nil
	}
	if err := state.CanTransition(rec.Phase, state.PhaseRetired); err != nil {
		return fmt.Errorf("retire %s: %w", r.From, err)
	}
	if opts.Force && strings.TrimSpace(opts.Reason) == "" {
		return errors.New("retire --force needs --reason, which is recorded")
	}
	if end := createdAt(*rec).Add(env.Map.Window); now.Before(end) && !opts.Force {
		return fmt.Errorf("%w: the window of %s ends %s (%.1f days left); retire then, or --force --reason", ErrNotSafe, r.From, end.Format(time.RFC3339), end.Sub(now).Hours()/24)
	}
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{r.From}, Groups: true})
	if err != nil {
		return err
	}
	src := snap.Topics[r.From]
	if src == nil {
		// Deleted by an interrupted run (or by hand): finish the record.
		return finishRetire(ctx, env, r.From, opts)
	}
	var onOld []string
	for _, g := range snap.Groups {
		if g.ID == opts.BridgeGroup {
			continue
		}
		if len(g.Offsets[r.From]) > 0 || memberReads(g, r.From) {
			onOld = append(onOld, g.ID)
		}
	}
	if len(onOld) > 0 {
		return fmt.Errorf("%w: consumer group(s) %s still read %s; move them with cutover consumers", ErrNotSafe, strings.Join(onOld, ", "), r.From)
	}
	ends := map[int32]int64{}
	for p, o := range src.Offsets.Latest {
		ends[int32(p)] = o
	}
	if n := strayWrites(*rec, ends); n > 0 {
		last, err := lastWrite(ctx, env.Admin, r.From)
		if err != nil {
			return err
		}
		if now.Sub(last) < opts.QuietPeriod {
			return fmt.Errorf("%w: %d stray write(s) to %s since producers were cut over, the last at %s, within the quiet period of %s", ErrNotSafe, n, r.From, last.Format(time.RFC3339), opts.QuietPeriod)
		}
	}
	var verified map[int32]int64
	if raw := rec.Data[dataVerifiedEnd]; raw == "" || json.Unmarshal([]byte(raw), &verified) != nil || !maps.Equal(verified, ends) {
		return fmt.Errorf("%w: verify has not passed since the last write to %s; run migrator verify --rename %s", ErrNotSafe, r.From, r.From)
	}
	if opts.DryRun {
		return nil
	}
	params := map[string]string{"reason": opts.Reason}
	if _, err := env.Store.BeginStep(ctx, r.From, "retire", params,
		state.AuditEntry{Command: env.Command, Action: "retire: begin", Detail: fmt.Sprintf("delete %s (force %v, reason %q)", r.From, opts.Force, opts.Reason)}); err != nil {
		return err
	}
	res, err := env.Admin.Kafka().DeleteTopics(ctx, []string{r.From})
	if err != nil {
		return fmt.Errorf("delete %s: %w", r.From, err)
	}
	if code := res[0].Error.Code(); code != kafka.ErrNoError && code != kafka.ErrUnknownTopicOrPart {
		return fmt.Errorf("delete %s: %w", r.From, res[0].Error)
	}
	if err := env.Admin.WaitForTopics(ctx, []string{r.From}, false); err != nil {
		return err
	}
	return finishRetire(ctx, env, r.From, opts)
}

func finishRetire(ctx context.Context, env *Env, from string, opts RetireOptions) error {
	rec, _, err := env.Store.Rename(ctx, from)
	if err != nil {
		return err
	}
	if rec.Step != nil && rec.Step.Name == "retire" {
		if _, err := env.Store.EndStep(ctx, from, "retire", nil, state.AuditEntry{Command: env.Command, Action: "retire: end", Result: "ok"}); err != nil {
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

// memberReads reports whether an active member of g is assigned topic.
func memberReads(g admin.Group, topic string) bool {
	for _, m := range g.Members {
		if slices.Contains(m.Topics, topic) {
			return true
		}
	}
	return false
}

// lastWrite is the timestamp of the newest record of topic.
func lastWrite(ctx context.Context, cl *admin.Client, topic string) (time.Time, error) {
	snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: []string{topic}})
	if err != nil {
		return time.Time{}, err
	}
	t := snap.Topics[topic]
	if t == nil {
		return time.Time{}, fmt.Errorf("topic %s does not exist", topic)
	}
	specs := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for p := 0; p < t.Partitions; p++ {
		specs[kafka.TopicPartition{Topic: &topic, Partition: int32(p)}] = kafka.MaxTimestampOffsetSpec
	}
	res, err := cl.Kafka().ListOffsets(ctx, specs)
	if err != nil {
		return time.Time{}, fmt.Errorf("newest record of %s: %w", topic, err)
	}
	var last time.Time
	for _, info := range res.ResultInfos {
		if at := time.UnixMilli(info.Timestamp); info.Timestamp > 0 && at.After(last) {
			last = at
		}
	}
	return last, nil
}
