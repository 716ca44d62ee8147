package kafkatest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestRoundTrip proves the harness talks to each cluster: a record with a
// key, repeated and binary headers and an old timestamp reads back intact.
func TestRoundTrip(t *testing.T) {
	Run(t, func(t *testing.T, c *Cluster) {
		topic := "roundtrip.records.v1"
		// retention.ms -1: the retention checker must not delete 2021.
		c.CreateTopic(t, topic, 3, map[string]string{"retention.ms": "-1"})
		ts := time.Date(2021, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
		want := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 2},
			Key:            []byte("batch-42"),
			Value:          []byte(`{"event_id":"e1","data":{"batch_id":"42"}}`),
			Headers: []kafka.Header{
				{Key: "X-Correlation-Id", Value: []byte("c-1")},
				{Key: "dup", Value: []byte("first")},
				{Key: "dup", Value: []byte("second")},
				{Key: "bin", Value: []byte{0x00, 0xff, 0xfe, 0x80}},
			},
			Timestamp: ts,
		}
		c.Produce(t, want)
		got := c.ReadPartition(t, topic, 2)
		if len(got) != 1 {
			t.Fatalf("read %d records, want 1", len(got))
		}
		g := got[0]
		if !bytes.Equal(g.Key, want.Key) || !bytes.Equal(g.Value, want.Value) {
			t.Errorf("key/value = %q/%q, want %q/%q", g.Key, g.Value, want.Key, want.Value)
		}
		if !g.Timestamp.Equal(ts) || g.TimestampType != kafka.TimestampCreateTime {
			t.Errorf("timestamp = %v (%v), want %v CreateTime", g.Timestamp, g.TimestampType, ts)
		}
		if len(g.Headers) != len(want.Headers) {
			t.Fatalf("headers = %v, want %v", g.Headers, want.Headers)
		}
		for i, h := range want.Headers {
			if g.Headers[i].Key != h.Key || !bytes.Equal(g.Headers[i].Value, h.Value) {
				t.Errorf("header %d = %s=%x, want %s=%x", i, g.Headers[i].Key, g.Headers[i].Value, h.Key, h.Value)
			}
		}
	})
}

// TestTopicNameCollision shows that Kafka refuses a topic whose name equals
// an existing one once '.' and '_' are unified.
func TestTopicNameCollision(t *testing.T) {
	Run(t, func(t *testing.T, c *Cluster) {
		c.CreateTopic(t, "a.b.c", 1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := c.Admin(t).Kafka().CreateTopics(ctx, []kafka.TopicSpecification{{Topic: "a.b_c", NumPartitions: 1, ReplicationFactor: 1}})
		if err != nil {
			t.Fatalf("create a.b_c: request failed: %v", err)
		}
		got := res[0].Error
		if got.Code() != kafka.ErrTopicException {
			t.Fatalf("create a.b_c: error %v (code %d), want INVALID_TOPIC_EXCEPTION", got, got.Code())
		}
		if c.Kind == Real && !strings.Contains(got.String(), "collides with existing topic") {
			t.Errorf("real Kafka error %q does not name the collision", got.String())
		}
	})
}

// TestResetDeletesACLs: an ACL one test leaves on the real broker is gone
// for the next, which may create a topic of the same name.
func TestResetDeletesACLs(t *testing.T) {
	ctx := context.Background()
	c := NewReal(t)
	c.CreateTopic(t, "reset.acl.v1", 1, nil)
	cl := c.Admin(t)
	binding := kafka.ACLBinding{Type: kafka.ResourceTopic, Name: "reset.acl.v1", ResourcePatternType: kafka.ResourcePatternTypeLiteral,
		Principal: "User:left-behind", Host: "*", Operation: kafka.ACLOperationRead, PermissionType: kafka.ACLPermissionTypeAllow}
	if res, err := cl.Kafka().CreateACLs(ctx, kafka.ACLBindings{binding}); err != nil || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	NewReal(t)
	got, err := cl.Kafka().DescribeACLs(ctx, kafka.ACLBindingFilter{Type: kafka.ResourceAny, ResourcePatternType: kafka.ResourcePatternTypeAny,
		Operation: kafka.ACLOperationAny, PermissionType: kafka.ACLPermissionTypeAny})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ACLBindings) != 0 {
		t.Errorf("after a reset the broker still holds %v", got.ACLBindings)
	}
}
