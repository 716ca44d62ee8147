package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/kafkatest"
)

// TestReaderStopsAtItsEndPastAMarker reads a partition whose last offset
// below the reader's end is a transaction's commit marker, which
// read_committed never returns, while a record is written after that end:
// the reader returns the transaction's records and nothing after its end.
// Verify took its ends this way and, before the reader checked them,
// compared a record written after them (the demo failed on "the target
// holds a record the source does not").
func TestReaderStopsAtItsEndPastAMarker(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		topic := "reader-end"
		c.CreateTopic(t, topic, 1, nil)
		msg := func(v string) *kafka.Message {
			return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(v)}
		}
		p := c.OpenTransaction(t, "reader-end-tx", msg("a"), msg("b"))
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		// Kafka answers the commit before it writes the marker: the end
		// read_committed sees reaches it only once the marker is written.
		var lows, highs []int64
		for {
			var err error
			if lows, highs, err = watermarks(c.Config(), topic, 1); err != nil {
				t.Fatal(err)
			}
			if highs[0] >= 3 || ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Two records and the commit marker.
		if lows[0] != 0 || highs[0] != 3 {
			t.Fatalf("offsets of %s/0 are %d..%d, want 0..3 (two records and a marker)", topic, lows[0], highs[0])
		}
		c.Produce(t, msg("after the end"))
		r, err := openReaderWithin(c.Config(), topic, 0, -1, -1, lows[0], highs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		var got []string
		for {
			m, err := r.read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				break
			}
			got = append(got, string(m.Value))
		}
		if len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Fatalf("the reader of %s/0 up to offset 3 returned %q, want [a b]", topic, got)
		}
	})
}
