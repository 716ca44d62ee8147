package admin

import (
	"context"
	"fmt"

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
	return nil
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
