package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// A verified prefix (state.VerifiedPrefix) lets a comparison of a copy
// with its source read only the records written since an earlier one
// proved the rest. It stands for those records only while nothing can
// have changed them: Kafka's records at an offset of a topic never change
// but when the topic is deleted and created again (it gets a new topic
// ID), when retention or DeleteRecords remove a partition's first records
// (its log start offset moves) and when the log cleaner compacts it
// (cleanup.policy includes compact). checkPrefix checks all three, for
// both topics, each time a prefix is used: by the swap's verify of
// staging at the stop and again by the safety proof before the old
// topic's delete. When any fails the copy is compared in full.

// prefixFacts are what proves a prefix unchanged, read now.
type prefixFacts struct {
	ids        map[string]string
	partitions map[string]int
	compacted  map[string]bool
}

// readPrefixFacts reads the topic IDs, partition counts and cleanup
// policies of source and target.
func (e *Env) readPrefixFacts(ctx context.Context, source, target string) (*prefixFacts, error) {
	topics, err := e.Admin.DescribeTopics(ctx, []string{source, target})
	if err != nil {
		return nil, err
	}
	ids, err := e.Admin.TopicIDs(ctx, []string{source, target})
	if err != nil {
		return nil, err
	}
	f := &prefixFacts{ids: ids, partitions: map[string]int{}, compacted: map[string]bool{}}
	for name, t := range topics {
		f.partitions[name] = t.Partitions
		f.compacted[name] = compacted(t.Effective, t.Configs)
	}
	return f, nil
}

// compacted says whether a topic's cleanup.policy includes compact.
func compacted(effective, own map[string]string) bool {
	policy, ok := effective["cleanup.policy"]
	if !ok {
		policy = own["cleanup.policy"]
	}
	return strings.Contains(policy, "compact")
}

// usable returns why the facts do not allow recording or using a prefix
// of source → target, "" when they do.
func (f *prefixFacts) usable(source, target string) string {
	for _, name := range []string{source, target} {
		switch {
		case f.partitions[name] == 0:
			return name + " does not exist"
		case f.ids[name] == "":
			return "Kafka gave no topic ID for " + name
		case f.compacted[name]:
			return name + " is compacted (cleanup.policy includes compact): the log cleaner may remove records below the verified end"
		}
	}
	return ""
}

// checkPrefix returns "" when pre may stand for its records of source and
// target now, else why it may not: pre is of other topics, either topic
// was created again (a new topic ID), is compacted, has a partition
// count other than pre's, or a partition's log start offset is not the
// one pre recorded (records were deleted from its head). Any of these
// means a full comparison.
func (e *Env) checkPrefix(ctx context.Context, pre *state.VerifiedPrefix, source, target string) (string, error) {
	if pre == nil {
		return "no verified prefix", nil
	}
	if pre.Source != source || pre.Target != target {
		return fmt.Sprintf("the verified prefix is of %s → %s", pre.Source, pre.Target), nil
	}
	f, err := e.readPrefixFacts(ctx, source, target)
	if err != nil {
		return "", err
	}
	if why := f.usable(source, target); why != "" {
		return why, nil
	}
	for name, id := range map[string]string{source: pre.SourceID, target: pre.TargetID} {
		if f.ids[name] != id {
			return fmt.Sprintf("%s was deleted and created again since its prefix was verified (topic ID %s, was %s)", name, f.ids[name], id), nil
		}
	}
	if f.partitions[source] != len(pre.Partitions) || f.partitions[target] != len(pre.Partitions) {
		return fmt.Sprintf("%s and %s have %d and %d partitions, the verified prefix %d", source, target, f.partitions[source], f.partitions[target], len(pre.Partitions)), nil
	}
	n := int32(len(pre.Partitions))
	srcStarts, err := logStarts(e.Admin.Config(), source, n)
	if err != nil {
		return "", err
	}
	dstStarts, err := logStarts(e.Admin.Config(), target, n)
	if err != nil {
		return "", err
	}
	for i, p := range pre.Partitions {
		if p.Partition != int32(i) {
			return fmt.Sprintf("the verified prefix lists partition %d in place of %d", p.Partition, i), nil
		}
		if srcStarts[i] != p.SourceLogStart {
			return fmt.Sprintf("the log start offset of %s/%d is %d, not %d as when its prefix was verified: records were deleted from its head", source, i, srcStarts[i], p.SourceLogStart), nil
		}
		if dstStarts[i] != p.TargetLogStart {
			return fmt.Sprintf("the log start offset of %s/%d is %d, not %d as when its prefix was verified: records were deleted from its head", target, i, dstStarts[i], p.TargetLogStart), nil
		}
	}
	return "", nil
}

// logStarts returns the log start offset of each partition of topic.
func logStarts(cfg clientconfig.Config, topic string, partitions int32) ([]int64, error) {
	c, err := newVerifyConsumer(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]int64, partitions)
	for p := range partitions {
		low, _, err := c.QueryWatermarkOffsets(topic, p, int(cfg.OperationTimeout().Milliseconds()))
		if err != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p, err)
		}
		out[p] = low
	}
	return out, nil
}

// compareWithPrefix compares target with source (as compareCopy), only
// the tail after pre when checkPrefix accepts pre now. It returns why
// the comparison was a full one, "" when it was the tail only.
func (e *Env) compareWithPrefix(ctx context.Context, pre *state.VerifiedPrefix, source, target string, partitions int32, opts compareOptions) (*VerifyReport, string, error) {
	why, err := e.checkPrefix(ctx, pre, source, target)
	if err != nil {
		return nil, "", err
	}
	if why == "" {
		opts.resume = pre
	}
	rep, err := compareCopy(ctx, e.Admin.Config(), source, target, plan.DLQTopic(target), partitions, opts, nil)
	return rep, why, err
}

// verifiedPrefix returns the prefix rep proved, for the topic IDs read
// before the comparison began (before) and after it ended (after): nil
// when a partition's comparison was not clean (see
// PartitionReport.clean), or when the facts do not allow a prefix
// (either topic compacted, created again while compared, or without an
// ID).
func (r *VerifyReport) verifiedPrefix(at time.Time, before, after *prefixFacts) *state.VerifiedPrefix {
	if before == nil || after == nil || before.usable(r.Source, r.Target) != "" || after.usable(r.Source, r.Target) != "" {
		return nil
	}
	if before.ids[r.Source] != after.ids[r.Source] || before.ids[r.Target] != after.ids[r.Target] {
		return nil
	}
	if after.partitions[r.Source] != len(r.Partitions) || after.partitions[r.Target] != len(r.Partitions) {
		return nil
	}
	pre := &state.VerifiedPrefix{At: at, Source: r.Source, Target: r.Target, SourceID: after.ids[r.Source], TargetID: after.ids[r.Target]}
	for i, p := range r.Partitions {
		if !p.clean() || p.Partition != int32(i) {
			return nil
		}
		pre.Partitions = append(pre.Partitions, p.prefix)
	}
	slices.SortFunc(pre.Partitions, func(a, b state.PrefixPartition) int { return int(a.Partition - b.Partition) })
	return pre
}
