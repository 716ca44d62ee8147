package lifecycle_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
)

// TestEstimateSwapStops sizes a swap's copy from a sample of its records
// and, with Measure, times a probe copy and its verify: the forecast is
// the copy (bytes / copy rate) plus two verifies (bytes / verify rate
// each), a forecast over --max-stop is a warning, and the probe leaves
// nothing.
func TestEstimateSwapStops(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		const from, to = "stop.delivery_failed.v1", "stop.delivery.failed.v1"
		c.CreateTopic(t, from, 2, map[string]string{"retention.ms": "-1"})
		topic := from
		var msgs []*kafka.Message
		for i := 0; i < 4000; i++ {
			// Every record is 10 + 990 bytes: the sample's average is exact.
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % 2)},
				Key: []byte(fmt.Sprintf("key-%06d", i)), Value: []byte(strings.Repeat("v", 990))})
		}
		c.Produce(t, msgs...)
		m, err := plan.ParseRenameMap("map.yaml", []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", from, to)))
		if err != nil {
			t.Fatal(err)
		}
		cl := c.Admin(t)
		env := &lifecycle.Env{Admin: cl, Map: m}

		p, _, err := plan.Make(ctx, cl, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := lifecycle.EstimateSwapStops(ctx, env, p, lifecycle.StopOptions{MaxStop: time.Hour}); err != nil {
			t.Fatal(err)
		}
		st := p.Rename(from).Stop
		if st == nil || st.Records != 4000 || st.Bytes != 4000*1000 || st.CopyBytesPerSecond != 0 || !strings.Contains(st.Measured, "--measure-stop") {
			t.Fatalf("unmeasured estimate = %+v, want 4000 records, 4000000 bytes, no rate", st)
		}

		if p, _, err = plan.Make(ctx, cl, m); err != nil {
			t.Fatal(err)
		}
		if err := lifecycle.EstimateSwapStops(ctx, env, p, lifecycle.StopOptions{Measure: true, MaxStop: time.Nanosecond}); err != nil {
			t.Fatal(err)
		}
		st = p.Rename(from).Stop
		if st.CopyBytesPerSecond <= 0 || st.Copy <= 0 || st.VerifyBytesPerSecond <= 0 || !strings.Contains(st.Measured, "probe copy") || !strings.Contains(st.Measured, "verified at") {
			t.Fatalf("measured estimate = %+v", st)
		}
		if want := time.Duration(float64(st.Bytes) / st.CopyBytesPerSecond * float64(time.Second)); st.Copy != want {
			t.Errorf("copy forecast %s, want bytes/rate = %s", st.Copy, want)
		}
		// One verify inside the stop (staging against old), at the rate
		// the probe copy verified, in full without a verified prefix;
		// new is verified after the stop. The other steps cost three
		// topic creates.
		if want := time.Duration(float64(st.Bytes) / st.VerifyBytesPerSecond * float64(time.Second)); st.Verify != want || st.VerifyRecords != st.Records || st.Fixed <= 0 || st.Total != st.Copy+st.Verify+st.Fixed {
			t.Errorf("verify forecast %s of %d records, fixed %s and total %s, want bytes/verify rate = %s for all %d records and copy + verify + fixed", st.Verify, st.VerifyRecords, st.Fixed, st.Total, want, st.Records)
		}
		found := false
		for _, f := range p.Rename(from).Findings {
			found = found || (f.Code == "stop-too-long" && f.Severity == plan.Warning && strings.Contains(f.Message, "longer than --max-stop 1ns"))
		}
		if !found {
			t.Errorf("no stop-too-long warning over a 1ns limit: %+v", p.Rename(from).Findings)
		}
		snap, err := cl.Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for name := range snap.Topics {
			if strings.HasPrefix(name, lifecycle.ProbePrefix) {
				t.Errorf("the probe topic %s was left behind", name)
			}
		}
	})
}
