package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// Translator finds, in a copy, the offset that corresponds to a source
// offset: that of the first record whose X-Migrator-Origin offset is at
// least the source offset. It binary-searches each partition with
// single-record fetches and remembers what it has read, so translating
// many groups costs little more than one.
type Translator struct {
	cfg    clientconfig.Config
	target string
	// origin is the topic the copies come from; records without an origin
	// naming it are an error, unless lenient, when they count as earlier.
	origin  string
	lenient bool
	c       *kafka.Consumer
	// probes caches, per partition, fetch offset → (record offset, origin
	// offset); origin -1 means no record at or after the fetch offset.
	probes map[int32]map[int64][2]int64
	bounds map[int32][2]int64
}

// NewTranslator opens a reader of target, whose records are all copies
// of records of origin. Close it when done.
func NewTranslator(cfg clientconfig.Config, target, origin string) (*Translator, error) {
	return newTranslator(cfg, target, origin, false)
}

func newTranslator(cfg clientconfig.Config, target, origin string, lenient bool) (*Translator, error) {
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"group.id": "topic-migrator-translate", "enable.auto.commit": false, "isolation.level": "read_committed",
		"enable.partition.eof": true, "fetch.wait.max.ms": 10, "fetch.max.bytes": 1 << 20, "log_level": 3,
	})
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("translate consumer: %w", err))
	}
	return &Translator{cfg: cfg, target: target, origin: origin, lenient: lenient, c: c, probes: map[int32]map[int64][2]int64{}, bounds: map[int32][2]int64{}}, nil
}

// Close releases the reader.
func (t *Translator) Close() { t.c.Close() }

// Probes counts the fetches made so far.
func (t *Translator) Probes() int {
	n := 0
	for _, m := range t.probes {
		n += len(m)
	}
	return n
}

// probe returns the first record at or after offset: its offset and its
// origin offset, or origin -1 at the end.
func (t *Translator) probe(ctx context.Context, p int32, offset int64) (int64, int64, error) {
	if m, ok := t.probes[p][offset]; ok {
		return m[0], m[1], nil
	}
	topic := t.target
	if err := t.c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(offset)}}); err != nil {
		return 0, 0, fmt.Errorf("assign %s/%d: %w", topic, p, err)
	}
	result := [2]int64{t.bounds[p][1], -1}
	for ctx.Err() == nil {
		ev := t.c.Poll(100)
		if m, ok := ev.(*kafka.Message); ok {
			if m.TopicPartition.Error != nil {
				return 0, 0, m.TopicPartition.Error
			}
			o, ok := bridge.OriginOf(m.Headers)
			switch {
			case ok && o.Topic == t.origin:
				result = [2]int64{int64(m.TopicPartition.Offset), o.Offset}
			case t.lenient:
				result = [2]int64{int64(m.TopicPartition.Offset), foreign}
			default:
				return 0, 0, fmt.Errorf("%s/%d@%d is not a copy of a record of %s (no %s header naming it)", topic, p, m.TopicPartition.Offset, t.origin, bridge.HeaderOrigin)
			}
			break
		}
		if _, ok := ev.(kafka.PartitionEOF); ok {
			break
		}
	}
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	if t.probes[p] == nil {
		t.probes[p] = map[int64][2]int64{}
	}
	t.probes[p][offset] = result
	return result[0], result[1], nil
}

// Translate returns the offset in partition p of the copy at which a
// consumer that had committed source offset o resumes: the first copy of a
// record at or after o. Dead-lettered and skipped records have no copy and
// are passed over, as they would have been by the consumer.
func (t *Translator) Translate(ctx context.Context, p int32, o int64) (int64, error) {
	b, ok := t.bounds[p]
	if !ok {
		low, high, err := t.c.QueryWatermarkOffsets(t.target, p, int(t.cfg.OperationTimeout().Milliseconds()))
		if err != nil {
			return 0, fmt.Errorf("offsets of %s/%d: %w", t.target, p, err)
		}
		b = [2]int64{low, high}
		t.bounds[p] = b
	}
	lo, hi := b[0], b[1]
	for lo < hi {
		mid := lo + (hi-lo)/2
		at, origin, err := t.probe(ctx, p, mid)
		if err != nil {
			return 0, err
		}
		if origin == foreign || (origin >= 0 && origin < o) {
			lo = at + 1 // Every record up to at is a copy of something before o.
		} else {
			hi = mid // No data record in [mid, at): the answer is at most mid.
		}
	}
	return lo, nil
}

// translateAll translates every offset of needed (partition → source
// offsets), one pass per partition.
func (t *Translator) translateAll(ctx context.Context, needed map[int32][]int64) (map[int32]map[int64]int64, error) {
	out := make(map[int32]map[int64]int64, len(needed))
	for p, offs := range needed {
		m, err := t.TranslateMany(ctx, p, offs)
		if err != nil {
			return nil, fmt.Errorf("translate %s/%d into %s: %w", t.origin, p, t.target, err)
		}
		out[p] = m
	}
	return out, nil
}

// foreign marks a probed record that is not a copy from the origin topic
// (a lenient translator counts it as earlier than any offset sought).
const foreign = -2

// TranslateMany translates many source offsets of partition p at once:
// one binary search for the smallest, then a single sequential read of
// the copy up to the largest, which is far cheaper than a search per
// offset when many groups move together.
func (t *Translator) TranslateMany(ctx context.Context, p int32, offsets []int64) (map[int64]int64, error) {
	want := slices.Clone(offsets)
	slices.Sort(want)
	want = slices.Compact(want)
	out := make(map[int64]int64, len(want))
	if len(want) == 0 {
		return out, nil
	}
	start, err := t.Translate(ctx, p, want[0])
	if err != nil {
		return nil, err
	}
	high := t.bounds[p][1]
	topic := t.target
	if start < high {
		if err := t.c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(start)}}); err != nil {
			return nil, fmt.Errorf("assign %s/%d: %w", topic, p, err)
		}
	}
	i := 0
	for next := start; i < len(want) && next < high; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch e := t.c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, e.TopicPartition.Error
			}
			at := int64(e.TopicPartition.Offset)
			next = at + 1
			o, ok := bridge.OriginOf(e.Headers)
			if !ok || o.Topic != t.origin {
				if !t.lenient {
					return nil, fmt.Errorf("%s/%d@%d is not a copy of a record of %s", topic, p, at, t.origin)
				}
				continue
			}
			for ; i < len(want) && want[i] <= o.Offset; i++ {
				out[want[i]] = at
			}
		case kafka.PartitionEOF:
			next = high
		}
	}
	for ; i < len(want); i++ {
		out[want[i]] = high // Past every copy: resume at the end.
	}
	return out, nil
}

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

// CutoverOptions choose the groups and the mode.
type CutoverOptions struct {
	Rename    string
	Groups    []string
	AllGroups bool
	// BridgeGroup is the bridge's consumer group: its committed offsets say
	// how far the copy is, and it is never moved.
	BridgeGroup string
	DryRun      bool
	// Wait, when positive, waits up to this long for the bridge to copy
	// past the groups' offsets instead of refusing at once.
	Wait time.Duration
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
func CutoverConsumers(ctx context.Context, env *Env, opts CutoverOptions) ([]GroupCutover, error) {
	r, ok := findRename(env.Map, opts.Rename)
	if !ok {
		return nil, fmt.Errorf("--rename %s: no rename from that topic in the map", opts.Rename)
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
	groups, bridgeOffsets, err := chooseGroups(snap, r.From, opts)
	if err != nil {
		return nil, err
	}
	if opts.Wait > 0 {
		if bridgeOffsets, err = waitForBridge(ctx, env.Admin, r.From, opts.BridgeGroup, groups, bridgeOffsets, opts.Wait); err != nil {
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
	var out []GroupCutover
	for _, g := range groups {
		res := GroupCutover{Group: g.ID}
		if len(g.Members) > 0 {
			var names []string
			for _, m := range g.Members {
				names = append(names, fmt.Sprintf("%s (%s)", m.ClientID, m.Host))
			}
			return out, fmt.Errorf("%w: group %s: %s; stop its consumers first", ErrGroupActive, g.ID, strings.Join(names, ", "))
		}
		parts := make([]int32, 0, len(g.Offsets[r.From]))
		for p := range g.Offsets[r.From] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			o := g.Offsets[r.From][p]
			if copied, ok := bridgeOffsets[p]; !ok || copied < o {
				return out, fmt.Errorf("group %s is at %s/%d offset %d but the bridge has copied only up to %d: wait for the bridge (migrator drain) and retry", g.ID, r.From, p, o, copied)
			}
			res.Translations = append(res.Translations, Translation{Partition: p, OldOffset: o, NewOffset: translated[p][o]})
		}
		if opts.DryRun {
			res.Outcome = "would move"
			out = append(out, res)
			continue
		}
		if err := moveGroup(ctx, env, r, r.From, r.To, g, res.Translations); err != nil {
			return out, err
		}
		res.Outcome = "moved"
		out = append(out, res)
	}
	if !opts.DryRun {
		if err := markConsumersCut(ctx, env, r, snap, opts.BridgeGroup, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func findRename(m *plan.RenameMap, from string) (plan.Rename, bool) {
	for _, r := range m.Renames {
		if r.From == from {
			return r, true
		}
	}
	return plan.Rename{}, false
}

// chooseGroups returns the groups to move (those with offsets on the old
// topic) and the bridge group's committed offsets there.
func chooseGroups(snap *admin.Snapshot, from string, opts CutoverOptions) ([]admin.Group, map[int32]int64, error) {
	var bridgeOffsets map[int32]int64
	byID := map[string]admin.Group{}
	for _, g := range snap.Groups {
		if g.ID == opts.BridgeGroup {
			bridgeOffsets = g.Offsets[from]
			continue
		}
		byID[g.ID] = g
	}
	var out []admin.Group
	if opts.AllGroups {
		for _, g := range snap.Groups {
			if g.ID != opts.BridgeGroup && len(g.Offsets[from]) > 0 {
				out = append(out, g)
			}
		}
		return out, bridgeOffsets, nil
	}
	for _, id := range opts.Groups {
		if id == opts.BridgeGroup {
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

// moveGroup replaces the group's offsets: everything it had, with the old
// topic's partitions swapped for their translations. Kafka's Go client has
// no offset-delete call, so the group is deleted (it has no members) and
// committed again; the complete new offsets are in the state file first, so
// a crash in between is finished by re-running the command.
func moveGroup(ctx context.Context, env *Env, r plan.Rename, from, to string, g admin.Group, tr []Translation) error {
	next := map[string]map[int32]int64{}
	for topic, parts := range g.Offsets {
		if topic == from {
			continue
		}
		next[topic] = parts
	}
	next[to] = map[int32]int64{}
	for _, t := range tr {
		next[to][t.Partition] = t.NewOffset
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	step := "move-group:" + g.ID + ":" + to
	if _, err := env.Store.EnsureRename(ctx, r.From, r.To, string(r.Strategy)); err != nil {
		return err
	}
	if _, err := env.Store.BeginStep(ctx, r.From, step, map[string]string{"group": g.ID, "to": to, "offsets": string(data)},
		state.AuditEntry{Command: env.Command, Action: "move group: begin", Detail: g.ID + " → " + string(data)}); err != nil {
		return err
	}
	return commitGroup(ctx, env, r.From, step, g.ID, to, next)
}

// ResumeMove finishes a group move that an earlier run recorded but did
// not complete (it may have died after resetting the group and before
// committing its new offsets); it does nothing when none is pending.
func ResumeMove(ctx context.Context, env *Env, from string) error {
	rec, found, err := env.Store.Rename(ctx, from)
	if err != nil || !found || rec.Step == nil || !strings.HasPrefix(rec.Step.Name, "move-group:") {
		return err
	}
	var next map[string]map[int32]int64
	if err := json.Unmarshal([]byte(rec.Step.Params["offsets"]), &next); err != nil {
		return fmt.Errorf("recorded offsets of the interrupted %s: %w", rec.Step.Name, err)
	}
	env.logger().Warn("finishing an interrupted group move", "step", rec.Step.Name, "started", rec.Step.StartedAt)
	return commitGroup(ctx, env, from, rec.Step.Name, rec.Step.Params["group"], rec.Step.Params["to"], next)
}

// commitGroup resets the group and commits next, then closes the step.
func commitGroup(ctx context.Context, env *Env, from, step, group, to string, next map[string]map[int32]int64) error {
	g := admin.Group{ID: group}
	ka := env.Admin.Kafka()
	if res, err := ka.DeleteConsumerGroups(ctx, []string{g.ID}); err != nil {
		return fmt.Errorf("reset group %s: %w", g.ID, err)
	} else {
		for _, gr := range res.ConsumerGroupResults {
			if gr.Error.Code() != kafka.ErrNoError && gr.Error.Code() != kafka.ErrGroupIDNotFound {
				return fmt.Errorf("reset group %s: %w", g.ID, gr.Error)
			}
		}
	}
	if err := commitOffsets(ctx, env.Admin, g.ID, next); err != nil {
		return fmt.Errorf("%w (re-run the command: the offsets are recorded)", err)
	}
	_, err := env.Store.EndStep(ctx, from, step, nil,
		state.AuditEntry{Command: env.Command, Action: "move group: end", Detail: g.ID + " moved to " + to, Result: "ok"})
	return err
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
		if state.CanTransition(rec.Phase, next) != nil {
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
func waitForBridge(ctx context.Context, cl *admin.Client, from, bridgeGroup string, groups []admin.Group, copied map[int32]int64, wait time.Duration) (map[int32]int64, error) {
	deadline := time.Now().Add(wait)
	for {
		behind := false
		for _, g := range groups {
			for p, o := range g.Offsets[from] {
				if c, ok := copied[p]; !ok || c < o {
					behind = true
				}
			}
		}
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

// commitOffsets commits offsets (topic → partition → offset) for group,
// which must have no active members.
func commitOffsets(ctx context.Context, cl *admin.Client, group string, offsets map[string]map[int32]int64) error {
	var tps []kafka.TopicPartition
	for topic, parts := range offsets {
		for p, o := range parts {
			topic := topic
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
		}
	}
	deadline := time.Now().Add(cl.Config().OperationTimeout())
	for {
		res, err := cl.Kafka().AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
		if err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
		var failed error
		for _, gtp := range res.ConsumerGroupsTopicPartitions {
			for _, tp := range gtp.Partitions {
				if tp.Error != nil && failed == nil {
					failed = fmt.Errorf("commit offset of group %s on %s/%d: %w", group, *tp.Topic, tp.Partition, tp.Error)
				}
			}
		}
		// Kafka answers a commit the coordinator cannot take yet (it is
		// being created, moved or loaded) with a partition error.
		var kerr kafka.Error
		if failed == nil || !errors.As(failed, &kerr) || !coordinatorNotReady(kerr.Code()) || time.Now().After(deadline) {
			return failed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// coordinatorNotReady reports the errors of a group coordinator that will
// take the request shortly.
func coordinatorNotReady(code kafka.ErrorCode) bool {
	switch code {
	case kafka.ErrCoordinatorNotAvailable, kafka.ErrNotCoordinator, kafka.ErrCoordinatorLoadInProgress:
		return true
	}
	return false
}
