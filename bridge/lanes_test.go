package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/kafkatest"
)

// syncBuffer is a log sink the bridge's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   *testing.T
	// onLine, when set, is told every line written.
	onLine func(line string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line := strings.TrimRight(string(p), "\n")
	b.t.Log(line)
	if b.onLine != nil {
		b.onLine(line)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lanesBacklog produces n records over parts partitions of topic, each
// with its index in the value and a header, and returns them.
func lanesBacklog(t *testing.T, c *kafkatest.Cluster, topic string, parts, from, n int) {
	t.Helper()
	now := time.Now().Truncate(time.Millisecond)
	msgs := make([]*kafka.Message, 0, n)
	for i := from; i < from+n; i++ {
		msgs = append(msgs, msg(topic, int32(i%parts), []byte(fmt.Sprint("k", i%17)), []byte(fmt.Sprint("v", i)), now.Add(time.Duration(i)*time.Millisecond),
			header("seq", fmt.Sprint(i))))
	}
	c.Produce(t, msgs...)
}

// assertExactCopy checks that every partition of to holds the copies of
// from's records, each once, in order, with their origins.
func assertExactCopy(t *testing.T, c *kafkatest.Cluster, from, to string, parts int) {
	t.Helper()
	for p := int32(0); p < int32(parts); p++ {
		want, got := c.ReadPartition(t, from, p), c.ReadPartition(t, to, p)
		if len(got) != len(want) {
			t.Fatalf("%s/%d: %d copies of %d records", to, p, len(got), len(want))
		}
		for i := range want {
			compareCopy(t, from, want[i], got[i])
		}
	}
}

// TestBridgeLanesKeepOrder copies six partitions with three lanes and
// batches small enough that many are in flight at once: every partition's
// records arrive once, byte for byte, in order and with their origins,
// exactly once and at least once.
func TestBridgeLanesKeepOrder(t *testing.T) {
	for _, delivery := range []bridge.Delivery{bridge.ExactlyOnce, bridge.AtLeastOnce} {
		t.Run(string(delivery), func(t *testing.T) {
			kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
				const src, dst, parts = "lanes.old_name.v1", "lanes.new.name.v1", 6
				c.CreateTopic(t, src, parts, nil)
				c.CreateTopic(t, dst, parts, nil)
				lanesBacklog(t, c, src, parts, 0, 1800)
				logs := &syncBuffer{t: t}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				err := bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "lanes-" + string(delivery), InstanceID: "lanes",
					Delivery: delivery, Lanes: 3, MaxBatchRecords: 40, UntilCaughtUp: true,
					Routes: bridge.StaticRoutes([]bridge.Route{route(src, dst, parts)}), Admin: c.Admin(t),
					Log: slog.New(slog.NewTextHandler(logs, nil))})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(logs.String(), "lanes=3") {
					t.Errorf("the bridge did not deal the partitions to 3 lanes")
				}
				assertExactCopy(t, c, src, dst, parts)
			})
		})
	}
}

// TestBridgeSuccessorWithFewerLanesFencesZombie: a bridge with three lanes
// is taken over by one with the same instance id and a single lane. The
// successor's InitTransactions fences only lane 0; the old process's other
// lanes are fenced by the group metadata (KIP-447: their offsets cannot
// commit for a member the group replaced). The old one must exit with an
// error naming the instance id, and every record arrive once, in order.
func TestBridgeSuccessorWithFewerLanesFencesZombie(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const from, to, parts = "lanesfence.old_name.v1", "lanesfence.new.name.v1", 6
		c.CreateTopic(t, from, parts, nil)
		c.CreateTopic(t, to, parts, nil)
		r := route(from, to, parts)
		copied := make(chan struct{})
		var once sync.Once
		start := func(ctx context.Context, lanes int, progress func(done, total int64)) chan error {
			done := make(chan error, 1)
			go func() {
				done <- bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "lanesfence", InstanceID: "same", Lanes: lanes,
					MaxBatchRecords: 30, Routes: bridge.StaticRoutes([]bridge.Route{r}), Admin: c.Admin(t), Progress: progress,
					Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
			}()
			return done
		}
		lanesBacklog(t, c, from, parts, 0, 1200)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a := start(ctx, 3, func(done, _ int64) {
			if done >= 300 {
				once.Do(func() { close(copied) })
			}
		})
		select {
		case <-copied:
		case err := <-a:
			t.Fatalf("the first bridge ended before copying 300 records: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("the first bridge did not copy 300 records within a minute")
		}
		bctx, bcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer bcancel()
		b := start(bctx, 1, nil)
		waitFenced(t, a)
		lanesBacklog(t, c, from, parts, 1200, 300)
		waitForCopies(t, c, to, parts, 1500, b)
		bcancel()
		if err := <-b; err != nil {
			t.Fatalf("second bridge: %v", err)
		}
		assertExactCopy(t, c, from, to, parts)
	})
}

// waitForCopies waits until the partitions of topic hold n records, or
// fails when a bridge ends first.
func waitForCopies(t *testing.T, c *kafkatest.Cluster, topic string, parts, n int, bridges ...chan error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		total := 0
		for p := range parts {
			total += len(c.ReadPartition(t, topic, int32(p)))
		}
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d records, not %d, after 90s", topic, total, n)
		}
		for _, b := range bridges {
			select {
			case err := <-b:
				t.Fatalf("a bridge ended with %s at %d of %d records: %v", topic, total, n, err)
			default:
			}
		}
		<-tick.C
	}
}

// TestBridgeRebalanceMidPipeline: two dynamic members of one group copy
// with three lanes each and small batches, so that the rebalances when the
// second joins and when the first leaves happen while lanes hold batches
// in flight (committed, given up for a lost generation, or drained by the
// revocation). Nothing may be lost or copied twice.
func TestBridgeRebalanceMidPipeline(t *testing.T) {
	kafkatest.Run(t, func(t *testing.T, c *kafkatest.Cluster) {
		const from, to, parts = "lanesrebalance.old_name.v1", "lanesrebalance.new.name.v1", 6
		c.CreateTopic(t, from, parts, nil)
		c.CreateTopic(t, to, parts, nil)
		r := route(from, to, parts)
		start := func(ctx context.Context, instance string, progress func(done, total int64), onLog func(string)) chan error {
			logs := &syncBuffer{t: t, onLine: onLog}
			done := make(chan error, 1)
			go func() {
				done <- bridge.Run(ctx, bridge.Options{Client: c.Config(), Group: "lanesrebalance", InstanceID: instance, Lanes: 3,
					OneOff: true, MaxBatchRecords: 20, Routes: bridge.StaticRoutes([]bridge.Route{r}), Admin: c.Admin(t), Progress: progress,
					Log: slog.New(slog.NewTextHandler(logs, nil))})
			}()
			return done
		}
		lanesBacklog(t, c, from, parts, 0, 20000)
		progressed := func(n int64) (func(done, total int64), chan struct{}) {
			ch := make(chan struct{})
			var once sync.Once
			return func(done, _ int64) {
				if done >= n {
					once.Do(func() { close(ch) })
				}
			}, ch
		}
		wait := func(what string, ch chan struct{}, bridges ...chan error) {
			t.Helper()
			for _, b := range bridges {
				select {
				case err := <-b:
					t.Fatalf("a bridge ended before %s: %v", what, err)
				default:
				}
			}
			select {
			case <-ch:
			case <-time.After(time.Minute):
				t.Fatalf("no %s within a minute", what)
			}
		}
		actx, acancel := context.WithCancel(context.Background())
		defer acancel()
		pa, aCopied := progressed(200)
		a := start(actx, "a", pa, nil)
		wait("copy by the first bridge", aCopied, a)

		bctx, bcancel := context.WithCancel(context.Background())
		defer bcancel()
		assigned := make(chan struct{})
		var once sync.Once
		b := start(bctx, "b", nil, func(line string) {
			if strings.Contains(line, "msg=assigned") {
				once.Do(func() { close(assigned) })
			}
		})
		wait("assignment of the second bridge", assigned, a, b)
		lanesBacklog(t, c, from, parts, 20000, 600)

		acancel()
		if err := <-a; err != nil {
			t.Fatalf("first bridge: %v", err)
		}
		waitForCopies(t, c, to, parts, 20600, b)
		bcancel()
		if err := <-b; err != nil {
			t.Fatalf("second bridge: %v", err)
		}
		assertExactCopy(t, c, from, to, parts)
	})
}
