package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

var errCrash = errors.New("simulated crash")

// swapFixture is a swap rename over a source topic with records and two
// consumer groups, applied (staging created).
type swapFixture struct {
	c        *kafkatest.Cluster
	env      *lifecycle.Env
	from, to string
	// records are the source's records per partition, read before the swap.
	records [][]*kafka.Message
	// groups are the groups' committed offsets on the source.
	groups map[string]map[int32]int64
}

func newSwapFixture(t *testing.T, c *kafkatest.Cluster, from, to string, perPartition int) *swapFixture {
	t.Helper()
	ctx := context.Background()
	const partitions = 3
	c.CreateTopic(t, from, partitions, map[string]string{"retention.ms": "-1", "max.message.bytes": "2000000"})
	topic := from
	old := time.Now().Add(-72 * time.Hour).Truncate(time.Millisecond)
	var msgs []*kafka.Message
	for p := int32(0); p < partitions; p++ {
		for i := 0; i < perPartition; i++ {
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p},
				Key:       []byte(fmt.Sprintf("k%d", i%17)),
				Value:     []byte(fmt.Sprintf(`{"event_id":"e-%d-%d","data":{"n":%d}}`, p, i, i)),
				Timestamp: old.Add(time.Duration(i) * time.Millisecond),
				Headers:   []kafka.Header{{Key: "trace", Value: []byte{0, byte(i), 0xff}}, {Key: "trace", Value: []byte("dup")}}}
			switch i % 50 {
			case 7:
				m.Key = nil
			case 9:
				m.Value = nil
			}
			msgs = append(msgs, m)
		}
	}
	c.Produce(t, msgs...)
	f := &swapFixture{c: c, from: from, to: to, groups: map[string]map[int32]int64{}}
	for p := int32(0); p < partitions; p++ {
		f.records = append(f.records, c.ReadPartition(t, from, p))
	}
	cl := c.Admin(t)
	f.groups["swap-mid"] = map[int32]int64{0: int64(perPartition / 2), 1: 1, 2: 0}
	f.groups["swap-end"] = map[int32]int64{0: int64(perPartition), 1: int64(perPartition), 2: int64(perPartition)}
	for g, offs := range f.groups {
		c.CommitOffsets(t, g, from, offs)
	}
	if c.Kind == kafkatest.Real {
		if err := cl.CreateACLs(ctx, from, []admin.ACL{{Principal: "User:mailer", Host: "*", Operation: "WRITE", Permission: "ALLOW"}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := plan.ParseRenameMap("map.yaml", []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", from, to)))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, c, m, state.Options{})
	f.env = &lifecycle.Env{Admin: cl, Store: st, Map: m, Command: "test", BridgeGroup: "bridge-" + from}
	res, err := lifecycle.Apply(ctx, f.env, lifecycle.ApplyOptions{})
	if err != nil || res.Failed() > 0 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	return f
}

// options are the swap options of the tests, with a group per test.
func (f *swapFixture) options(copyFn func(ctx context.Context, group string, route bridge.Route) error) lifecycle.SwapOptions {
	if copyFn == nil {
		copyFn = f.copy
	}
	return lifecycle.SwapOptions{Rename: f.from, SwapGroup: "swap-" + f.from,
		QuietFor: 200 * time.Millisecond, DrainTimeout: time.Minute, Copy: copyFn}
}

func (f *swapFixture) copy(ctx context.Context, group string, route bridge.Route) error {
	return bridge.Run(ctx, bridge.Options{Client: f.c.Config(), Group: group, InstanceID: "swap", UntilCaughtUp: true, OneOff: true,
		Admin: f.env.Admin, Routes: bridge.StaticRoutes{route}, Headers: bridge.HeaderPolicy{Enrich: true}, Refresh: time.Hour})
}

// check asserts the end state of a swap: only the new name is left, it
// holds the source's records byte for byte, and each group resumes on it
// at the record where it stopped on the old topic.
func (f *swapFixture) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	snap, err := f.env.Admin.Describe(ctx, admin.DescribeOptions{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Topics[f.from] != nil || snap.Topics[plan.StagingTopic(f.to)] != nil {
		t.Errorf("after the swap: old topic present %v, staging present %v; want both gone", snap.Topics[f.from] != nil, snap.Topics[plan.StagingTopic(f.to)] != nil)
	}
	nt := snap.Topics[f.to]
	if nt == nil {
		t.Fatalf("%s does not exist after the swap", f.to)
	}
	if nt.Partitions != len(f.records) || nt.Configs["retention.ms"] != "-1" || nt.Configs["max.message.bytes"] != "2000000" {
		t.Errorf("new topic: %d partitions, configs %v; want %d partitions, retention.ms -1, max.message.bytes 2000000", nt.Partitions, nt.Configs, len(f.records))
	}
	if f.c.Kind == kafkatest.Real && (len(nt.ACLs) != 1 || nt.ACLs[0].Principal != "User:mailer") {
		t.Errorf("new topic ACLs = %+v, want the old topic's", nt.ACLs)
	}
	var copies [][]*kafka.Message
	for p := range f.records {
		got := f.c.ReadPartition(t, f.to, int32(p))
		copies = append(copies, got)
		if len(got) != len(f.records[p]) {
			t.Fatalf("partition %d: %d records in %s, want %d", p, len(got), f.to, len(f.records[p]))
		}
		for i, want := range f.records[p] {
			if d := recordDiff(want, got[i]); d != "" {
				t.Fatalf("partition %d record %d: %s", p, i, d)
			}
		}
	}
	for g, offs := range f.groups {
		var got map[int32]int64
		for _, sg := range snap.Groups {
			if sg.ID == g {
				got = sg.Offsets[f.to]
			}
		}
		for p, o := range offs {
			n, ok := got[p]
			if !ok {
				t.Errorf("group %s has no offset on %s/%d", g, f.to, p)
				continue
			}
			if o == int64(len(f.records[p])) {
				if want := int64(copies[p][len(copies[p])-1].TopicPartition.Offset) + 1; n < want {
					t.Errorf("group %s at the end of old %d: offset %d on new, want past the last record (%d)", g, p, n, want)
				}
				continue
			}
			idx := slices.IndexFunc(copies[p], func(m *kafka.Message) bool { return int64(m.TopicPartition.Offset) >= n })
			if idx < 0 || recordDiff(f.records[p][o], copies[p][idx]) != "" {
				t.Errorf("group %s partition %d: committed %d on old resumes at %d on new, which is record %d, want record %d", g, p, o, n, idx, o)
			}
		}
	}
	rec, _, err := f.env.Store.Rename(ctx, f.from)
	if err != nil || rec.Phase != state.PhaseRetired || rec.Step != nil {
		t.Errorf("state after the swap: %+v (%v); want phase retired and no step", rec, err)
	}
}

// recordDiff compares a source record with its copy: key, value, timestamp
// and the source's headers in order, byte for byte.
func recordDiff(src, cp *kafka.Message) string {
	switch {
	case !bytes.Equal(src.Key, cp.Key) || (src.Key == nil) != (cp.Key == nil):
		return fmt.Sprintf("key %q, want %q", cp.Key, src.Key)
	case !bytes.Equal(src.Value, cp.Value) || (src.Value == nil) != (cp.Value == nil):
		return fmt.Sprintf("value %q, want %q", cp.Value, src.Value)
	case !src.Timestamp.Equal(cp.Timestamp):
		return fmt.Sprintf("timestamp %v, want %v", cp.Timestamp, src.Timestamp)
	}
	var kept []kafka.Header
	for _, h := range cp.Headers {
		if !slices.ContainsFunc(bridge.AddedHeaders, func(a string) bool { return strings.EqualFold(a, h.Key) }) {
			kept = append(kept, h)
		}
	}
	if len(kept) != len(src.Headers) {
		return fmt.Sprintf("headers %v, want %v", kept, src.Headers)
	}
	for i := range kept {
		if kept[i].Key != src.Headers[i].Key || !bytes.Equal(kept[i].Value, src.Headers[i].Value) {
			return fmt.Sprintf("header %d %v, want %v", i, kept[i], src.Headers[i])
		}
	}
	return ""
}

// TestSwap swaps x.delivery_failed.v1 → x.delivery.failed.v1, names Kafka
// refuses side by side, crashing after every step and once in the middle
// of the staging → new copy, re-running each time: the new topic ends up
// with the exact name, every record, and both groups where they stopped.
func TestSwap(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		perPartition := 1000
		if c.Kind == kafkatest.Real {
			perPartition = 34000 // 102,000 records
		}
		f := newSwapFixture(t, c, "x.delivery_failed.v1", "x.delivery.failed.v1", perPartition)

		dry, err := lifecycle.Swap(ctx, f.env, lifecycle.SwapOptions{Rename: f.from, DryRun: true, Copy: f.copy})
		if err != nil || len(dry.Steps) != len(lifecycle.SwapSteps) || dry.Steps[0].Outcome != "would do" {
			t.Fatalf("dry run: %v %+v", err, dry)
		}

		crashed := map[string]bool{}
		opts := f.options(nil)
		opts.AfterStep = func(step string) error {
			if crashed[step] {
				return nil
			}
			crashed[step] = true
			return errCrash
		}
		// The first staging → new copy dies once part of it is committed.
		copyKilled := false
		opts.Copy = func(ctx context.Context, group string, route bridge.Route) error {
			if copyKilled || route.To != f.to {
				return f.copy(ctx, group, route)
			}
			copyKilled = true
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				for cctx.Err() == nil {
					if offs, err := f.env.Admin.GroupOffsets(cctx, group); err == nil && len(offs[route.From]) > 0 {
						cancel()
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			return f.copy(cctx, group, route)
		}
		runs := 0
		for {
			runs++
			if runs > 2*len(lifecycle.SwapSteps)+2 {
				t.Fatalf("swap did not finish after %d runs", runs)
			}
			_, err := lifecycle.Swap(ctx, f.env, opts)
			if err == nil {
				break
			}
			if !errors.Is(err, errCrash) && !strings.Contains(err.Error(), "the copy stopped at") {
				t.Fatalf("run %d: %v", runs, err)
			}
			if crashed[lifecycle.SwapVerified] && !crashed[lifecycle.SwapSaved] {
				st, err := lifecycle.Status(ctx, f.env, lifecycle.StatusOptions{})
				if err != nil || st.Renames[0].SwapStep != lifecycle.SwapVerified {
					t.Fatalf("status during the swap: %v %+v, want swap step %s", err, st, lifecycle.SwapVerified)
				}
			}
			if crashed[lifecycle.SwapOldDeleted] && !crashed[lifecycle.SwapNewCreated] {
				// Past the delete, rollback is refused with the reason.
				_, rerr := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: f.from})
				if !errors.Is(rerr, lifecycle.ErrSwapPastDelete) {
					t.Fatalf("rollback after the delete: %v, want ErrSwapPastDelete", rerr)
				}
			}
		}
		if len(crashed) != len(lifecycle.SwapSteps) || !copyKilled {
			t.Fatalf("crashed after %v and during the copy %v; want every step and the copy", crashed, copyKilled)
		}
		f.check(t)

		// Once done, a re-run changes nothing.
		res, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if err != nil || res.Steps[len(res.Steps)-1].Outcome != "done earlier" {
			t.Fatalf("re-run after the swap: %v %+v", err, res)
		}
	})
}

// TestSwapRollback rolls a swap back before the old topic is deleted: the
// old topic takes writes again, staging is gone, and the rename is rolled
// back. A swap refuses to start while a consumer reads the old topic.
func TestSwapRollback(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "y.rate_limit.v1", "y.rate.limit.v1", 50)

		// A live consumer of the old topic blocks the swap, by name.
		cons, err := kafka.NewConsumer(c.ConfigMap(kafka.ConfigMap{"group.id": "live-reader", "client.id": "reader-7"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Subscribe(f.from, nil); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			cons.Poll(100)
			a, _ := cons.Assignment()
			if len(a) > 0 || time.Now().After(deadline) {
				break
			}
		}
		_, err = lifecycle.Swap(ctx, f.env, f.options(nil))
		if !errors.Is(err, lifecycle.ErrGroupActive) || !strings.Contains(err.Error(), "reader-7") {
			t.Fatalf("swap with a live reader: %v, want ErrGroupActive naming reader-7", err)
		}
		cons.Close()

		opts := f.options(nil)
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapSaved {
				return errCrash
			}
			return nil
		}
		if _, err := lifecycle.Swap(ctx, f.env, opts); !errors.Is(err, errCrash) {
			t.Fatalf("swap: %v, want the simulated crash", err)
		}
		if c.Kind == kafkatest.Real {
			// Fenced: Kafka refuses writes to the old topic.
			if err := produceOne(c, f.from); err == nil {
				t.Fatal("a write to the fenced old topic succeeded")
			}
		}
		res, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: f.from})
		if err != nil {
			t.Fatalf("rollback before the delete: %v", err)
		}
		if !strings.Contains(res.NewTopic, "deleted") {
			t.Errorf("staging after rollback: %q, want deleted", res.NewTopic)
		}
		if err := produceOne(c, f.from); err != nil {
			t.Errorf("write to the old topic after rollback: %v", err)
		}
		snap, err := f.env.Admin.Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Topics[plan.StagingTopic(f.to)] != nil || snap.Topics[f.from] == nil {
			t.Errorf("after rollback: staging present %v, old present %v", snap.Topics[plan.StagingTopic(f.to)] != nil, snap.Topics[f.from] != nil)
		}
		if v, own := snap.Topics[f.from].Configs["max.message.bytes"]; !own || v != "2000000" {
			t.Errorf("old max.message.bytes after rollback = %q (own %v), want 2000000 restored", v, own)
		}
		rec, _, _ := f.env.Store.Rename(ctx, f.from)
		if rec.Phase != state.PhaseRolledBack || rec.Step != nil {
			t.Errorf("state after rollback: %+v", rec)
		}
	})
}

// produceOne writes one record to topic and waits for its delivery.
func produceOne(c *kafkatest.Cluster, topic string) error {
	p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"message.timeout.ms": 5000, "retries": 0}))
	if err != nil {
		return err
	}
	defer p.Close()
	ch := make(chan kafka.Event, 1)
	if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("after")}, ch); err != nil {
		return err
	}
	m := (<-ch).(*kafka.Message)
	return m.TopicPartition.Error
}

// TestSwapRefusesDeadLetters: a record the staging topic refused is only
// in its DLQ; the swap must not delete the old topic then, and says why.
func TestSwapRefusesDeadLetters(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "z.big_one.v1", "z.big.one.v1", 20)
		small := "2000"
		if err := f.env.Admin.SetTopicConfig(ctx, plan.StagingTopic(f.to), "max.message.bytes", &small); err != nil {
			t.Fatal(err)
		}
		topic := f.from
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 1}, Key: []byte("big"), Value: bytes.Repeat([]byte{'b'}, 5000)})
		_, err := lifecycle.Swap(ctx, f.env, f.options(nil))
		if err == nil || !strings.Contains(err.Error(), "1 record(s) of "+f.from+" are not in "+plan.StagingTopic(f.to)+" but only in the DLQ") {
			t.Fatalf("swap with a dead-lettered record: %v, want a refusal naming the dead letter", err)
		}
		snap, err := f.env.Admin.Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Topics[f.from] == nil {
			t.Fatal("the old topic was deleted although a record of it is only in the DLQ")
		}
		rec, _, _ := f.env.Store.Rename(ctx, f.from)
		if rec.Swap == nil || rec.Swap.Done != lifecycle.SwapDrained {
			t.Errorf("swap progress = %+v, want last step done %q", rec.Swap, lifecycle.SwapDrained)
		}
		if _, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: f.from}); err != nil {
			t.Fatalf("rollback after the refusal: %v", err)
		}
	})
}

// TestSwapResumeReprovesStaging: the swap's resume path used to delete the
// old topic without checking staging again. Here staging loses its first
// records after the verify step and before the delete (the run crashed in
// between); the resumed swap must refuse the delete and keep the old
// topic.
func TestSwapResumeReprovesStaging(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "resume.delivery_failed.v1", "resume.delivery.failed.v1", 20)
		opts := f.options(nil)
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapSaved {
				return errCrash
			}
			return nil
		}
		if _, err := lifecycle.Swap(ctx, f.env, opts); !errors.Is(err, errCrash) {
			t.Fatalf("swap: %v, want the simulated crash", err)
		}
		staging := plan.StagingTopic(f.to)
		res, err := f.env.Admin.Kafka().DeleteRecords(ctx, []kafka.TopicPartition{{Topic: &staging, Partition: 0, Offset: 5}})
		if err != nil || res.DeleteRecordsResults[0].TopicPartition.Error != nil {
			t.Fatalf("delete the head of staging: %v %+v", err, res)
		}
		_, err = lifecycle.Swap(ctx, f.env, f.options(nil))
		if !errors.Is(err, lifecycle.ErrNotSafe) || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("resumed swap over a staging without its head: %v, want ErrNotSafe naming the missing records", err)
		}
		topics, err := f.env.Admin.DescribeTopics(ctx, []string{f.from})
		if err != nil || topics[f.from] == nil {
			t.Fatalf("the old topic was deleted although staging lost records (err %v)", err)
		}
		if got := c.ReadPartition(t, f.from, 0); len(got) != len(f.records[0]) {
			t.Errorf("the old topic holds %d records on partition 0, want %d", len(got), len(f.records[0]))
		}
	})
}

// TestSwapAfterStop: the stop ends once the groups are on the new topic;
// its producers may write to it before the swap verified it and deleted
// staging (here the run crashed in between, and producers wrote anyway).
// The resumed swap accepts those records, verifies the copies, and
// deletes staging; the new topic holds the copies, then the new records.
func TestSwapAfterStop(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "after.delivery_failed.v1", "after.delivery.failed.v1", 30)
		opts := f.options(nil)
		var steps []string
		opts.Progress = func(step, detail string) {
			if strings.Contains(detail, "the stop is over") {
				steps = append(steps, step)
			}
		}
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapStopEnds {
				return errCrash
			}
			return nil
		}
		if _, err := lifecycle.Swap(ctx, f.env, opts); !errors.Is(err, errCrash) {
			t.Fatalf("swap: %v, want the simulated crash", err)
		}
		to := f.to
		var written []*kafka.Message
		for p := int32(0); p < 3; p++ {
			written = append(written, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: p},
				Key: []byte("after"), Value: []byte(fmt.Sprintf("written to the new name on %d", p))})
		}
		c.Produce(t, written...)
		res, err := lifecycle.Swap(ctx, f.env, opts)
		if err != nil {
			t.Fatalf("resumed swap with records written to %s since the stop: %v", f.to, err)
		}
		if len(steps) != 1 || steps[0] != lifecycle.SwapNewVerified {
			t.Errorf("the stop was said over before steps %v, want once, before %s", steps, lifecycle.SwapNewVerified)
		}
		if res.AfterStop <= 0 {
			t.Errorf("AfterStop = %s, want the time of the steps after the stop", res.AfterStop)
		}
		topics, err := f.env.Admin.DescribeTopics(ctx, []string{plan.StagingTopic(f.to)})
		if err != nil || topics[plan.StagingTopic(f.to)] != nil {
			t.Fatalf("staging left after the swap (err %v)", err)
		}
		for p := range f.records {
			got := c.ReadPartition(t, f.to, int32(p))
			if len(got) != len(f.records[p])+1 {
				t.Fatalf("partition %d: %d records in %s, want %d copies and 1 new", p, len(got), f.to, len(f.records[p]))
			}
			for i, want := range f.records[p] {
				if d := recordDiff(want, got[i]); d != "" {
					t.Fatalf("partition %d record %d: %s", p, i, d)
				}
			}
			if last := got[len(got)-1]; !bytes.Equal(last.Value, written[p].Value) {
				t.Errorf("partition %d: last record %q, want the one written after the stop", p, last.Value)
			}
		}
	})
}

// TestSwapAfterStopKeepsStaging: after the stop, a new topic that lost
// copies (here its first records, deleted after the copy) fails the
// verify of new against staging, and staging, which holds every record,
// is kept.
func TestSwapAfterStopKeepsStaging(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "keep.delivery_failed.v1", "keep.delivery.failed.v1", 20)
		opts := f.options(nil)
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapStopEnds {
				return errCrash
			}
			return nil
		}
		if _, err := lifecycle.Swap(ctx, f.env, opts); !errors.Is(err, errCrash) {
			t.Fatalf("swap: %v, want the simulated crash", err)
		}
		to := f.to
		res, err := f.env.Admin.Kafka().DeleteRecords(ctx, []kafka.TopicPartition{{Topic: &to, Partition: 1, Offset: 3}})
		if err != nil || res.DeleteRecordsResults[0].TopicPartition.Error != nil {
			t.Fatalf("delete the head of %s: %v %+v", f.to, err, res)
		}
		_, err = lifecycle.Swap(ctx, f.env, f.options(nil))
		if err == nil || !strings.Contains(err.Error(), lifecycle.SwapNewVerified) {
			t.Fatalf("resumed swap over a new topic without its head: %v, want step %s to fail", err, lifecycle.SwapNewVerified)
		}
		staging := plan.StagingTopic(f.to)
		if got := c.ReadPartition(t, staging, 1); len(got) != len(f.records[1]) {
			t.Errorf("staging holds %d records on partition 1, want all %d", len(got), len(f.records[1]))
		}
	})
}

// TestSwapStopCopy runs the swap with its own staging → new copy (no
// Copy option, as the CLI does), crashing after every step and once in
// the middle of that copy: the resumed copy continues after the last
// record the interrupted one wrote, and the new topic ends up with every
// record once, in order, and both groups where they stopped.
func TestSwapStopCopy(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		perPartition := 3000
		if c.Kind == kafkatest.Real {
			perPartition = 34000
		}
		f := newSwapFixture(t, c, "fast.delivery_failed.v1", "fast.delivery.failed.v1", perPartition)
		crashed := map[string]bool{}
		opts := f.options(nil)
		opts.Copy = nil
		opts.AfterStep = func(step string) error {
			if crashed[step] {
				return nil
			}
			crashed[step] = true
			return errCrash
		}
		var copyKilled atomic.Bool
		total := int64(3 * perPartition)
		for runs := 1; ; runs++ {
			if runs > 2*len(lifecycle.SwapSteps)+2 {
				t.Fatalf("swap did not finish after %d runs", runs)
			}
			rctx, cancel := context.WithCancel(ctx)
			var killer sync.WaitGroup
			if crashed[lifecycle.SwapNewCreated] && !copyKilled.Load() {
				// Kill the copy once part of it is in the new topic.
				killer.Add(1)
				go func() {
					defer killer.Done()
					for rctx.Err() == nil {
						snap, err := f.env.Admin.Describe(rctx, admin.DescribeOptions{Deep: []string{f.to}})
						if err == nil && snap.Topics[f.to] != nil && snap.Topics[f.to].Offsets != nil {
							if n := snap.Topics[f.to].Offsets.Records(); n > 0 && n < total {
								copyKilled.Store(true)
								cancel()
								return
							}
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			_, err := lifecycle.Swap(rctx, f.env, opts)
			cancel()
			killer.Wait()
			if err == nil {
				break
			}
			if !errors.Is(err, errCrash) && !errors.Is(err, context.Canceled) {
				t.Fatalf("run %d: %v", runs, err)
			}
		}
		if len(crashed) != len(lifecycle.SwapSteps) {
			t.Fatalf("crashed after %v; want every step", crashed)
		}
		if !copyKilled.Load() {
			t.Log("the copy finished before it could be killed; the resume of a partial copy was not exercised")
		}
		f.check(t)
	})
}

// TestSwapStopCopyReadsAheadOfTheDrain: a swap started with staging
// still empty (no bridge ran; the drain copies old → staging itself) has
// its stop's copy read staging ahead from the start, past partition ends
// it reaches before the drain fills them: every record still reaches the
// new topic inside the stop (the copy once ended at those early ends,
// and only the verify after the stop found the new topic short).
func TestSwapStopCopyReadsAheadOfTheDrain(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		f := newSwapFixture(t, c, "ahead.delivery_failed.v1", "ahead.delivery.failed.v1", 2000)
		opts := f.options(nil)
		opts.Copy = nil
		if _, err := lifecycle.Swap(context.Background(), f.env, opts); err != nil {
			t.Fatalf("swap: %v", err)
		}
		f.check(t)
	})
}

// TestSwapStopCopyBeginsBeforeTheNewTopicExists: with staging full when
// the swap starts, the stop's copy reads staging and hands its copies to
// the producer during the quiet check, before the new topic exists; they
// reach it once it does, every record once and in order.
func TestSwapStopCopyBeginsBeforeTheNewTopicExists(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "early.delivery_failed.v1", "early.delivery.failed.v1", 2000)
		opts := f.earlyCopyOptions(t)
		res, err := lifecycle.Swap(ctx, f.env, opts)
		if err != nil {
			t.Fatalf("swap: %v", err)
		}
		want := "read and handed over before " + f.to + " existed"
		if i := slices.IndexFunc(res.Steps, func(s lifecycle.SwapStep) bool { return s.Step == lifecycle.SwapCopied }); i < 0 || !strings.Contains(res.Steps[i].Detail, want) {
			t.Errorf("swap steps %+v: want step %s to say %q", res.Steps, lifecycle.SwapCopied, want)
		}
		f.check(t)
	})
}

// TestSwapStopCopyCountsTheNewTopic: a record written to the new topic
// by something else right after the swap created it, in the same run, is
// found by count (the copy's last records are still the copies of
// staging's last, so its tail alone looks right): the copy refuses, and
// staging keeps every record.
func TestSwapStopCopyCountsTheNewTopic(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "counted.delivery_failed.v1", "counted.delivery.failed.v1", 300)
		opts := f.earlyCopyOptions(t)
		to := f.to
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapNewCreated {
				c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: 2}, Value: []byte("stray")})
			}
			return nil
		}
		_, err := lifecycle.Swap(ctx, f.env, opts)
		want := fmt.Sprintf("%s/2 holds %d record(s) from offset 0, but the copy wrote %d to it", f.to, len(f.records[2])+1, len(f.records[2]))
		if err == nil || !strings.Contains(err.Error(), lifecycle.SwapCopied) || !strings.Contains(err.Error(), want) {
			t.Fatalf("swap with a stray record in the new topic: %v, want step %s to refuse with %q", err, lifecycle.SwapCopied, want)
		}
		staging := plan.StagingTopic(f.to)
		for p := range f.records {
			if got := c.ReadPartition(t, staging, int32(p)); len(got) != len(f.records[p]) {
				t.Errorf("staging holds %d records on partition %d, want all %d", len(got), p, len(f.records[p]))
			}
		}
	})
}

// earlyCopyOptions fills staging with the bridge, as the window's mirror
// does, and returns swap options with the stop's own copy and a quiet
// check of a second: time for that copy to begin before the new topic
// exists.
func (f *swapFixture) earlyCopyOptions(t *testing.T) lifecycle.SwapOptions {
	t.Helper()
	ctx := context.Background()
	route, err := lifecycle.RouteBetween(ctx, f.env.Admin, f.from, f.from, plan.StagingTopic(f.to), "earliest")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.copy(ctx, f.env.BridgeGroup, route); err != nil {
		t.Fatalf("fill staging: %v", err)
	}
	opts := f.options(nil)
	opts.Copy = nil
	opts.QuietFor = time.Second
	return opts
}

// TestSwapStopCopyRefusesForeignRecords: a record written to the new
// topic during the stop (by something else than the swap's copy) makes
// the copy refuse to guess where it stopped; nothing is deleted.
func TestSwapStopCopyRefusesForeignRecords(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newSwapFixture(t, c, "foreign.delivery_failed.v1", "foreign.delivery.failed.v1", 20)
		opts := f.options(nil)
		opts.Copy = nil
		opts.AfterStep = func(step string) error {
			if step == lifecycle.SwapNewCreated {
				return errCrash
			}
			return nil
		}
		if _, err := lifecycle.Swap(ctx, f.env, opts); !errors.Is(err, errCrash) {
			t.Fatalf("swap: %v, want the simulated crash", err)
		}
		to := f.to
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: 2}, Value: []byte("early")})
		opts.AfterStep = nil
		_, err := lifecycle.Swap(ctx, f.env, opts)
		if err == nil || !strings.Contains(err.Error(), lifecycle.SwapCopied) || !strings.Contains(err.Error(), "no copy") {
			t.Fatalf("swap over a new topic written during the stop: %v, want step %s to refuse", err, lifecycle.SwapCopied)
		}
		staging := plan.StagingTopic(f.to)
		if got := c.ReadPartition(t, staging, 2); len(got) != len(f.records[2]) {
			t.Errorf("staging holds %d records on partition 2, want all %d", len(got), len(f.records[2]))
		}
	})
}
