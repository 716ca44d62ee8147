package lifecycle_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
)

// TestCopyForStopWithinMaxMessageBytes: the swap stop's copy keeps its
// batches within the target's max.message.bytes (here 100,000 bytes, a
// tenth of the copy's usual batch); Kafka would refuse larger batches,
// and the swap would stop with the old topic already deleted. Every
// record arrives once, in order, byte for byte, with its origin.
func TestCopyForStopWithinMaxMessageBytes(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst, partitions, perPartition = "stopcopy.src_v1", "stopcopy.dst.v1", 3, 1500
		c.CreateTopic(t, src, partitions, map[string]string{"retention.ms": "-1"})
		c.CreateTopic(t, dst, partitions, map[string]string{"retention.ms": "-1", "max.message.bytes": "100000"})
		topic := src
		var msgs []*kafka.Message
		for p := int32(0); p < partitions; p++ {
			for i := range perPartition {
				msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p},
					Key:     fmt.Appendf(nil, "k%d", i%13),
					Value:   append(fmt.Appendf(nil, "%d/%d:", p, i), bytes.Repeat([]byte{byte(i)}, 1000)...),
					Headers: []kafka.Header{{Key: "trace", Value: []byte{byte(p), byte(i)}}}})
			}
		}
		c.Produce(t, msgs...)
		n, err := lifecycle.CopyForStop(context.Background(), c.Admin(t).Config(), src, dst, 100000, partitions)
		if err != nil {
			t.Fatalf("copy: %v", err)
		}
		if n != partitions*perPartition {
			t.Errorf("copied %d records, want %d", n, partitions*perPartition)
		}
		for p := int32(0); p < partitions; p++ {
			want, got := c.ReadPartition(t, src, p), c.ReadPartition(t, dst, p)
			if len(got) != len(want) {
				t.Fatalf("%s/%d holds %d records, want %d", dst, p, len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				o, ok := bridge.OriginOf(g.Headers)
				if !ok || o != (bridge.Origin{Topic: src, Partition: p, Offset: int64(w.TopicPartition.Offset)}) {
					t.Fatalf("%s/%d record %d has origin %v (%v), want %s/%d/%d", dst, p, i, o, ok, src, p, w.TopicPartition.Offset)
				}
				if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) ||
					!slices.EqualFunc(g.Headers[:len(g.Headers)-1], w.Headers, func(a, b kafka.Header) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
					t.Fatalf("%s/%d record %d differs from %s/%d offset %d", dst, p, i, src, p, w.TopicPartition.Offset)
				}
			}
		}
	})
}
