package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
)

// runBridge copies routes until caught up.
func runBridge(t *testing.T, c *kafkatest.Cluster, routes []bridge.Route, opts bridge.Options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts.Client = c.Config()
	opts.Routes = bridge.StaticRoutes(routes)
	opts.UntilCaughtUp = true
	if opts.Group == "" {
		opts.Group = strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	}
	if opts.InstanceID == "" {
		opts.InstanceID = "test-1"
	}
	if opts.Admin == nil {
		opts.Admin = c.Admin(t)
	}
	if opts.Headers == (bridge.HeaderPolicy{}) {
		opts.Headers = bridge.HeaderPolicy{Enrich: true}
	}
	opts.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	if err := bridge.Run(ctx, opts); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("bridge did not catch up within 2 minutes")
	}
}

func route(from, to string, partitions int32) bridge.Route {
	return bridge.Route{Rename: from, From: from, To: to, DLQ: to + ".dlq.v1", Start: "earliest",
		SourcePartitions: partitions, TargetPartitions: partitions, TargetMaxBytes: 1048588, TargetReplicationFactor: 1}
}

// produceTransactional writes msgs in one transaction and commits or aborts it.
func produceTransactional(t *testing.T, c *kafkatest.Cluster, id string, commit bool, msgs ...*kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := c.OpenTransaction(t, id, msgs...)
	var err error
	if commit {
		err = p.CommitTransaction(ctx)
	} else {
		err = p.AbortTransaction(ctx)
	}
	if err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

func msg(topic string, partition int32, key, value []byte, ts time.Time, headers ...kafka.Header) *kafka.Message {
	return &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Key: key, Value: value, Timestamp: ts, Headers: headers}
}

func header(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }

// TestBridgeCopiesEveryShape copies null keys, tombstones, binary and
// repeated headers, old timestamps, 3 partitions and committed and aborted
// transactions, and compares the target with the committed source record
// by record.
func TestBridgeCopiesEveryShape(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		// Kafka refuses null keys on compacted topics, so tombstones live in
		// a compacted pair and null keys in a plain one.
		const src, dst = "shapes.old_name.v1", "shapes.new.name.v1"
		const csrc, cdst = "shapes.state_table.v1", "shapes.profiles.v1"
		// Records from 2020 must not be deleted by the retention checker.
		compact := map[string]string{"cleanup.policy": "compact"}
		keep := map[string]string{"retention.ms": "-1"}
		c.CreateTopic(t, src, 3, keep)
		c.CreateTopic(t, dst, 3, keep)
		c.CreateTopic(t, csrc, 1, compact)
		c.CreateTopic(t, cdst, 1, compact)
		old := time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		envelope := []byte(`{"event_id":"ev-1","event_type":"huleedu.email.sent.v1","correlation_id":"corr-1","data":{"batch_id":"b1"}}`)
		c.Produce(t,
			msg(src, 0, nil, []byte("null key"), old),
			msg(src, 0, []byte("k1"), nil, old.Add(time.Second)), // null value
			msg(src, 0, []byte{}, []byte{}, old.Add(2*time.Second)),
			msg(src, 1, []byte("k2"), envelope, time.Now().Add(-time.Hour).Truncate(time.Millisecond),
				header("dup", "a"), header("dup", "b"), kafka.Header{Key: "bin", Value: []byte{0, 0xff, 0x80}}, header("X-Correlation-Id", "already-set")),
			msg(src, 2, []byte("k3"), []byte{0xde, 0xad, 0xbe, 0xef}, old),
			msg(csrc, 0, []byte("user-1"), []byte("v1"), old),
			msg(csrc, 0, []byte("user-1"), nil, old.Add(time.Second)), // tombstone
			msg(csrc, 0, []byte{}, []byte("empty key"), old),
		)
		produceTransactional(t, c, "shapes-committed", true,
			msg(src, 2, []byte("tx"), []byte("committed 1"), old), msg(src, 2, []byte("tx"), []byte("committed 2"), old))
		produceTransactional(t, c, "shapes-aborted", false,
			msg(src, 2, []byte("tx"), []byte("ABORTED"), old), msg(src, 1, []byte("tx"), []byte("ABORTED"), old))
		c.Produce(t, msg(src, 2, []byte("after"), []byte("after the abort"), old))

		runBridge(t, c, []bridge.Route{route(src, dst, 3), route(csrc, cdst, 1)}, bridge.Options{})

		total := 0
		for _, pair := range [][3]any{{src, dst, int32(3)}, {csrc, cdst, int32(1)}} {
			from, to, parts := pair[0].(string), pair[1].(string), pair[2].(int32)
			for p := int32(0); p < parts; p++ {
				want := c.ReadPartition(t, from, p)
				got := c.ReadPartition(t, to, p)
				if len(got) != len(want) {
					t.Fatalf("%s partition %d: %d records copied, want %d", from, p, len(got), len(want))
				}
				for i := range want {
					compareCopy(t, from, want[i], got[i])
					if strings.Contains(string(got[i].Value), "ABORTED") {
						t.Errorf("an aborted record was copied: %s", got[i].Value)
					}
				}
				total += len(got)
			}
		}
		if total != 11 {
			t.Errorf("copied %d records, want the 11 committed ones", total)
		}
		if tomb := c.ReadPartition(t, cdst, 0)[1]; tomb.Value != nil || string(tomb.Key) != "user-1" {
			t.Errorf("tombstone copied as key %q value %q (nil %v)", tomb.Key, tomb.Value, tomb.Value == nil)
		}
		// The envelope's ids became headers; an existing header stayed.
		got := c.ReadPartition(t, dst, 1)[0]
		if v := headerValues(got, "X-Idempotency-Key"); len(v) != 1 || v[0] != "ev-1" {
			t.Errorf("X-Idempotency-Key = %v, want [ev-1]", v)
		}
		if v := headerValues(got, "X-Correlation-Id"); len(v) != 1 || v[0] != "already-set" {
			t.Errorf("X-Correlation-Id = %v, want the existing [already-set]", v)
		}
		nonJSON := c.ReadPartition(t, dst, 2)[0]
		if v := headerValues(nonJSON, "X-Idempotency-Key"); len(v) != 1 || v[0] != src+"/2/0" {
			t.Errorf("X-Idempotency-Key of a non-JSON record = %v, want its origin", v)
		}
	})
}

// TestBridgeUntilCaughtUpWaitsForAnOpenTransaction copies a partition in
// which a transaction is still open when the bridge starts, followed by a
// committed record of another producer. A read_committed reader cannot
// see that record until the transaction ends, and Kafka writes a
// transaction's markers only after it answered the commit or abort, so
// the same happens briefly after every transaction. The bridge must not
// call itself caught up before it copied the record: it waits for the
// transaction, then copies it.
func TestBridgeUntilCaughtUpWaitsForAnOpenTransaction(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "opentxn.old_name.v1", "opentxn.new.name.v1"
		c.CreateTopic(t, src, 1, nil)
		c.CreateTopic(t, dst, 1, nil)
		now := time.Now().Truncate(time.Millisecond)
		c.Produce(t, msg(src, 0, []byte("k"), []byte("before"), now))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		txn := c.OpenTransaction(t, "held-open", msg(src, 0, []byte("k"), []byte("ABORTED"), now))
		c.Produce(t, msg(src, 0, []byte("k"), []byte("after"), now))

		done := make(chan error, 1)
		go func() {
			done <- bridge.Run(ctx, bridge.Options{
				Client: c.Config(), Routes: bridge.StaticRoutes{route(src, dst, 1)}, UntilCaughtUp: true, OneOff: true,
				Group: "opentxn", InstanceID: "opentxn", Admin: c.Admin(t),
				Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
			})
		}()
		// The bridge copies "before", the one record a read_committed
		// reader sees; it must still be running then.
		cl := c.Admin(t)
		for {
			res, err := cl.Kafka().ListOffsets(ctx, map[kafka.TopicPartition]kafka.OffsetSpec{{Topic: ptr(dst), Partition: 0}: kafka.LatestOffsetSpec},
				kafka.SetAdminIsolationLevel(kafka.IsolationLevelReadCommitted))
			if err != nil {
				t.Fatalf("end of %s: %v", dst, err)
			}
			copied := false
			for _, info := range res.ResultInfos {
				copied = info.Error.Code() == kafka.ErrNoError && info.Offset >= 1
			}
			if copied {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the bridge ended (%v) before copying the committed record ahead of the open transaction", err)
			case <-ctx.Done():
				t.Fatal("the bridge copied nothing within 2 minutes")
			case <-time.After(20 * time.Millisecond):
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the bridge ended (%v) while an open transaction hid a committed record from it", err)
		case <-time.After(time.Second):
		}
		if err := txn.AbortTransaction(ctx); err != nil {
			t.Fatalf("abort: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("bridge: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the bridge did not catch up within 2 minutes")
		}
		var got []string
		for _, m := range c.ReadPartition(t, dst, 0) {
			got = append(got, string(m.Value))
		}
		if strings.Join(got, ",") != "before,after" {
			t.Errorf("copied %q, want [before after]", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// compareCopy checks that got is the copy of want: same key and value
// (null stays null, empty stays empty), want's headers first and in order,
// only the bridge's headers added, the origin header right, same timestamp.
func compareCopy(t *testing.T, srcTopic string, want, got *kafka.Message) {
	t.Helper()
	at := fmt.Sprintf("%s/%d/%d", srcTopic, want.TopicPartition.Partition, want.TopicPartition.Offset)
	if (want.Key == nil) != (got.Key == nil) || !bytes.Equal(want.Key, got.Key) {
		t.Errorf("%s: key %q (nil %v), want %q (nil %v)", at, got.Key, got.Key == nil, want.Key, want.Key == nil)
	}
	if (want.Value == nil) != (got.Value == nil) || !bytes.Equal(want.Value, got.Value) {
		t.Errorf("%s: value %q (nil %v), want %q (nil %v)", at, got.Value, got.Value == nil, want.Value, want.Value == nil)
	}
	if !got.Timestamp.Equal(want.Timestamp) || got.TimestampType != kafka.TimestampCreateTime {
		t.Errorf("%s: timestamp %v (%v), want %v CreateTime", at, got.Timestamp, got.TimestampType, want.Timestamp)
	}
	if len(got.Headers) < len(want.Headers) {
		t.Fatalf("%s: headers %v lack the source's %v", at, got.Headers, want.Headers)
	}
	for i, h := range want.Headers {
		if got.Headers[i].Key != h.Key || !bytes.Equal(got.Headers[i].Value, h.Value) {
			t.Errorf("%s: header %d = %s=%x, want %s=%x", at, i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
		}
	}
	added := map[string]bool{}
	for _, h := range bridge.AddedHeaders {
		added[h] = true
	}
	for _, h := range got.Headers[len(want.Headers):] {
		if !added[h.Key] {
			t.Errorf("%s: the bridge added header %q, which is not one of its own", at, h.Key)
		}
	}
	if origin, ok := bridge.OriginOf(got.Headers); !ok || origin.String() != at {
		t.Errorf("%s: origin header %v (%v)", at, origin, ok)
	}
}

func headerValues(m *kafka.Message, key string) []string {
	var out []string
	for _, h := range m.Headers {
		if h.Key == key {
			out = append(out, string(h.Value))
		}
	}
	return out
}

// deadLettered checks that dst holds the copies of "before" and "after"
// and dlq one dead letter, which it returns decoded. At least once, a
// copy with the origin of an earlier one (a retry's) counts once.
func deadLettered(t *testing.T, c *kafkatest.Cluster, dst, dlq string, delivery bridge.Delivery) *bridge.DeadLetter {
	t.Helper()
	var got []string
	seen := map[string]bool{}
	for _, m := range c.ReadPartition(t, dst, 0) {
		origin := headerValues(m, bridge.HeaderOrigin)
		if len(origin) != 1 {
			t.Fatalf("copy %q has origin headers %q", m.Value, origin)
		}
		if delivery == bridge.AtLeastOnce && seen[origin[0]] {
			continue
		}
		seen[origin[0]] = true
		got = append(got, string(m.Value))
	}
	if !slices.Equal(got, []string{"before", "after"}) {
		t.Fatalf("target holds %q, want before and after", got)
	}
	dead := c.ReadPartition(t, dlq, 0)
	if len(dead) != 1 {
		t.Fatalf("DLQ holds %d records, want 1", len(dead))
	}
	dl, err := bridge.DecodeDeadLetter(dead[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return dl
}

// TestBridgeDeadLetters sends a record larger than the target's
// max.message.bytes to the DLQ, with its envelope, and copies the records
// after it: when the route knows the limit (the record never leaves), and
// when only the broker does and refuses it (the first attempt asks for no
// delivery report; its commit fails and the retry finds the record).
func TestBridgeDeadLetters(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		for _, tc := range []struct {
			name     string
			known    bool
			delivery bridge.Delivery
		}{
			{"limit-known", true, bridge.ExactlyOnce},
			{"refused-by-the-broker", false, bridge.ExactlyOnce},
			// At least once, the first attempt's gapless producer fails for
			// good on the refusal; the retry runs on a new producer that
			// reports every record and finds the one to dead-letter.
			{"refused-by-the-broker-at-least-once", false, bridge.AtLeastOnce},
		} {
			t.Run(tc.name, func(t *testing.T) {
				src, dst := "dlq.source."+tc.name+".v1", "dlq.target."+tc.name+".v1"
				c.CreateTopic(t, src, 1, map[string]string{"max.message.bytes": "2000000"})
				c.CreateTopic(t, dst, 1, map[string]string{"max.message.bytes": "100000"})
				big := bytes.Repeat([]byte{0xfe}, 500_000)
				ts := time.Now().Truncate(time.Millisecond)
				c.Produce(t,
					msg(src, 0, []byte("a"), []byte("before"), ts),
					msg(src, 0, []byte("big"), big, ts, header("h", "v")),
					msg(src, 0, []byte("b"), []byte("after"), ts),
				)
				r := route(src, dst, 1)
				if tc.known {
					r.TargetMaxBytes = 100000
				}
				runBridge(t, c, []bridge.Route{r}, bridge.Options{Delivery: tc.delivery})

				dl := deadLettered(t, c, dst, r.DLQ, tc.delivery)
				if dl.OriginalTopic != src || dl.TargetTopic != dst || dl.ErrorType != "MSG_SIZE_TOO_LARGE" || dl.OriginalEvent.Offset != 1 || dl.FailedByService == "" {
					t.Errorf("dead letter = %+v", dl)
				}
				value, err := dl.OriginalEvent.ValueBytesDecoded()
				if err != nil || !bytes.Equal(value, big) {
					t.Errorf("dead letter value: %d bytes, err %v; want the original 500000", len(value), err)
				}
				if key, _ := dl.OriginalEvent.KeyBytes(); string(key) != "big" || len(dl.OriginalEvent.Headers) != 1 {
					t.Errorf("dead letter key %q headers %+v", key, dl.OriginalEvent.Headers)
				}
				if tc.delivery == bridge.AtLeastOnce {
					return // verify takes a duplicate copy for a divergence.
				}
				// verify accounts for the dead letter: every source record is in
				// the target or in its DLQ.
				rep, err := lifecycle.CompareCopy(context.Background(), c.Config(), src, dst, r.DLQ, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				if p := rep.Partitions[0]; !rep.OK() || p.Compared != 2 || p.DeadLettered != 1 {
					t.Errorf("verify: %+v", p)
				}
			})
		}
	})
}

// TestBridgeBothDirections runs forward and reverse together over the same
// pair while both topics get new records: each record ends up once in the
// other topic and nothing loops.
func TestBridgeBothDirections(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const a, b = "loop.old.v1", "loop.new.v1"
		c.CreateTopic(t, a, 2, nil)
		c.CreateTopic(t, b, 2, nil)
		ts := time.Now().Truncate(time.Millisecond)
		for round := 0; round < 3; round++ {
			c.Produce(t, msg(a, 0, []byte("ka"), []byte(fmt.Sprintf("from a %d", round)), ts), msg(a, 1, nil, []byte(fmt.Sprintf("from a %d/1", round)), ts))
			c.Produce(t, msg(b, 1, []byte("kb"), []byte(fmt.Sprintf("from b %d", round)), ts))
			runBridge(t, c, []bridge.Route{route(a, b, 2)}, bridge.Options{Group: "forward", InstanceID: "fwd"})
			rev := route(b, a, 2)
			rev.Rename = a
			runBridge(t, c, []bridge.Route{rev}, bridge.Options{Group: "reverse", InstanceID: "rev"})
		}
		count := func(topic string) map[string]int {
			n := map[string]int{}
			for p := int32(0); p < 2; p++ {
				for _, m := range c.ReadPartition(t, topic, p) {
					n[string(m.Value)]++
				}
			}
			return n
		}
		for topic, counts := range map[string]map[string]int{a: count(a), b: count(b)} {
			if len(counts) != 9 {
				t.Errorf("%s holds %d distinct records, want 9 (6 from a, 3 from b): %v", topic, len(counts), counts)
			}
			for v, n := range counts {
				if n != 1 {
					t.Errorf("%s holds %q %d times", topic, v, n)
				}
			}
		}
	})
}

// TestBridgeAtLeastOnce copies with the idempotent producer and offsets
// committed after the acknowledgements: every record arrives, in order.
func TestBridgeAtLeastOnce(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "alo.old_name.v1", "alo.new.name.v1"
		c.CreateTopic(t, src, 2, nil)
		c.CreateTopic(t, dst, 2, nil)
		var msgs []*kafka.Message
		for i := 0; i < 500; i++ {
			msgs = append(msgs, msg(src, int32(i%2), []byte(fmt.Sprint(i%7)), []byte(fmt.Sprint(i)), time.Now()))
		}
		c.Produce(t, msgs...)
		runBridge(t, c, []bridge.Route{route(src, dst, 2)}, bridge.Options{Delivery: bridge.AtLeastOnce, MaxBatchRecords: 50})
		for p := int32(0); p < 2; p++ {
			want, got := c.ReadPartition(t, src, p), c.ReadPartition(t, dst, p)
			if len(got) != len(want) {
				t.Fatalf("partition %d: %d copies of %d records", p, len(got), len(want))
			}
			for i := range want {
				compareCopy(t, src, want[i], got[i])
			}
		}
	})
}

// TestBridgeStartAtTime starts a route at a time: records before it are
// not copied, records from it on are.
func TestBridgeStartAtTime(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "start.old_name.v1", "start.new.name.v1"
		c.CreateTopic(t, src, 1, nil)
		c.CreateTopic(t, dst, 1, nil)
		cut := time.Now().Add(-time.Hour).Truncate(time.Second)
		c.Produce(t,
			msg(src, 0, nil, []byte("before 1"), cut.Add(-2*time.Hour)),
			msg(src, 0, nil, []byte("before 2"), cut.Add(-time.Millisecond)),
			msg(src, 0, nil, []byte("at"), cut),
			msg(src, 0, nil, []byte("after"), cut.Add(time.Minute)),
		)
		r := route(src, dst, 1)
		r.Start = cut.Format(time.RFC3339)
		runBridge(t, c, []bridge.Route{r}, bridge.Options{})
		got := c.ReadPartition(t, dst, 0)
		if len(got) != 2 || string(got[0].Value) != "at" || string(got[1].Value) != "after" {
			var vals []string
			for _, m := range got {
				vals = append(vals, string(m.Value))
			}
			t.Fatalf("copied %q, want [at after]", vals)
		}
	})
}

// changingRoutes returns first and, once switched, second.
type changingRoutes struct {
	first, second []bridge.Route
	switched      atomic.Bool
}

func (r *changingRoutes) Routes(context.Context) ([]bridge.Route, error) {
	if r.switched.Load() {
		return r.second, nil
	}
	return r.first, nil
}

// TestBridgePicksUpNewRoutes adds a rename while the bridge runs: without
// a restart, its records are copied too, and the first route's copy goes
// on exactly once.
func TestBridgePicksUpNewRoutes(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		for _, name := range []string{"routes.a_old.v1", "routes.a.new.v1", "routes.b_old.v1", "routes.b.new.v1"} {
			c.CreateTopic(t, name, 1, nil)
		}
		a, b := route("routes.a_old.v1", "routes.a.new.v1", 1), route("routes.b_old.v1", "routes.b.new.v1", 1)
		src := &changingRoutes{first: []bridge.Route{a}, second: []bridge.Route{a, b}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "routes", InstanceID: "r1", Routes: src,
				Refresh: 200 * time.Millisecond, Admin: c.Admin(t), Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
		}()
		now := time.Now()
		c.Produce(t, msg(a.From, 0, nil, []byte("a1"), now), msg(b.From, 0, nil, []byte("b1"), now))
		waitForRecords(t, c, a.To, 1)
		src.switched.Store(true)
		c.Produce(t, msg(a.From, 0, nil, []byte("a2"), now), msg(b.From, 0, nil, []byte("b2"), now))
		waitForRecords(t, c, b.To, 2)
		waitForRecords(t, c, a.To, 2)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := c.ReadPartition(t, a.To, 0); len(got) != 2 {
			t.Errorf("%s holds %d records, want 2", a.To, len(got))
		}
	})
}

func waitForRecords(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(c.ReadPartition(t, topic, 0)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %d records", topic, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBridgeCommitsPastTrailingMarkers: a partition that ends in a
// transaction marker or in aborted records has nothing left to copy, so
// the bridge's group must stand at its end offset, or drain, status and
// cutover would wait forever for records that do not exist.
func TestBridgeCommitsPastTrailingMarkers(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "markers.old_name.v1", "markers.new.name.v1"
		keep := map[string]string{"retention.ms": "-1"}
		c.CreateTopic(t, src, 2, keep)
		c.CreateTopic(t, dst, 2, keep)
		now := time.Now().Truncate(time.Millisecond)
		produceTransactional(t, c, "markers-committed", true, msg(src, 0, []byte("k"), []byte("committed"), now))
		c.Produce(t, msg(src, 1, []byte("k"), []byte("plain"), now))
		produceTransactional(t, c, "markers-aborted", false, msg(src, 1, []byte("k"), []byte("ABORTED"), now))

		group := "markers-bridge"
		runBridge(t, c, []bridge.Route{route(src, dst, 2)}, bridge.Options{Group: group})

		ctx := context.Background()
		cl := c.Admin(t)
		offsets, err := cl.GroupOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 2; p++ {
			_, high, err := cl.Producer().QueryWatermarkOffsets(src, p, 5000)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsets[src][p]; got != high {
				t.Errorf("partition %d: the bridge's group is at %d, want the end offset %d", p, got, high)
			}
		}
		if n := len(c.ReadPartition(t, dst, 0)) + len(c.ReadPartition(t, dst, 1)); n != 2 {
			t.Errorf("%d records copied, want the 2 committed ones", n)
		}
	})
}

// TestBridgeTakenOverExits starts a second bridge with the first one's
// group and instance id, as an operator who starts the mirror twice does:
// the second fences the first (its transactional producer and its static
// consumer), and the first must exit promptly with an error that says
// so, not hang; the second copies everything, each record once.
func TestBridgeTakenOverExits(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const from, to = "takeover.old_name.v1", "takeover.new.name.v1"
		c.CreateTopic(t, from, 2, nil)
		c.CreateTopic(t, to, 2, nil)
		r := route(from, to, 2)
		start := func(ctx context.Context, untilCaughtUp bool) chan error {
			done := make(chan error, 1)
			go func() {
				done <- bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "takeover", InstanceID: "same",
					Routes: bridge.StaticRoutes([]bridge.Route{r}), Admin: c.Admin(t), UntilCaughtUp: untilCaughtUp,
					Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
			}()
			return done
		}
		now := time.Now()
		var first []*kafka.Message
		for i := range 200 {
			first = append(first, msg(from, int32(i%2), []byte(fmt.Sprint(i)), []byte(fmt.Sprint("v", i)), now))
		}
		c.Produce(t, first...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a := start(ctx, false)
		waitForRecords(t, c, to, 100)

		bctx, bcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer bcancel()
		b := start(bctx, false)
		waitFenced(t, a)
		var second []*kafka.Message
		for i := 200; i < 300; i++ {
			second = append(second, msg(from, int32(i%2), []byte(fmt.Sprint(i)), []byte(fmt.Sprint("v", i)), now))
		}
		c.Produce(t, second...)
		deadline := time.Now().Add(time.Minute)
		for len(c.ReadPartition(t, to, 0))+len(c.ReadPartition(t, to, 1)) < 300 {
			if time.Now().After(deadline) {
				t.Fatalf("the second bridge did not copy all 300 records within a minute")
			}
			time.Sleep(200 * time.Millisecond)
		}
		bcancel()
		if err := <-b; err != nil {
			t.Fatalf("second bridge: %v", err)
		}
		for p := int32(0); p < 2; p++ {
			got := c.ReadPartition(t, to, p)
			if len(got) != 150 {
				t.Errorf("%s/%d holds %d records, want 150 (each once)", to, p, len(got))
			}
			for i, m := range got {
				if want := fmt.Sprint("v", 2*i+int(p)); string(m.Value) != want {
					t.Errorf("%s/%d offset %d = %q, want %q", to, p, i, m.Value, want)
					break
				}
			}
		}
	})
}

// waitFenced waits for the bridge whose Run result comes on a to end
// fenced: with an error naming instance id "same", within a minute.
func waitFenced(t *testing.T, a <-chan error) {
	t.Helper()
	select {
	case err := <-a:
		if err == nil || !strings.Contains(err.Error(), `instance id "same"`) {
			t.Fatalf("the fenced bridge returned %v, want an error naming instance id \"same\"", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the fenced bridge still runs a minute after another took its instance id")
	}
}

// TestBridgeDeadLettersARecordItsClientRefuses copies a record that both
// topics accept but that is larger than the bridge's own producer takes
// (message.max.bytes, 17 MiB): librdkafka refuses it at once, with no
// delivery report, and the bridge sends it to the DLQ and copies the
// records after it. It waited for that report until its context ended
// before.
func TestBridgeDeadLettersARecordItsClientRefuses(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const src, dst = "client-refuses.source.v1", "client-refuses.target.v1"
		limits := map[string]string{"max.message.bytes": "30000000"}
		c.CreateTopic(t, src, 1, limits)
		c.CreateTopic(t, dst, 1, limits)
		huge := bytes.Repeat([]byte{0xab}, 18<<20)
		p, err := kafka.NewProducer(c.ConfigMap(kafka.ConfigMap{"message.max.bytes": 30000000, "go.delivery.reports": false}))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ts := time.Now().Truncate(time.Millisecond)
		for _, m := range []*kafka.Message{
			msg(src, 0, []byte("a"), []byte("before"), ts),
			msg(src, 0, []byte("huge"), huge, ts),
			msg(src, 0, []byte("b"), []byte("after"), ts),
		} {
			if err := p.Produce(m, nil); err != nil {
				t.Fatal(err)
			}
			// One batch each: the huge record alone.
			if left := p.Flush(30_000); left != 0 {
				t.Fatalf("%d record(s) not written to %s", left, src)
			}
		}
		if n := len(c.ReadPartition(t, src, 0)); n != 3 {
			t.Fatalf("%s holds %d records, want 3", src, n)
		}
		r := route(src, dst, 1)
		r.TargetMaxBytes = 30000000 // the target takes it: only the client refuses
		runBridge(t, c, []bridge.Route{r}, bridge.Options{})

		dl := deadLettered(t, c, dst, r.DLQ, bridge.ExactlyOnce)
		if dl.ErrorType != "MSG_SIZE_TOO_LARGE" || dl.OriginalEvent.Offset != 1 || !dl.OriginalEvent.ValueTruncated {
			t.Errorf("dead letter: error type %s, offset %d, value truncated %v; want MSG_SIZE_TOO_LARGE, 1, true",
				dl.ErrorType, dl.OriginalEvent.Offset, dl.OriginalEvent.ValueTruncated)
		}
	})
}
