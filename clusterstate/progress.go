package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/state"
)

// ErrNotAuthorized is returned (wrapped) when the principal may not change
// the migration's state: Kafka refused it the lease's transactional id.
var ErrNotAuthorized = errors.New("not authorized to change the migration's state")

// markKeyPrefix starts the key of a phase mirroring mark in the progress
// topic.
const markKeyPrefix = "mirroring/"

// Mark is a bridge's mark in the progress topic that it copies a rename
// (phase mirroring), written by a bridge whose principal may not change
// the state itself. It changes no phase: the next command that takes the
// rename's lease records phase mirroring from it.
type Mark struct {
	Rename string      `json:"rename"`
	Phase  state.Phase `json:"phase"`
	// At is when the bridge first marked it.
	At time.Time `json:"at"`
	// Actor and Command are the bridge's user@host and command.
	Actor   string `json:"actor"`
	Command string `json:"command"`
}

// applyProgress records one progress topic record.
func (c *Cluster) applyProgress(m *kafka.Message) error {
	key := string(m.Key)
	rename, ok := strings.CutPrefix(key, markKeyPrefix)
	if !ok {
		c.log.Debug("progress topic: record of unknown key ignored", "key", key, "offset", m.TopicPartition.Offset)
		return nil
	}
	if len(m.Value) == 0 {
		delete(c.marks, rename)
		return nil
	}
	var mk Mark
	if err := json.Unmarshal(m.Value, &mk); err != nil {
		return fmt.Errorf("record %q: %w", key, err)
	}
	if mk.Rename != rename {
		return fmt.Errorf("record %q marks rename %q", key, mk.Rename)
	}
	c.marks[rename] = mk
	return nil
}

// Marks reads the progress topic to its end and returns the marks, by
// rename.
func (c *Cluster) Marks(ctx context.Context) (map[string]Mark, error) {
	var out map[string]Mark
	err := c.progress.read(ctx, 0, func() { out = maps.Clone(c.marks) })
	return out, err
}

// MarkMirroring marks in the progress topic that this process (a bridge)
// copies rename, unless it is marked already (the first mark is kept).
// It needs Write on the progress topic only, and takes no lease.
func (c *Cluster) MarkMirroring(ctx context.Context, rename string) error {
	marks, err := c.Marks(ctx)
	if err != nil {
		return err
	}
	if _, ok := marks[rename]; ok {
		return nil
	}
	mk := Mark{Rename: rename, Phase: state.PhaseMirroring, At: c.now(), Actor: c.opts.Holder.Actor(), Command: c.opts.Holder.Command}
	value, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	cfg := c.opts.Config
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"client.id":              "topic-migrator-progress",
		"enable.idempotence":     true,
		"acks":                   "all",
		"go.logs.channel.enable": true,
		"go.logs.channel":        c.sink.ch,
	})
	if err != nil {
		return err
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		return cfg.ScrubError(fmt.Errorf("progress producer: %w", err))
	}
	defer p.Close()
	topic := c.opts.ProgressTopic
	report := make(chan kafka.Event, 1)
	err = p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
		Key: []byte(markKeyPrefix + rename), Value: value}, report)
	if err != nil {
		return cfg.ScrubError(fmt.Errorf("mark %q mirroring in topic %q: %w", rename, topic, err))
	}
	select {
	case ev := <-report:
		if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error != nil {
			return cfg.ScrubError(fmt.Errorf("mark %q mirroring in topic %q: %w", rename, topic, m.TopicPartition.Error))
		}
	case <-ctx.Done():
		return fmt.Errorf("mark %q mirroring in topic %q: %w", rename, topic, ctx.Err())
	}
	return nil
}
