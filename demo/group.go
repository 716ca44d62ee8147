package demo

import (
	"context"
	"fmt"
	"sort"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
)

// newGroupConsumer is a consumer of group that commits only when told.
func newGroupConsumer(cfg clientconfig.Config, group string) (*kafka.Consumer, error) {
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"group.id": group, "client.id": group, "enable.auto.commit": false, "auto.offset.reset": "earliest",
		"isolation.level": "read_committed", "log_level": 3,
	})
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("consumer of group %s: %w", group, err))
	}
	return c, nil
}

// ConsumePart plays a service that stopped halfway: as consumer group
// group it subscribes to topic, processes the first half of what each
// partition holds now, commits the position it reached and leaves the
// group. It returns the committed offsets (partitions with nothing to
// process are left uncommitted) and how many records it processed.
func ConsumePart(ctx context.Context, cfg clientconfig.Config, group, topic string) (map[int32]int64, int, error) {
	c, err := newGroupConsumer(cfg, group)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	timeoutMs := int(cfg.OperationTimeout().Milliseconds())
	md, err := c.GetMetadata(&topic, false, timeoutMs)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	target := map[int32]int64{}
	for _, p := range md.Topics[topic].Partitions {
		low, high, err := c.QueryWatermarkOffsets(topic, p.ID, timeoutMs)
		if err != nil {
			return nil, 0, fmt.Errorf("offsets of %s/%d: %w", topic, p.ID, err)
		}
		if half := low + (high-low)/2; half > low {
			target[p.ID] = half
		}
	}
	if len(target) == 0 {
		return nil, 0, fmt.Errorf("%s holds too little to read half of it", topic)
	}
	if err := c.Subscribe(topic, nil); err != nil {
		return nil, 0, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	processed := 0
	reached := map[int32]bool{}
	for len(reached) < len(target) {
		if err := ctx.Err(); err != nil {
			return nil, processed, fmt.Errorf("group %s reading %s: %w", group, topic, err)
		}
		m, ok := c.Poll(100).(*kafka.Message)
		if !ok || m.TopicPartition.Error != nil {
			continue
		}
		p, o := m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
		if o >= target[p] {
			continue // Past this partition's half: not processed, not committed.
		}
		processed++
		if o+1 >= target[p] {
			reached[p] = true
		}
	}
	var commit []kafka.TopicPartition
	for p, o := range target {
		commit = append(commit, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	sort.Slice(commit, func(i, j int) bool { return commit[i].Partition < commit[j].Partition })
	res, err := c.CommitOffsets(commit)
	if err != nil {
		return nil, processed, fmt.Errorf("group %s: commit on %s: %w", group, topic, err)
	}
	for _, tp := range res {
		if tp.Error != nil {
			return nil, processed, fmt.Errorf("group %s: commit on %s/%d: %w", group, topic, tp.Partition, tp.Error)
		}
	}
	return target, processed, nil
}

// Resumed is the first record a group read from a partition.
type Resumed struct {
	Partition int32
	Offset    int64
	// Origin is the record's X-Migrator-Origin; ok is false when it has
	// none (a record written to the topic directly).
	Origin bridge.Origin
	OK     bool
}

// FirstRecords subscribes to topic as group, as the service would after
// its deploy with the new topic name, and returns the first record it
// reads from each of partitions, without committing anything.
func FirstRecords(ctx context.Context, cfg clientconfig.Config, group, topic string, partitions []int32) (map[int32]Resumed, error) {
	c, err := newGroupConsumer(cfg, group)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Subscribe(topic, nil); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	want := map[int32]bool{}
	for _, p := range partitions {
		want[p] = true
	}
	out := map[int32]Resumed{}
	for len(out) < len(want) {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("group %s reading %s: %w", group, topic, err)
		}
		m, ok := c.Poll(100).(*kafka.Message)
		if !ok || m.TopicPartition.Error != nil {
			continue
		}
		p := m.TopicPartition.Partition
		if _, seen := out[p]; seen || !want[p] {
			continue
		}
		origin, ok := bridge.OriginOf(m.Headers)
		out[p] = Resumed{Partition: p, Offset: int64(m.TopicPartition.Offset), Origin: origin, OK: ok}
	}
	return out, nil
}
