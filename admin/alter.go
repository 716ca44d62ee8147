package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// SetTopicConfig sets one of topic's own configs to value, or removes the
// topic's own value (back to the broker default) when value is nil. Other
// configs of the topic are left as they are.
func (c *Client) SetTopicConfig(ctx context.Context, topic, key string, value *string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	entry := kafka.ConfigEntry{Name: key, IncrementalOperation: kafka.AlterConfigOpTypeDelete}
	what := "remove " + key
	if value != nil {
		entry = kafka.ConfigEntry{Name: key, Value: *value, IncrementalOperation: kafka.AlterConfigOpTypeSet}
		what = fmt.Sprintf("set %s=%s", key, *value)
	}
	c.count()
	res, err := c.admin.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: []kafka.ConfigEntry{entry}}})
	if err != nil {
		return c.unreachable(ctx, fmt.Errorf("%s on topic %q: %w", what, topic, err))
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("%s on topic %q: %w", what, topic, r.Error)
		}
	}
	return c.awaitTopicConfig(ctx, topic, key, value, what)
}

// awaitTopicConfig waits until a broker describes topic's key as set:
// KRaft applies an altered config through the metadata log, so a broker
// can answer with the old value for a moment after the alter returned. A
// caller that fences a topic must not go on before the fence is seen.
func (c *Client) awaitTopicConfig(ctx context.Context, topic, key string, value *string, what string) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		c.count()
		res, err := c.admin.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: []kafka.ConfigEntry{{Name: key}}}})
		if err == nil && len(res) == 1 && res[0].Error.Code() == kafka.ErrNoError {
			e, ok := res[0].Config[key]
			own := ok && e.Source == kafka.ConfigSourceDynamicTopic
			if value == nil && !own || value != nil && own && e.Value == *value {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return c.unreachable(ctx, fmt.Errorf("%s on topic %q: the broker still describes the old value: %w", what, topic, ctx.Err()))
		case <-time.After(wait):
		}
	}
}

// DeleteTopic deletes topic and waits until the cluster metadata no longer
// has it. A topic that does not exist counts as deleted.
func (c *Client) DeleteTopic(ctx context.Context, topic string) error {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.OperationTimeout())
	defer cancel()
	c.count()
	res, err := c.admin.DeleteTopics(dctx, []string{topic}, kafka.SetAdminOperationTimeout(c.cfg.OperationTimeout()))
	if err != nil {
		return c.unreachable(dctx, fmt.Errorf("delete topic %q: %w", topic, err))
	}
	if code := res[0].Error.Code(); code != kafka.ErrNoError && code != kafka.ErrUnknownTopicOrPart {
		return fmt.Errorf("delete topic %q: %w", topic, res[0].Error)
	}
	return c.WaitForTopics(ctx, []string{topic}, false)
}
