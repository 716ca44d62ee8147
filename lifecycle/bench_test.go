package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

// BenchmarkCutoverTranslation (and verify) translates 100 groups × 12 partitions of a
// copied topic (5,000 records per partition, bridge batches of 100, so the
// copy's offsets differ from the source's), reporting the fetches per
// translation; "scan" is the baseline of reading every copy once.
func BenchmarkCutoverTranslation(b *testing.B) {
	var c *kafkatest.Cluster
	if os.Getenv(kafkatest.EnvBootstrap) != "" {
		c = kafkatest.NewReal(b)
	} else {
		c = kafkatest.NewFake(b)
	}
	const src, dst, parts, perPart, groups = "bench.cut_old.v1", "bench.cut.new.v1", 12, 5000, 100
	c.CreateTopic(b, src, parts, nil)
	c.CreateTopic(b, dst, parts, nil)
	topic := src
	var msgs []*kafka.Message
	for p := 0; p < parts; p++ {
		for i := 0; i < perPart; i++ {
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(p)}, Value: []byte(fmt.Sprint(i))})
		}
	}
	c.Produce(b, msgs...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "bench", InstanceID: "bench", UntilCaughtUp: true, MaxBatchRecords: 100,
		Routes: bridge.StaticRoutes{{Rename: src, From: src, To: dst, DLQ: plan.DLQTopic(dst), Start: "earliest", SourcePartitions: parts, TargetPartitions: parts, TargetMaxBytes: 1 << 20, TargetReplicationFactor: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("translate-100-groups", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tr, err := lifecycle.NewTranslator(c.Config(), dst, src)
			if err != nil {
				b.Fatal(err)
			}
			for p := int32(0); p < parts; p++ {
				var offsets []int64
				for g := 0; g < groups; g++ {
					offsets = append(offsets, int64((g*487+int(p)*31)%perPart))
				}
				got, err := tr.TranslateMany(ctx, p, offsets)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != len(offsets) {
					b.Fatalf("%d translations of %d offsets", len(got), len(offsets))
				}
			}
			b.ReportMetric(float64(tr.Probes())/float64(parts), "searches/partition")
			tr.Close()
		}
	})
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rep, err := lifecycle.CompareCopy(ctx, c.Config(), src, dst, plan.DLQTopic(dst), parts, nil)
			if err != nil || !rep.OK() {
				b.Fatalf("verify: %v %+v", err, rep)
			}
		}
		b.ReportMetric(float64(2*parts*perPart)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("scan-both", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for p := int32(0); p < parts; p++ {
				c.ReadPartition(b, src, p)
				c.ReadPartition(b, dst, p)
			}
		}
		b.ReportMetric(float64(2*parts*perPart)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for p := int32(0); p < parts; p++ {
				if n := len(c.ReadPartition(b, dst, p)); n != perPart {
					b.Fatalf("partition %d holds %d copies", p, n)
				}
			}
		}
	})
}
