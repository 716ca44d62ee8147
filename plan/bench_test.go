package plan_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/plan"
)

// BenchmarkPlan1000Topics plans 50 renames over a cluster of 1,000 topics
// and reports the admin requests each plan makes; "metadata" is the
// baseline of one bare metadata request for all topics, measured on the
// same cluster.
func BenchmarkPlan1000Topics(b *testing.B) {
	clusters := map[string]func(testing.TB) *kafkatest.Cluster{"kfake": func(tb testing.TB) *kafkatest.Cluster { return kafkatest.NewFake(tb) }}
	if os.Getenv(kafkatest.EnvBootstrap) != "" {
		clusters["kafka"] = kafkatest.NewReal
	}
	for _, kind := range []string{"kfake", "kafka"} {
		newCluster, ok := clusters[kind]
		if !ok {
			continue
		}
		b.Run(kind, func(b *testing.B) {
			c := newCluster(b)
			cl := c.Admin(b)
			ctx := context.Background()
			var specs []admin.TopicSpec
			var names []string
			for i := 0; i < 1000; i++ {
				name := fmt.Sprintf("bench.domain%d.event_%d.v1", i%20, i)
				names = append(names, name)
				specs = append(specs, admin.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": fmt.Sprint(86400000 + i)}})
			}
			res, err := cl.CreateTopics(ctx, specs, false)
			if err != nil {
				b.Fatal(err)
			}
			for n, e := range res {
				if e != nil {
					b.Fatalf("%s: %v", n, e)
				}
			}
			if err := cl.WaitForTopics(ctx, names, true); err != nil {
				b.Fatal(err)
			}
			var sb strings.Builder
			sb.WriteString("version: 1\nnaming: {prefix: bench., no_underscores: true}\nrenames:\n")
			for i := 0; i < 1000; i += 20 {
				fmt.Fprintf(&sb, "  - {from: %s, to: %s}\n", names[i], strings.ReplaceAll(names[i], "_", "-"))
			}
			m, err := plan.ParseRenameMap("bench.yaml", []byte(sb.String()))
			if err != nil {
				b.Fatal(err)
			}
			b.Run("plan", func(b *testing.B) {
				start := cl.Requests()
				for i := 0; i < b.N; i++ {
					p, _, err := plan.Make(ctx, cl, m)
					if err != nil {
						b.Fatal(err)
					}
					if len(p.Renames) != 50 {
						b.Fatalf("%d renames", len(p.Renames))
					}
				}
				b.ReportMetric(float64(cl.Requests()-start)/float64(b.N), "admin-requests/op")
			})
			b.Run("metadata", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					md, err := cl.Kafka().GetMetadata(nil, true, 30000)
					if err != nil || len(md.Topics) < 1000 {
						b.Fatalf("metadata: %v (%d topics)", err, len(md.Topics))
					}
				}
				b.ReportMetric(1, "admin-requests/op")
			})
		})
	}
}
