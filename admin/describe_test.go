package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
)

func TestDescribe(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		c.CreateTopic(t, "desc.compacted.v1", 3, map[string]string{"cleanup.policy": "compact", "retention.ms": "86400000"})
		c.CreateTopic(t, "desc.plain.v1", 2, nil)
		topic := "desc.compacted.v1"
		old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
		c.Produce(t,
			&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 1}, Key: []byte("k"), Value: []byte("v1"), Timestamp: old},
			&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 1}, Key: []byte("k"), Value: []byte("v2")},
		)
		cl := c.Admin(t)
		if c.Kind == kafkatest.Real {
			acl := admin.ACL{Principal: "User:alice", Host: "*", Operation: "READ", Permission: "ALLOW"}
			if err := cl.CreateACLs(ctx, topic, []admin.ACL{acl}); err != nil {
				t.Fatalf("create ACL: %v", err)
			}
		}
		group := "desc-group"
		c.CommitOffsets(t, group, topic, map[int32]int64{1: 1})
		// Kafka's group coordinator lists a group only once the offset commit
		// that created it is applied to its in-memory state, a moment after
		// the commit is acknowledged; wait for it so the count below is exact.
		waitListed(t, cl, group)
		before := cl.Requests()
		snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: []string{topic}, Groups: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.Requests() - before; got != 9 {
			t.Errorf("describe made %d admin requests, want 9: metadata, configs, ACLs, 3 offset lists, group list, group describe, 1 group's offsets", got)
		}
		if len(snap.Groups) != 1 || snap.Groups[0].ID != group || snap.Groups[0].Offsets[topic][1] != 1 || len(snap.Groups[0].Members) != 0 {
			t.Errorf("groups = %+v", snap.Groups)
		}
		tc := snap.Topics[topic]
		if tc == nil || tc.Partitions != 3 || tc.ReplicationFactor != 1 {
			t.Fatalf("topic = %+v", tc)
		}
		if tc.Configs["cleanup.policy"] != "compact" || tc.Configs["retention.ms"] != "86400000" || len(tc.Configs) != 2 {
			t.Errorf("non-default configs = %v, want exactly cleanup.policy and retention.ms", tc.Configs)
		}
		if tc.Effective["max.message.bytes"] == "" {
			t.Errorf("effective configs lack max.message.bytes: %v", tc.Effective)
		}
		if p := snap.Topics["desc.plain.v1"]; p == nil || len(p.Configs) != 0 || p.Offsets != nil {
			t.Errorf("plain topic = %+v, want no own configs and no offsets", p)
		}
		o := tc.Offsets
		if o == nil || o.Latest[1] != 2 || o.Earliest[1] != 0 || o.Records() != 2 {
			t.Fatalf("offsets = %+v", o)
		}
		if !o.Oldest.Equal(old) {
			t.Errorf("oldest = %v, want %v", o.Oldest, old)
		}
		if c.Kind == kafkatest.Real {
			if !snap.ACLsEnabled || len(tc.ACLs) != 1 || tc.ACLs[0].Principal != "User:alice" || tc.ACLs[0].Operation != "READ" {
				t.Errorf("ACLs = %+v (enabled %v)", tc.ACLs, snap.ACLsEnabled)
			}
		}
	})
}

// waitListed waits until ListConsumerGroups shows group.
func waitListed(t *testing.T, cl *admin.Client, group string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		listed, err := cl.Kafka().ListConsumerGroups(context.Background())
		if err == nil {
			for _, g := range listed.Valid {
				if g.GroupID == group {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %q not listed after 15s (last error %v)", group, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
