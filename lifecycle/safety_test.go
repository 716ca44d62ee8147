package lifecycle_test

import (
	"bytes"
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

// dualFixture is a dual rename old → new, applied, with the clock of the
// state and of the steps fixed past the window.
type dualFixture struct {
	c        *kafkatest.Cluster
	env      *lifecycle.Env
	from, to string
}

const dualPartitions = 2

func newDualFixture(t *testing.T, c *kafkatest.Cluster, from, to string) *dualFixture {
	t.Helper()
	ctx := context.Background()
	c.CreateTopic(t, from, dualPartitions, map[string]string{"retention.ms": "-1"})
	m, err := plan.ParseRenameMap("map.yaml", []byte(fmt.Sprintf("version: 1\nwindow: 1d\nrenames:\n  - {from: %s, to: %s}\n", from, to)))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, c, m, state.Options{})
	later := func() time.Time { return time.Now().Add(48 * time.Hour) } // past the 1-day window
	f := &dualFixture{c: c, from: from, to: to,
		env: &lifecycle.Env{Admin: c.Admin(t), Store: st, Map: m, Command: "test", BridgeGroup: "bridge-" + from, Now: later}}
	res, err := lifecycle.Apply(ctx, f.env, lifecycle.ApplyOptions{})
	if err != nil || res.Failed() > 0 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	return f
}

// produce writes n records to topic, spread over the partitions, with
// values naming their sequence from first.
func (f *dualFixture) produce(t *testing.T, topic string, first, n int) {
	t.Helper()
	var msgs []*kafka.Message
	for i := first; i < first+n; i++ {
		msgs = append(msgs, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % dualPartitions)},
			Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf(`{"seq":%d,"topic":%q}`, i, topic))})
	}
	f.c.Produce(t, msgs...)
}

// mirror runs the forward bridge (through the map's routes, which also
// records phase mirroring) until it caught up.
func (f *dualFixture) mirror(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	routes := &lifecycle.MapRoutes{Map: f.env.Map, Admin: f.env.Admin, Store: f.env.Store, Command: "test"}
	err := bridge.Run(ctx, bridge.Options{Client: f.c.Config(), Group: f.env.BridgeGroup, InstanceID: "test", UntilCaughtUp: true, OneOff: true,
		Admin: f.env.Admin, Routes: routes, Headers: bridge.HeaderPolicy{Enrich: true}})
	if err != nil {
		t.Fatalf("mirror: %v", err)
	}
}

// records reads every record of topic, partition by partition.
func (f *dualFixture) records(t *testing.T, topic string) [][]*kafka.Message {
	t.Helper()
	var out [][]*kafka.Message
	for p := int32(0); p < dualPartitions; p++ {
		out = append(out, f.c.ReadPartition(t, topic, p))
	}
	return out
}

func (f *dualFixture) exists(t *testing.T, topic string) bool {
	t.Helper()
	topics, err := f.env.Admin.DescribeTopics(context.Background(), []string{topic})
	if err != nil {
		t.Fatal(err)
	}
	return topics[topic] != nil
}

// TestRetireRefusesUncopiedRecords is the data loss found in retire: after
// the bridge caught up, more records reach the old topic and no bridge
// runs; consumers and producers are cut over. verify must say the copy is
// incomplete, and retire, even forced, must not delete the old topic.
func TestRetireRefusesUncopiedRecords(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newDualFixture(t, c, "safe.retire_old.v1", "safe.retire.new.v1")
		f.produce(t, f.from, 0, 40)
		f.mirror(t)
		f.produce(t, f.from, 40, 90) // never copied: no bridge runs
		before := f.records(t, f.from)

		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: f.from, AllGroups: true}); err != nil {
			t.Fatalf("cutover consumers: %v", err)
		}
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: f.from}); err != nil {
			t.Fatalf("cutover producers: %v", err)
		}
		res, err := lifecycle.Verify(ctx, f.env, lifecycle.VerifyOptions{Renames: []string{f.from}})
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if res.Passed() || !res.OnlyIncomplete() || !strings.Contains(res.Problems[0].Detail, "90 record(s)") {
			t.Fatalf("verify of a copy 90 records behind: %+v, want only an incomplete problem naming 90 records", res.Problems)
		}
		_, err = lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: f.from, Force: true, Reason: "test"})
		if !errors.Is(err, lifecycle.ErrNotSafe) || !strings.Contains(err.Error(), "still to copy") {
			t.Fatalf("retire of an incomplete copy = %v, want ErrNotSafe about the bridge's lag", err)
		}
		if !f.exists(t, f.from) {
			t.Fatal("retire deleted the old topic although 90 of its records were never copied")
		}
		after := f.records(t, f.from)
		for p := range before {
			if len(after[p]) != len(before[p]) {
				t.Errorf("partition %d holds %d records after the refused retire, want %d", p, len(after[p]), len(before[p]))
			}
		}
		// The fence was lifted: producers may write again.
		f.produce(t, f.from, 130, 1)

		// Once the bridge caught up the proof passes and the topic goes.
		f.mirror(t)
		if _, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: f.from, Force: true, Reason: "test"}); err != nil {
			t.Fatalf("retire of a complete copy: %v", err)
		}
		if f.exists(t, f.from) {
			t.Fatal("the old topic still exists after retire")
		}
		rec, _, _ := f.env.Store.Rename(ctx, f.from)
		if rec.Phase != state.PhaseRetired || rec.Deleting != nil {
			t.Errorf("after retire: phase %s, deletion record %+v; want retired and none", rec.Phase, rec.Deleting)
		}
	})
}

// TestRetireRefusesAnOpenTransaction: a producer of the old topic died
// inside a transaction, and another wrote a record after it. Neither
// record is visible to a read_committed reader, so the bridge, verify and
// the bridge's lag all see a complete copy; but the transaction may still
// commit (the delete's fence refuses records, not a commit), and the
// record after it is committed already. Retire must refuse until the
// transaction ended, and then delete once the rest is copied.
func TestRetireRefusesAnOpenTransaction(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		defer lifecycle.SetStableWait(time.Second)()
		f := newDualFixture(t, c, "safe.opentxn_old.v1", "safe.opentxn.new.v1")
		f.produce(t, f.from, 0, 10)
		f.mirror(t)
		from := f.from
		txn := c.OpenTransaction(t, "died-inside", &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &from, Partition: 0}, Value: []byte("in the open transaction")})
		f.produce(t, f.from, 10, 1) // partition 0, after the transaction's record

		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: f.from, AllGroups: true}); err != nil {
			t.Fatalf("cutover consumers: %v", err)
		}
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: f.from}); err != nil {
			t.Fatalf("cutover producers: %v", err)
		}
		_, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: f.from, Force: true, Reason: "test"})
		if !errors.Is(err, lifecycle.ErrNotSafe) || !strings.Contains(err.Error(), "partition 0 holds 2 record(s) or marker(s) from offset 5 that a transaction still open hides") {
			t.Fatalf("retire with a transaction open on the old topic = %v, want ErrNotSafe naming partition 0's hidden records", err)
		}
		if !f.exists(t, f.from) {
			t.Fatal("retire deleted the old topic while a transaction on it was still open")
		}

		// The transaction ends; the record after it becomes visible and
		// is copied; then the delete is proven.
		if err := txn.AbortTransaction(ctx); err != nil {
			t.Fatalf("abort: %v", err)
		}
		f.mirror(t)
		if _, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: f.from, Force: true, Reason: "test"}); err != nil {
			t.Fatalf("retire once the transaction ended: %v", err)
		}
		if f.exists(t, f.from) {
			t.Fatal("the old topic still exists after retire")
		}
		got := f.records(t, f.to)[0]
		if last := string(got[len(got)-1].Value); !strings.Contains(last, `"seq":10`) {
			t.Errorf("the new topic's partition 0 ends with %q, want the record written after the transaction", last)
		}
	})
}

// TestRetireRefusesDeadLetters: a record that exists only in the DLQ is
// not kept by the new topic, so the old topic must stay.
func TestRetireRefusesDeadLetters(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newDualFixture(t, c, "safe.dlq_old.v1", "safe.dlq.new.v1")
		f.produce(t, f.from, 0, 10)
		f.mirror(t)
		// A dead letter of offset 0 of partition 0, as the bridge writes it.
		dlq := plan.DLQTopic(f.to)
		c.CreateTopic(t, dlq, 1, nil)
		origin := bridge.Origin{Topic: f.from, Partition: 0, Offset: 0}
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &dlq, Partition: 0}, Value: []byte("dead"),
			Headers: []kafka.Header{{Key: bridge.HeaderOrigin, Value: []byte(origin.String())}}})
		if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: f.from, AllGroups: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: f.from}); err != nil {
			t.Fatal(err)
		}
		// The copy of offset 0 exists too here, so the compare sees a
		// record copied and dead-lettered: either way it must refuse.
		_, err := lifecycle.Retire(ctx, f.env, lifecycle.RetireOptions{Rename: f.from, Force: true, Reason: "test"})
		if !errors.Is(err, lifecycle.ErrNotSafe) {
			t.Fatalf("retire with a dead letter = %v, want ErrNotSafe", err)
		}
		if !f.exists(t, f.from) {
			t.Fatal("retire deleted the old topic although one of its records is in the DLQ")
		}
	})
}

// TestVerifyFailsOnMissingHead: a copy that lacks the first records of a
// partition used to pass, because verify compared from the first copy's
// origin.
func TestVerifyFailsOnMissingHead(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newDualFixture(t, c, "safe.head_old.v1", "safe.head.new.v1")
		f.produce(t, f.from, 0, 20)
		// Copy only records from offset 3 of each partition, by hand, with
		// their provenance, as a bridge started too late would.
		var copies []*kafka.Message
		for p, recs := range f.records(t, f.from) {
			for _, m := range recs[3:] {
				o := bridge.Origin{Topic: f.from, Partition: int32(p), Offset: int64(m.TopicPartition.Offset)}
				to := f.to
				copies = append(copies, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: int32(p)}, Key: m.Key, Value: m.Value,
					Timestamp: m.Timestamp, Headers: append(m.Headers, kafka.Header{Key: bridge.HeaderOrigin, Value: []byte(o.String())})})
			}
		}
		c.Produce(t, copies...)
		res, err := lifecycle.Verify(ctx, f.env, lifecycle.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed() || res.Problems[0].Kind != lifecycle.VerifyDiffers || !strings.Contains(res.Problems[0].Detail, "missing from the target") {
			t.Fatalf("verify of a copy without its first 3 records per partition: %+v, want a missing record", res.Problems)
		}
	})
}

// TestRollbackCopiesBackEarlyWrites: records written to the new topic
// while the rename was only mirroring (a producer switched early) used to
// be stranded: rollback moved the consumers back and kept the new topic.
// verify must name them, and rollback must copy them back to the old
// topic, where the consumers moved back read them, then delete the new
// topic, and only then record rolled-back.
func TestRollbackCopiesBackEarlyWrites(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newDualFixture(t, c, "safe.early_old.v1", "safe.early.new.v1")
		f.produce(t, f.from, 0, 30)
		f.mirror(t)
		f.produce(t, f.to, 1000, 25) // the early producer
		c.CommitOffsets(t, "reader", f.from, map[int32]int64{0: 15, 1: 15})

		res, err := lifecycle.Verify(ctx, f.env, lifecycle.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed() || res.Problems[0].Kind != lifecycle.VerifyEarlyWrites || !strings.Contains(res.Problems[0].Detail, "25 record(s)") ||
			!strings.Contains(res.Problems[0].Detail, f.to+"/") || !strings.Contains(res.Problems[0].Detail, `key "k10`) {
			t.Fatalf("verify with 25 early writes: %+v, want them named with the first one's partition, offset and key", res.Problems)
		}
		st, err := lifecycle.Status(ctx, f.env, lifecycle.StatusOptions{})
		if err != nil || st.Renames[0].EarlyWrites == nil || st.Renames[0].EarlyWrites.Count != 25 {
			t.Fatalf("status after verify found early writes: %v %+v", err, st)
		}
		// (cutover consumers refuses here: the early writes stand between
		// the copies, and the translation only crosses copies.)

		rb, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: f.from, ReverseGroup: "reverse-" + f.from})
		if err != nil {
			t.Fatalf("rollback: %v", err)
		}
		if !rb.ReverseCopy || rb.DirectRecords != 25 || !strings.HasPrefix(rb.NewTopic, "deleted") {
			t.Errorf("rollback result = %+v, want 25 direct records copied back and the new topic deleted", rb)
		}
		if f.exists(t, f.to) {
			t.Fatal("the new topic still exists after the rollback")
		}
		// Every early write is now in the old topic, byte for byte, once.
		found := map[string]int{}
		for _, recs := range f.records(t, f.from) {
			for _, m := range recs {
				if bytes.Contains(m.Value, []byte(`"topic":"`+f.to+`"`)) {
					found[string(m.Key)]++
				}
			}
		}
		for i := 1000; i < 1025; i++ {
			if n := found[fmt.Sprintf("k%d", i)]; n != 1 {
				t.Errorf("early write k%d is in the old topic %d time(s), want once", i, n)
			}
		}
		// The reader, still on the old topic, is where it was: the early
		// writes come after it.
		offsets, err := f.env.Admin.GroupOffsets(ctx, "reader")
		if err != nil {
			t.Fatal(err)
		}
		if offsets[f.from][0] != 15 || offsets[f.from][1] != 15 {
			t.Errorf("reader after rollback at %v, want 15 on each partition of %s", offsets[f.from], f.from)
		}
		rec, _, _ := f.env.Store.Rename(ctx, f.from)
		if rec.Phase != state.PhaseRolledBack || rec.Deleting != nil {
			t.Errorf("after rollback: phase %s, deletion %+v; want rolled-back and none", rec.Phase, rec.Deleting)
		}
	})
}

// TestProbeLeavesOthersTopicsAlone: plan --measure-stop used to delete a
// fixed topic name before and after its probe, whoever owned it.
func TestProbeLeavesOthersTopicsAlone(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		from, to := "safe.probe_old.v1", "safe.probe.old.v1"
		c.CreateTopic(t, from, 1, map[string]string{"retention.ms": "-1"})
		topic := from
		for i := 0; i < 50; i++ {
			c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(fmt.Sprintf("v%d", i))})
		}
		foreign := []string{"migrator.probe.copy-rate", lifecycle.ProbePrefix + "someone-else"}
		for _, name := range foreign {
			c.CreateTopic(t, name, 1, nil)
		}
		m, err := plan.ParseRenameMap("map.yaml", []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", from, to)))
		if err != nil {
			t.Fatal(err)
		}
		env := &lifecycle.Env{Admin: c.Admin(t), Map: m, Command: "test"}
		p, _, err := plan.Make(ctx, env.Admin, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := lifecycle.EstimateSwapStops(ctx, env, p, lifecycle.StopOptions{Measure: true}); err != nil {
			t.Fatalf("measure: %v", err)
		}
		snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range foreign {
			if snap.Topics[name] == nil {
				t.Errorf("the probe deleted %s, a topic it did not create", name)
			}
		}
	})
}

// TestRollbackResumesAfterACrashAtEachStep: a rollback killed after any of
// its steps is finished by running it again, with every record written to
// the new topic copied back exactly once, the new topic deleted, and
// phase rolled-back recorded only then.
func TestRollbackResumesAfterACrashAtEachStep(t *testing.T) {
	for _, step := range []string{lifecycle.RollbackFenced, lifecycle.RollbackCopiedBack, lifecycle.RollbackGroupsMoved, lifecycle.RollbackDeleted} {
		t.Run(step, func(t *testing.T) {
			run(t, func(t *testing.T, c *kafkatest.Cluster) {
				ctx := context.Background()
				f := newDualFixture(t, c, "crash.rb_old.v1", "crash.rb.new.v1")
				f.produce(t, f.from, 0, 20)
				f.mirror(t)
				if _, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: f.from, AllGroups: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := lifecycle.CutoverProducers(ctx, f.env, lifecycle.CutoverProducersOptions{Rename: f.from}); err != nil {
					t.Fatal(err)
				}
				f.produce(t, f.to, 500, 8) // producers moved: direct writes
				c.CommitOffsets(t, "app", f.to, map[int32]int64{0: 3, 1: 2})

				opts := lifecycle.RollbackOptions{Rename: f.from, ReverseGroup: "reverse-" + f.from}
				opts.AfterStep = func(s string) error {
					if s == step {
						return errCrash
					}
					return nil
				}
				if _, err := lifecycle.Rollback(ctx, f.env, opts); !errors.Is(err, errCrash) {
					t.Fatalf("rollback: %v, want the simulated crash after %s", err, step)
				}
				rec, _, _ := f.env.Store.Rename(ctx, f.from)
				if rec.Phase == state.PhaseRolledBack {
					t.Fatalf("phase rolled-back recorded before the rollback finished (crash after %s)", step)
				}
				if _, err := lifecycle.Rollback(ctx, f.env, lifecycle.RollbackOptions{Rename: f.from, ReverseGroup: "reverse-" + f.from}); err != nil {
					t.Fatalf("re-run after a crash after %s: %v", step, err)
				}
				if f.exists(t, f.to) {
					t.Error("the new topic still exists")
				}
				count := map[string]int{}
				for _, recs := range f.records(t, f.from) {
					for _, m := range recs {
						count[string(m.Key)]++
					}
				}
				for i := 500; i < 508; i++ {
					if n := count[fmt.Sprintf("k%d", i)]; n != 1 {
						t.Errorf("direct record k%d is in the old topic %d time(s), want once", i, n)
					}
				}
				offsets, err := f.env.Admin.GroupOffsets(ctx, "app")
				if err != nil {
					t.Fatal(err)
				}
				if len(offsets[f.from]) != dualPartitions || len(offsets[f.to]) != 0 {
					t.Errorf("app's offsets after the rollback: %v, want both partitions of %s only", offsets, f.from)
				}
				rec, _, _ = f.env.Store.Rename(ctx, f.from)
				if rec.Phase != state.PhaseRolledBack || rec.Deleting != nil {
					t.Errorf("after the re-run: phase %s, deletion %+v", rec.Phase, rec.Deleting)
				}
			})
		})
	}
}

// TestCutoverProvesEachTranslation: a group moves only when the record it
// resumes at in the new topic is the copy of the record it stopped at in
// the old one. With the copy of that record missing (and the bridge's
// offsets saying it was copied) cutover consumers refuses; once the record
// is known dead-lettered, the group moves to the next copy, as the bridge
// passed over it.
func TestCutoverProvesEachTranslation(t *testing.T) {
	run(t, func(t *testing.T, c *kafkatest.Cluster) {
		ctx := context.Background()
		f := newDualFixture(t, c, "cut.dlq_old.v1", "cut.dlq.new.v1")
		from, to := f.from, f.to
		var src, copies []*kafka.Message
		for i := range 10 {
			v := []byte(fmt.Sprintf("r%d", i))
			src = append(src, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &from, Partition: 0}, Value: v})
			if i != 3 {
				o := bridge.Origin{Topic: from, Partition: 0, Offset: int64(i)}
				copies = append(copies, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &to, Partition: 0}, Value: v,
					Headers: []kafka.Header{{Key: bridge.HeaderOrigin, Value: []byte(o.String())}}})
			}
		}
		c.Produce(t, src...)
		c.Produce(t, copies...)
		c.CommitOffsets(t, f.env.BridgeGroup, from, map[int32]int64{0: 10})
		c.CommitOffsets(t, "app", from, map[int32]int64{0: 3})

		_, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, AllGroups: true})
		if !errors.Is(err, lifecycle.ErrCopyMissing) || !strings.Contains(err.Error(), "has no copy of "+from+"/0@3") {
			t.Fatalf("cutover with the copy of %s/0@3 missing: %v, want ErrCopyMissing naming it", from, err)
		}
		offsets, err := c.Admin(t).GroupOffsets(ctx, "app")
		if err != nil || offsets[from][0] != 3 || len(offsets[to]) != 0 {
			t.Fatalf("after the refusal the group is at %v (%v), want it left at %s/0@3", offsets, err, from)
		}

		dlq := plan.DLQTopic(to)
		c.CreateTopic(t, dlq, 1, nil)
		dead := bridge.Origin{Topic: from, Partition: 0, Offset: 3}
		c.Produce(t, &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &dlq, Partition: 0}, Value: []byte("dead"),
			Headers: []kafka.Header{{Key: bridge.HeaderOrigin, Value: []byte(dead.String())}}})
		res, err := lifecycle.CutoverConsumers(ctx, f.env, lifecycle.CutoverConsumersOptions{Rename: from, AllGroups: true})
		if err != nil {
			t.Fatalf("cutover with %s/0@3 dead-lettered: %v", from, err)
		}
		// The copies are r0 r1 r2 r4 ...: the group resumes at r4, offset 3.
		if len(res.Groups) != 1 || len(res.Groups[0].Translations) != 1 || res.Groups[0].Translations[0].NewOffset != 3 {
			t.Fatalf("moves = %+v, want app to %s/0@3 (the copy of r4)", res.Groups, to)
		}
	})
}
