// Command hopbench measures a `strategy: hop` rename on a real broker: a
// topic of -bytes of 1 KiB records, with -groups consumer groups stopped
// part-way through it, goes old → interim → new as two dual renames. It
// times every step of both hops, above all the two client moves (cutover
// consumers, drain and cutover producers) that take the place of the
// swap's stop, and checks that every group resumes on the new topic at
// exactly the record it stopped before on the old one.
//
//	go run ./bench/hopbench -bootstrap 127.0.0.1:9092 -bytes 268435456
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/bench/benchkafka"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

var (
	bootstrap  = flag.String("bootstrap", os.Getenv("KAFKA_BOOTSTRAP_SERVERS"), "Kafka bootstrap servers")
	totalBytes = flag.Int64("bytes", 256<<20, "bytes of record values in the renamed topic")
	size       = flag.Int("size", 1024, "record value size in bytes (at least 32)")
	partitions = flag.Int("partitions", 6, "partitions")
	groups     = flag.Int("groups", 3, "consumer groups stopped part-way through the old topic")
)

const (
	from    = "bench.hop_rename.v1"
	to      = "bench.hop.rename.v1"
	interim = "bench.hop.rename.hop.v1"
)

func main() {
	flag.Parse()
	if *bootstrap == "" {
		log.Fatal("hopbench: -bootstrap or KAFKA_BOOTSTRAP_SERVERS is needed")
	}
	if *size < 32 {
		log.Fatal("hopbench: -size must be at least 32 bytes (each value starts with its partition and index)")
	}
	if err := run(context.Background()); err != nil {
		log.Fatalf("hopbench: %v", err)
	}
}

// step is one timed step of a hop.
type step struct {
	name string
	took [2]time.Duration // hop 1, hop 2
}

func run(ctx context.Context) error {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := admin.Connect(ctx, clientconfig.Config{BootstrapServers: *bootstrap}, quiet)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, t := range []string{from, interim, to} {
		if err := cl.DeleteTopic(ctx, t); err != nil {
			return err
		}
	}
	errs, err := cl.CreateTopics(ctx, []admin.TopicSpec{{Name: from, Partitions: *partitions, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "-1"}}}, false)
	if err == nil {
		err = errs[from]
	}
	if err != nil {
		return err
	}
	if err := cl.WaitForTopics(ctx, []string{from}, true); err != nil {
		return err
	}
	n := int(*totalBytes / int64(*size))
	t0 := time.Now()
	if err := load(from, n); err != nil {
		return err
	}
	fmt.Printf("loaded %d records of %d B (%.2f GB) into %s in %s\n", n, *size, float64(n**size)/1e9, from, time.Since(t0).Round(time.Millisecond))

	// Each group stopped at its own fraction of every partition; what it
	// reads next there is what it must read next on the new topic.
	stopped, next, err := stopGroups(ctx, cl, n)
	if err != nil {
		return err
	}

	m, err := plan.ParseRenameMap("bench.yaml", []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: hop, interim: %s}\n", from, to, interim)))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		return err
	}
	env := &lifecycle.Env{Admin: cl, Store: st, Map: m, Command: "hopbench", Log: quiet, BridgeGroup: "hopbench-bridge"}

	steps := []*step{{name: "apply (create the target)"}, {name: "mirror: the bridge copies the backlog (clients keep running)"},
		{name: fmt.Sprintf("cutover consumers (%d groups, exact translation)", *groups)}, {name: "drain + cutover producers"},
		{name: "verify (record by record)"}, {name: "retire (safety proof, delete)"}}
	for hop, rename := range []string{from, interim} {
		timed := func(s *step, f func() error) error {
			start := time.Now()
			if err := f(); err != nil {
				return fmt.Errorf("hop %d: %s: %w", hop+1, s.name, err)
			}
			s.took[hop] = time.Since(start)
			fmt.Printf("hop %d: %s: %s\n", hop+1, s.name, s.took[hop].Round(time.Millisecond))
			return nil
		}
		if err := timed(steps[0], func() error {
			res, err := lifecycle.Apply(ctx, env, lifecycle.ApplyOptions{Renames: []string{rename}})
			if err == nil && res.Failed() > 0 {
				err = fmt.Errorf("%+v", res)
			}
			return err
		}); err != nil {
			return err
		}
		for _, f := range []func() error{
			func() error { return timed(steps[1], func() error { return mirror(ctx, env, rename) }) },
			func() error {
				return timed(steps[2], func() error {
					_, err := lifecycle.CutoverConsumers(ctx, env, lifecycle.CutoverConsumersOptions{Rename: rename, AllGroups: true})
					return err
				})
			},
			func() error {
				return timed(steps[3], func() error {
					if _, err := lifecycle.Drain(ctx, env, lifecycle.DrainOptions{Rename: rename, Timeout: time.Minute}); err != nil {
						return err
					}
					_, err := lifecycle.CutoverProducers(ctx, env, lifecycle.CutoverProducersOptions{Rename: rename})
					return err
				})
			},
			func() error {
				return timed(steps[4], func() error {
					res, err := lifecycle.Verify(ctx, env, lifecycle.VerifyOptions{Renames: []string{rename}})
					if err == nil && !res.Passed() {
						err = fmt.Errorf("verify failed: %+v", res.Problems)
					}
					return err
				})
			},
			func() error {
				return timed(steps[5], func() error {
					_, err := lifecycle.Retire(ctx, env, lifecycle.RetireOptions{Rename: rename, Force: true, Reason: "hopbench"})
					return err
				})
			},
		} {
			if err := f(); err != nil {
				return err
			}
		}
	}

	if err := checkResumes(ctx, cl, stopped, next); err != nil {
		return err
	}
	fmt.Printf("\nevery group (%d) resumes on %s at exactly the record it stopped before on %s\n\n", *groups, to, from)
	fmt.Printf("| step | hop 1 (%s → interim) | hop 2 (interim → %s) |\n|---|---|---|\n", from, to)
	var moves [2]time.Duration
	for _, s := range steps {
		fmt.Printf("| %s | %s | %s |\n", s.name, s.took[0].Round(time.Millisecond), s.took[1].Round(time.Millisecond))
	}
	for hop := range 2 {
		moves[hop] = steps[2].took[hop] + steps[3].took[hop]
	}
	fmt.Printf("| **client moves** (cutover consumers + drain + cutover producers) | **%s** | **%s** |\n", moves[0].Round(time.Millisecond), moves[1].Round(time.Millisecond))
	fmt.Printf("| stop (every client of the topic waiting) | none | none |\n")
	return cl.DeleteTopic(ctx, to)
}

// mirror runs the forward bridge over the map until it copied everything
// written so far, as `migrator mirror --until-caught-up` does.
func mirror(ctx context.Context, env *lifecycle.Env, rename string) error {
	routes := &lifecycle.MapRoutes{Map: env.Map, Admin: env.Admin, Store: env.Store, Only: []string{rename}, Command: "hopbench mirror", Log: env.Log}
	return bridge.Run(ctx, bridge.Options{Client: env.Admin.Config(), Group: env.BridgeGroup, InstanceID: "hopbench", UntilCaughtUp: true,
		OneOff: true, Admin: env.Admin, Routes: routes, Refresh: time.Hour, Log: env.Log})
}

// load writes n records of -size bytes round-robin over the partitions;
// each value starts with "partition/index " so that a record can be told
// from every other.
func load(topic string, n int) error {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "linger.ms": 20, "batch.size": 1 << 20,
		"queue.buffering.max.messages": 500000, "go.delivery.reports": false, "log_level": 3})
	if err != nil {
		return err
	}
	defer p.Close()
	for i := 0; i < n; i++ {
		part := int32(i % *partitions)
		value := make([]byte, *size)
		copy(value, fmt.Sprintf("%d/%d ", part, i/(*partitions)))
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: part},
			Key: []byte(fmt.Sprintf("key-%d", i%1000)), Value: value}
		if err := benchkafka.Produce(p, m); err != nil {
			return err
		}
	}
	benchkafka.FlushAll(p)
	return nil
}

// stopGroups commits, for group g of -groups, the offset (g+1)/(groups+1)
// of the way through each partition of the old topic, and returns those
// offsets and the value of the record at each (what the group reads next).
func stopGroups(ctx context.Context, cl *admin.Client, n int) (map[string]map[int32]int64, map[string]map[int32][]byte, error) {
	perPartition := int64(n / *partitions)
	stopped := map[string]map[int32]int64{}
	next := map[string]map[int32][]byte{}
	for g := range *groups {
		name := fmt.Sprintf("hopbench-app-%d", g)
		stopped[name], next[name] = map[int32]int64{}, map[int32][]byte{}
		var tps []kafka.TopicPartition
		for p := range int32(*partitions) {
			at := perPartition * int64(g+1) / int64(*groups+1)
			stopped[name][p] = at
			topic := from
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(at)})
			v, err := valueAt(from, p, at)
			if err != nil {
				return nil, nil, err
			}
			next[name][p] = v
		}
		c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "group.id": name, "log_level": 3})
		if err != nil {
			return nil, nil, err
		}
		_, err = c.CommitOffsets(tps)
		c.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("commit %s: %w", name, err)
		}
	}
	return stopped, next, nil
}

// checkResumes fails unless every group's offsets are on the new topic
// only, at the record it would have read next on the old one.
func checkResumes(ctx context.Context, cl *admin.Client, stopped map[string]map[int32]int64, next map[string]map[int32][]byte) error {
	for g := range stopped {
		offsets, err := cl.GroupOffsets(ctx, g)
		if err != nil {
			return err
		}
		for topic := range offsets {
			if topic != to {
				return fmt.Errorf("group %s still has offsets on %s", g, topic)
			}
		}
		for p, want := range next[g] {
			at, ok := offsets[to][p]
			if !ok {
				return fmt.Errorf("group %s has no offset on %s/%d", g, to, p)
			}
			got, err := valueAt(to, p, at)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("group %s resumes %s/%d at %d on %.16q, want %.16q (it stopped at %d on %s)", g, to, p, at, got, want, stopped[g][p], from)
			}
		}
	}
	return nil
}

// valueAt reads the value of the first record at or after offset in
// topic/p (read_committed: transaction markers are skipped).
func valueAt(topic string, p int32, offset int64) ([]byte, error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "group.id": "hopbench-reader", "isolation.level": "read_committed",
		"enable.auto.commit": false, "log_level": 3})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(offset)}}); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		m, err := c.ReadMessage(time.Second)
		if err == nil {
			return m.Value, nil
		}
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !kerr.IsTimeout() {
			return nil, fmt.Errorf("read %s/%d@%d: %w", topic, p, offset, err)
		}
	}
	return nil, fmt.Errorf("read %s/%d@%d: no record within 30s", topic, p, offset)
}
