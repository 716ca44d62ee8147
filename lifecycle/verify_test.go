package lifecycle_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
)

// handCopy writes copies of src's partition 0 to dst as the bridge would,
// after mutate has had its way with the list.
func handCopy(t *testing.T, c *kafkatest.Cluster, src, dst string, mutate func([]*kafka.Message) []*kafka.Message) {
	t.Helper()
	var out []*kafka.Message
	for _, m := range c.ReadPartition(t, src, 0) {
		origin := bridge.Origin{Topic: src, Partition: 0, Offset: int64(m.TopicPartition.Offset)}
		cp := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &dst, Partition: 0},
			Key:            m.Key, Value: append([]byte(nil), m.Value...), Timestamp: m.Timestamp,
			Headers: append(append([]kafka.Header(nil), m.Headers...), kafka.Header{Key: bridge.HeaderOrigin, Value: []byte(origin.String())}),
		}
		out = append(out, cp)
	}
	out = mutate(out)
	if len(out) > 0 {
		c.Produce(t, out...)
	}
}

func TestVerify(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src = "verify.old_name.v1"
		c.CreateTopic(t, src, 1, nil)
		var msgs []*kafka.Message
		topic := src
		for i := 0; i < 20; i++ {
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
				Key: []byte(fmt.Sprint(i % 3)), Value: []byte(fmt.Sprintf("value %d", i)), Timestamp: time.Now().Truncate(time.Millisecond),
				Headers: []kafka.Header{{Key: "X-Correlation-Id", Value: []byte("c")}}})
		}
		c.Produce(t, msgs...)
		cases := []struct {
			name   string
			mutate func([]*kafka.Message) []*kafka.Message
			want   string
		}{
			{"identical", func(m []*kafka.Message) []*kafka.Message { return m }, ""},
			{"missing", func(m []*kafka.Message) []*kafka.Message { return append(m[:7:7], m[8:]...) }, "source verify.old_name.v1/0/7 is missing from the target"},
			{"extra", func(m []*kafka.Message) []*kafka.Message {
				return append(m[:5:5], append([]*kafka.Message{m[4]}, m[5:]...)...)
			}, "is of offset 4, expected 5: a record copied twice or out of order"},
			{"changed byte", func(m []*kafka.Message) []*kafka.Message { m[12].Value[0] ^= 1; return m }, "source verify.old_name.v1/0/12 and its copy verify.target.changed-byte.v1/0@12 differ: value differs"},
			{"reordered pair", func(m []*kafka.Message) []*kafka.Message { m[3], m[4] = m[4], m[3]; return m }, "source verify.old_name.v1/0/3 is missing from the target: the copy at verify.target.reordered-pair.v1/0@3 is of offset 4"},
			{"lagging", func(m []*kafka.Message) []*kafka.Message { return m[:15] }, ""},
			{"extra at the end", func(m []*kafka.Message) []*kafka.Message { return append(m, m[19]) }, "the target holds a record the source does not"},
		}
		for _, tc := range cases {
			dst := "verify.target." + strings.ReplaceAll(tc.name, " ", "-") + ".v1"
			c.CreateTopic(t, dst, 1, nil)
			handCopy(t, c, src, dst, tc.mutate)
			rep, err := lifecycle.CompareCopy(context.Background(), c.Config(), src, dst, dst+".dlq.v1", 1, nil)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := rep.Partitions[0]
			if tc.want == "" {
				if !rep.OK() {
					t.Errorf("%s: divergence %q, want none", tc.name, got.Divergence)
				}
				continue
			}
			if rep.OK() || !strings.Contains(got.Divergence, tc.want) {
				t.Errorf("%s: divergence %q, want it to contain %q", tc.name, got.Divergence, tc.want)
			}
		}
		// The lagging copy counts what is not there yet.
		rep, _ := lifecycle.CompareCopy(context.Background(), c.Config(), src, "verify.target.lagging.v1", "none.dlq.v1", 1, nil)
		if p := rep.Partitions[0]; p.Compared != 15 || p.NotYetCopied != 5 {
			t.Errorf("lagging: compared %d, not yet copied %d; want 15 and 5", p.Compared, p.NotYetCopied)
		}
	})
}
