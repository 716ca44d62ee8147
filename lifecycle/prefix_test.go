package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// prefixFixture is a swap fixture whose staging the bridge copied and a
// verify during the window proved; then more records were written to the
// old topic (and left for the swap's drain to copy), so the stop has a
// tail to compare.
func newPrefixFixture(t *testing.T, c *kafkatest.Cluster, from, to string) *swapFixture {
	t.Helper()
	ctx := context.Background()
	f := newSwapFixture(t, c, from, to, 200)
	staging := plan.StagingTopic(to)
	route, err := lifecycle.RouteBetween(ctx, f.env.Admin, from, from, staging, "earliest")
	if err != nil {
		t.Fatal(err)
	}
	// A one-off copy can end before it copied anything when Kafka reports
	// the just-written partitions' ends as 0 (seen once on Kafka 4.4 under
	// load): copy again while verify finds the copy only behind.
	var res *lifecycle.VerifyResult
	for attempt := 1; ; attempt++ {
		if err := f.copy(ctx, f.env.BridgeGroup, route); err != nil {
			t.Fatalf("bridge copy: %v", err)
		}
		var err error
		res, err = lifecycle.Verify(ctx, f.env, lifecycle.VerifyOptions{Renames: []string{from}})
		if err == nil && res.OnlyIncomplete() && attempt < 5 {
			t.Logf("verify during the window, attempt %d: the copy is behind; copying again: %+v", attempt, res.Problems)
			continue
		}
		if err != nil || !res.Passed() {
			t.Fatalf("verify during the window: %v %+v", err, res)
		}
		break
	}
	rec := f.record(t)
	pre := rec.StagingVerified
	if pre == nil || pre.Records() != 600 || pre.Source != from || pre.Target != staging || pre.SourceID == "" || pre.TargetID == "" {
		t.Fatalf("verified prefix after the window's verify = %+v, want 600 records of %s → %s with both topic IDs", pre, from, staging)
	}
	// More records reach the old topic after the verify: the tail.
	topic := from
	var msgs []*kafka.Message
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 10; i++ {
			msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p},
				Key: []byte(fmt.Sprintf("tail-%d", i)), Value: []byte(fmt.Sprintf(`{"tail":%d}`, i))})
		}
	}
	c.Produce(t, msgs...)
	for p := range f.records {
		f.records[p] = c.ReadPartition(t, from, int32(p))
	}
	return f
}

func (f *swapFixture) record(t *testing.T) state.Rename {
	t.Helper()
	rec, found, err := f.env.Store.Rename(context.Background(), f.from)
	if err != nil || !found {
		t.Fatalf("state of %s: %v (found %v)", f.from, err, found)
	}
	return *rec
}

// stepDetail returns the detail of a step a swap did.
func stepDetail(res *lifecycle.SwapResult, step string) string {
	if res == nil {
		return ""
	}
	for _, s := range res.Steps {
		if s.Step == step {
			return s.Detail
		}
	}
	return ""
}

// deleteHead deletes the records before offset of topic/p.
func deleteHead(t *testing.T, f *swapFixture, topic string, p int32, offset int64) {
	t.Helper()
	res, err := f.env.Admin.Kafka().DeleteRecords(context.Background(), []kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(offset)}})
	if err != nil || res.DeleteRecordsResults[0].TopicPartition.Error != nil {
		t.Fatalf("delete the head of %s/%d: %v %+v", topic, p, err, res)
	}
}

// oldKept asserts the old topic still exists with all its records.
func oldKept(t *testing.T, f *swapFixture) {
	t.Helper()
	topics, err := f.env.Admin.DescribeTopics(context.Background(), []string{f.from})
	if err != nil || topics[f.from] == nil {
		t.Fatalf("the old topic was deleted (err %v)", err)
	}
	if got := f.c.ReadPartition(t, f.from, 0); len(got) != len(f.records[0]) {
		t.Errorf("the old topic holds %d records on partition 0, want %d", len(got), len(f.records[0]))
	}
}

// TestSwapVerifiesOnlyTheTail: a verify during the window records
// staging's verified prefix; status shows it; the swap's stop compares
// only the records after it, and the swap ends as a full one would.
func TestSwapVerifiesOnlyTheTail(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newPrefixFixture(t, c, "tail.delivery_failed.v1", "tail.delivery.failed.v1")
		st, err := lifecycle.Status(ctx, f.env, lifecycle.StatusOptions{})
		if err != nil || st.Renames[0].StagingVerified == nil || st.Renames[0].StagingVerified.Records != 600 || st.Renames[0].StagingVerified.Behind != 30 {
			t.Fatalf("status: %v %+v, want staging verified for 600 records, 30 behind", err, st.Renames[0].StagingVerified)
		}
		// A second verify extends the prefix by what was copied since.
		route, err := lifecycle.RouteBetween(ctx, f.env.Admin, f.from, f.from, plan.StagingTopic(f.to), "earliest")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.copy(ctx, f.env.BridgeGroup, route); err != nil {
			t.Fatal(err)
		}
		res, err := lifecycle.Verify(ctx, f.env, lifecycle.VerifyOptions{Renames: []string{f.from}})
		if err != nil || !res.Passed() || res.Reports[0].Totals().Compared != 30 || res.Reports[0].Totals().VerifiedBefore != 600 {
			t.Fatalf("second verify: %v %+v, want only the 30 new records compared after 600", err, res.Reports[0].Totals())
		}
		if got := f.record(t).StagingVerified.Records(); got != 630 {
			t.Fatalf("prefix after the second verify: %d records, want 630", got)
		}
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &f.from, Partition: 1}, Key: []byte("last"), Value: []byte("last")})
		f.records[1] = c.ReadPartition(t, f.from, 1)
		sw, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if err != nil {
			t.Fatalf("swap: %v", err)
		}
		if d := stepDetail(sw, lifecycle.SwapVerified); !strings.Contains(d, "only the tail after the 630 record(s)") || !strings.Contains(d, "1 record(s) identical") {
			t.Fatalf("verified step: %q, want only the tail (1 record) compared", d)
		}
		f.check(t)
	})
}

// TestSwapPrefixDeleteRecordsOnStaging: records deleted from staging's
// head after its prefix was verified move its log start offset: the
// prefix no longer stands, the full comparison finds the head missing
// and the old topic is kept. Without the log start check the tail alone
// would pass and the old topic would go with records nowhere else.
func TestSwapPrefixDeleteRecordsOnStaging(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		f := newPrefixFixture(t, c, "dstg.delivery_failed.v1", "dstg.delivery.failed.v1")
		deleteHead(t, f, plan.StagingTopic(f.to), 0, 5)
		_, err := lifecycle.Swap(context.Background(), f.env, f.options(nil))
		if !errors.Is(err, lifecycle.ErrNotSafe) && (err == nil || !strings.Contains(err.Error(), "missing")) {
			t.Fatalf("swap over a staging without its head: %v, want a refusal naming the missing records", err)
		}
		oldKept(t, f)
	})
}

// TestSwapPrefixRecheckedAtTheDelete: staging loses its head after the
// stop's tail verify passed, before the old topic's delete. The safety
// proof checks the prefix's proofs again and refuses; so does a resumed
// run, which has only the prefix recorded in the state.
func TestSwapPrefixRecheckedAtTheDelete(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newPrefixFixture(t, c, "dlate.delivery_failed.v1", "dlate.delivery.failed.v1")
		opts := f.options(nil)
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapSaved {
				deleteHead(t, f, plan.StagingTopic(f.to), 1, 3)
			}
			return nil
		}
		sw, err := lifecycle.Swap(ctx, f.env, opts)
		if !strings.Contains(stepDetail(sw, lifecycle.SwapVerified), "only the tail") {
			t.Fatalf("verified step: %q, want the tail only", stepDetail(sw, lifecycle.SwapVerified))
		}
		if !errors.Is(err, lifecycle.ErrNotSafe) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("delete after staging lost its head: %v, want ErrNotSafe naming the missing records", err)
		}
		oldKept(t, f)
		// A resumed run proves from the recorded prefix: refused again.
		if _, err := lifecycle.Swap(ctx, f.env, f.options(nil)); !errors.Is(err, lifecycle.ErrNotSafe) {
			t.Fatalf("resumed swap: %v, want ErrNotSafe", err)
		}
		oldKept(t, f)
	})
}

// TestSwapPrefixDeleteRecordsOnOld: the old topic's head deleted since
// (retention or DeleteRecords) means a full comparison, which passes:
// staging holds copies of records the old topic no longer has.
func TestSwapPrefixDeleteRecordsOnOld(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		f := newPrefixFixture(t, c, "dold.delivery_failed.v1", "dold.delivery.failed.v1")
		deleteHead(t, f, f.from, 0, 5)
		sw, err := lifecycle.Swap(context.Background(), f.env, f.options(nil))
		if err != nil {
			t.Fatalf("swap: %v", err)
		}
		if d := stepDetail(sw, lifecycle.SwapVerified); !strings.Contains(d, "compared in full: the log start offset of "+f.from+"/0 is 5") {
			t.Fatalf("verified step: %q, want a full comparison for the moved log start", d)
		}
		f.check(t)
	})
}

// TestSwapPrefixTopicRecreated: staging deleted and created again since
// its prefix was verified (a new topic ID), now holding a different first
// record at the same place: the prefix is refused, the full comparison
// finds the difference and the old topic is kept. Without the topic ID
// check the tail alone would pass.
func TestSwapPrefixTopicRecreated(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newPrefixFixture(t, c, "recr.delivery_failed.v1", "recr.delivery.failed.v1")
		staging := plan.StagingTopic(f.to)
		if err := f.env.Admin.DeleteTopic(ctx, staging); err != nil {
			t.Fatal(err)
		}
		if err := f.env.Admin.WaitForTopics(ctx, []string{staging}, false); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			errs, err := f.env.Admin.CreateTopics(ctx, []admin.TopicSpec{{Name: staging, Partitions: 3, ReplicationFactor: 1,
				Configs: map[string]string{"retention.ms": "-1", "max.message.bytes": "2000000"}}}, false)
			if err == nil && errs[staging] == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("could not create %s again: %v %v", staging, err, errs)
			}
		}
		if err := f.env.Admin.WaitForTopics(ctx, []string{staging}, true); err != nil {
			t.Fatal(err)
		}
		// Copies of every record of the old topic, made by hand, the
		// first one altered.
		var msgs []*kafka.Message
		for p := range f.records {
			for i, m := range f.records[p] {
				o := bridge.Origin{Topic: f.from, Partition: int32(p), Offset: int64(m.TopicPartition.Offset)}
				value := m.Value
				if p == 0 && i == 0 {
					value = []byte("forged")
				}
				msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &staging, Partition: int32(p)},
					Key: m.Key, Value: value, Timestamp: m.Timestamp, Headers: append(append([]kafka.Header{}, m.Headers...), kafka.Header{Key: bridge.HeaderOrigin, Value: []byte(o.String())})})
			}
		}
		c.Produce(t, msgs...)
		_, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if !errors.Is(err, lifecycle.ErrNotSafe) && (err == nil || !strings.Contains(err.Error(), "differ")) {
			t.Fatalf("swap over a re-created staging: %v, want a refusal naming the difference", err)
		}
		if err != nil && !strings.Contains(err.Error(), f.from+"/0/0") {
			t.Errorf("refusal %q does not name the record %s/0/0", err, f.from)
		}
		oldKept(t, f)
	})
}

// TestSwapPrefixCompacted: a compacted topic's records below the
// verified end may be removed by the log cleaner without any other
// trace, so the swap compares it in full.
func TestSwapPrefixCompacted(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newPrefixFixture(t, c, "cmpct.delivery_failed.v1", "cmpct.delivery.failed.v1")
		policy := "compact,delete"
		if err := f.env.Admin.SetTopicConfig(ctx, f.from, "cleanup.policy", &policy); err != nil {
			t.Fatal(err)
		}
		sw, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if err != nil {
			t.Fatalf("swap: %v", err)
		}
		if d := stepDetail(sw, lifecycle.SwapVerified); !strings.Contains(d, "compared in full: "+f.from+" is compacted") {
			t.Fatalf("verified step: %q, want a full comparison of the compacted topic", d)
		}
		f.check(t)
	})
}

// TestSwapTailDivergence: a record in staging's tail that is not the
// copy of the old topic's record at its place refuses the delete, naming
// it.
func TestSwapTailDivergence(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newPrefixFixture(t, c, "tdiv.delivery_failed.v1", "tdiv.delivery.failed.v1")
		staging := plan.StagingTopic(f.to)
		// Forge the copy of the first tail record of partition 2 before
		// the bridge copies it, and move the bridge past it.
		m := f.records[2][200]
		o := bridge.Origin{Topic: f.from, Partition: 2, Offset: int64(m.TopicPartition.Offset)}
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &staging, Partition: 2}, Key: m.Key, Value: []byte("forged"), Timestamp: m.Timestamp,
			Headers: []kafka.Header{{Key: bridge.HeaderOrigin, Value: []byte(o.String())}}})
		c.CommitOffsets(t, f.env.BridgeGroup, f.from, map[int32]int64{2: o.Offset + 1})
		sw, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if !errors.Is(err, lifecycle.ErrNotSafe) && (err == nil || !strings.Contains(err.Error(), "does not match")) {
			t.Fatalf("swap with a forged tail copy: %v, want a refusal", err)
		}
		if err == nil || !strings.Contains(err.Error(), o.String()) || !strings.Contains(err.Error(), "differ") {
			t.Fatalf("refusal %v does not name the record %s", err, o)
		}
		if d := stepDetail(sw, lifecycle.SwapVerified); d != "" {
			t.Fatalf("verified step done: %q", d)
		}
		oldKept(t, f)
	})
}
