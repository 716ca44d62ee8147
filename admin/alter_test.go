package admin_test

import (
	"context"
	"testing"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestSetTopicConfig sets a topic's own config and removes it again, back
// to the broker default: what a swap's fence and its rollback do.
func TestSetTopicConfig(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const topic = "alter.fence.v1"
		c.CreateTopic(t, topic, 1, nil)
		cl := c.Admin(t)
		zero := "0"
		if err := cl.SetTopicConfig(ctx, topic, "max.message.bytes", &zero); err != nil {
			t.Fatal(err)
		}
		topics, err := cl.DescribeTopics(ctx, []string{topic})
		if err != nil {
			t.Fatal(err)
		}
		if v, own := topics[topic].Configs["max.message.bytes"]; !own || v != "0" {
			t.Fatalf("after set: max.message.bytes = %q (own %v), want own 0", v, own)
		}
		if err := cl.SetTopicConfig(ctx, topic, "max.message.bytes", nil); err != nil {
			t.Fatal(err)
		}
		topics, err = cl.DescribeTopics(ctx, []string{topic})
		if err != nil {
			t.Fatal(err)
		}
		if v, own := topics[topic].Configs["max.message.bytes"]; own {
			t.Errorf("after remove: the topic still has its own max.message.bytes %q", v)
		}
		if topics[topic].Effective["max.message.bytes"] == "0" {
			t.Error("after remove: max.message.bytes is still 0")
		}
		if err := cl.DeleteTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if err := cl.DeleteTopic(ctx, topic); err != nil {
			t.Errorf("deleting a topic that is gone: %v, want nil", err)
		}
	})
}
