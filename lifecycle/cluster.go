package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/state"
)

// Facts about topics and groups that several steps read from the cluster.

// endOffsets returns a topic's end offsets (read_committed), by partition.
func endOffsets(ctx context.Context, cl *admin.Client, topic string) (state.Offsets, error) {
	snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: []string{topic}})
	if err != nil {
		return nil, err
	}
	t := snap.Topics[topic]
	if t == nil || t.Offsets == nil {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return latestOffsets(t), nil
}

// latestOffsets returns the end offsets of a topic described deep, by
// partition.
func latestOffsets(t *admin.Topic) state.Offsets {
	out := state.Offsets{}
	for p, o := range t.Offsets.Latest {
		out[int32(p)] = o
	}
	return out
}

// groupMembers counts the active members of group.
func groupMembers(ctx context.Context, cl *admin.Client, group string) (int, error) {
	d, err := cl.Kafka().DescribeConsumerGroups(ctx, []string{group})
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	n := 0
	for _, g := range d.ConsumerGroupDescriptions {
		n += len(g.Members)
	}
	return n, nil
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

// topicWithACLs is a topic to create and the literal ACLs to give it.
type topicWithACLs struct {
	Topic admin.TopicSpec
	ACLs  []admin.ACL
}

// toStateSpec is the record of a topic to create with its ACLs.
func toStateSpec(t admin.TopicSpec, acls []admin.ACL) *state.TopicSpec {
	out := &state.TopicSpec{Name: t.Name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Configs: t.Configs}
	for _, a := range acls {
		out.ACLs = append(out.ACLs, state.ACL(a))
	}
	return out
}

// fromStateSpec is the topic and ACLs a record describes.
func fromStateSpec(s state.TopicSpec) topicWithACLs {
	out := topicWithACLs{Topic: admin.TopicSpec{Name: s.Name, Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Configs: s.Configs}}
	for _, a := range s.ACLs {
		out.ACLs = append(out.ACLs, admin.ACL(a))
	}
	return out
}
