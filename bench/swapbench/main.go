// Command swapbench measures the stop of `cutover swap` on a real broker:
// a topic of -bytes (default 1 GiB) of 1 KiB records is applied as a swap,
// mirrored into staging by the bridge, copied once more by a raw
// librdkafka copy (the floor: the least a copy of those bytes costs, in
// the same run), forecast by plan --measure-stop, then swapped; it prints
// the stop step by step, the stop / floor ratio, and the forecast against
// the steps it forecasts.
//
//	go run ./bench/swapbench -bootstrap 127.0.0.1:9092 -bytes 1073741824
package main

import (
	"context"
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
	totalBytes = flag.Int64("bytes", 1<<30, "bytes of record values in the swapped topic")
	size       = flag.Int("size", 1024, "record value size in bytes")
	partitions = flag.Int("partitions", 6, "partitions")
	tail       = flag.Int("tail", 5000, "records written to the old topic after the window-time verify (the tail the stop drains and verifies)")
	noWindow   = flag.Bool("no-window-verify", false, "skip the window-time verify of staging: the stop verifies staging in full")
	streams    = flag.Int("copy-streams", 0, "copies at once in the stop's staging → new copy (0: lifecycle.DefaultCopyStreams)")
	noBridge   = flag.Bool("no-bridge", false, "no bridge runs during the stop (the swap's drain copies the tail itself, joining the bridge's group first); by default one mirrors old → staging from the tail's write on, as the runbook's mirror does for the whole window")
	asBefore   = flag.Bool("as-before", false, "swap as before issue 15 part 2, for comparison: the bridge's exactly-once staging → new copy, and the stop until staging is deleted")
)

const (
	from = "bench.swap_stop.v1"
	to   = "bench.swap.stop.v1"
	// floorTopic receives the floor's raw copy of staging.
	floorTopic = "bench.swap_floor.v1"
)

func main() {
	flag.Parse()
	if *bootstrap == "" {
		log.Fatal("swapbench: -bootstrap or KAFKA_BOOTSTRAP_SERVERS is needed")
	}
	if err := run(context.Background()); err != nil {
		log.Fatalf("swapbench: %v", err)
	}
}

func run(ctx context.Context) error {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := admin.Connect(ctx, clientconfig.Config{BootstrapServers: *bootstrap}, quiet)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, t := range []string{from, to, plan.StagingTopic(to), floorTopic} {
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
	fmt.Printf("loaded %d records of %d B (%.2f GB) in %s\n", n, *size, float64(n**size)/1e9, time.Since(t0).Round(time.Millisecond))

	m, err := plan.ParseRenameMap("bench.yaml", []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s, strategy: swap}\n", from, to)))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "swapbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		return err
	}
	env := &lifecycle.Env{Admin: cl, Store: st, Map: m, Command: "swapbench", Log: quiet}
	if res, err := lifecycle.Apply(ctx, env, lifecycle.ApplyOptions{}); err != nil || res.Failed() > 0 {
		return fmt.Errorf("apply: %v %+v", err, res)
	}
	copyRoute := func(ctx context.Context, group string, route bridge.Route) error {
		return bridge.Run(ctx, bridge.Options{Client: cl.Config(), Group: group, InstanceID: "swapbench", UntilCaughtUp: true, OneOff: true,
			Admin: cl, Log: quiet, Routes: bridge.StaticRoutes{route}, Headers: bridge.HeaderPolicy{Enrich: true}, Refresh: time.Hour})
	}
	const bridgeGroup = "swapbench-bridge"
	env.BridgeGroup = bridgeGroup
	route, err := lifecycle.RouteBetween(ctx, cl, from, from, plan.StagingTopic(to), "earliest")
	if err != nil {
		return err
	}
	t0 = time.Now()
	if err := copyRoute(ctx, bridgeGroup, route); err != nil {
		return err
	}
	fmt.Printf("bridge mirrored %s into staging in %s (before the stop, during the window)\n", from, time.Since(t0).Round(time.Millisecond))

	// The runbook's window-time verify: staging against old, recording
	// the verified prefix, while producers still write; then the tail
	// they write before the stop.
	if !*noWindow {
		t0 = time.Now()
		vres, err := lifecycle.Verify(ctx, env, lifecycle.VerifyOptions{Renames: []string{from}})
		if err != nil {
			return fmt.Errorf("window-time verify: %w", err)
		}
		if !vres.Passed() {
			return fmt.Errorf("window-time verify: %+v", vres.Problems)
		}
		fmt.Printf("window-time verify (migrator verify --rename %s) of staging in %s: %s\n", from, time.Since(t0).Round(time.Millisecond), vres.Reports[0].Summary())
	}
	// The mirror of the window (runbooks/swap.md): a bridge copies old →
	// staging until the swap deleted old, so the stop's drain only
	// checks that it copied the tail.
	stopBridge := func() {}
	if !*noBridge {
		bctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- bridge.Run(bctx, bridge.Options{Client: cl.Config(), Group: bridgeGroup, InstanceID: "swapbench-mirror",
				Admin: cl, Log: quiet, Routes: bridge.StaticRoutes{route}, Headers: bridge.HeaderPolicy{Enrich: true}, Refresh: time.Hour})
		}()
		stopBridge = func() {
			cancel()
			if err := <-done; err != nil {
				fmt.Printf("the mirror stopped: %v\n", err)
			}
		}
		defer func() { stopBridge() }()
	}
	if *tail > 0 {
		if err := load(from, *tail); err != nil {
			return err
		}
		fmt.Printf("wrote a tail of %d records to %s after the verify (the bridge copies them at the stop's drain)\n", *tail, from)
	}

	// The floor: a raw librdkafka copy of the same bytes (staging, with
	// the bridge's headers, as the stop's copy reads) in this run.
	// Twice, keeping the faster: on a shared machine one copy can be
	// slowed by others, and a floor too high would flatter the ratio.
	var floor time.Duration
	for i := 0; i < 2; i++ {
		took, records, err := floorCopy(ctx, cl, plan.StagingTopic(to), floorTopic, *partitions)
		if err != nil {
			return fmt.Errorf("floor copy: %w", err)
		}
		if err := cl.DeleteTopic(ctx, floorTopic); err != nil {
			return err
		}
		fmt.Printf("floor %d: raw librdkafka copy of %s (%d records) in %s\n", i+1, plan.StagingTopic(to), records, took.Round(time.Millisecond))
		if floor == 0 || took < floor {
			floor = took
		}
	}

	p, _, err := plan.Make(ctx, cl, m)
	if err != nil {
		return err
	}
	if err := lifecycle.EstimateSwapStops(ctx, env, p, lifecycle.StopOptions{Measure: true, QuietFor: time.Second}); err != nil {
		return err
	}
	forecast := p.Rename(from).Stop
	fmt.Printf("plan --measure-stop: %d bytes to copy, %s; verify %d record(s), %s; forecast copy %s + verify %s + other steps %s = stop %s\n", forecast.Bytes, forecast.Measured,
		forecast.VerifyRecords, forecast.VerifyFrom, forecast.Copy.Round(time.Millisecond), forecast.Verify.Round(time.Millisecond), forecast.Fixed.Round(time.Millisecond), forecast.Total.Round(time.Millisecond))

	opts := lifecycle.SwapOptions{Rename: from, SwapGroup: "swapbench-swap", QuietFor: time.Second, DrainTimeout: time.Minute, CopyStreams: *streams}
	if *asBefore {
		opts.Copy = copyRoute
	}
	res, err := lifecycle.Swap(ctx, env, opts)
	stopBridge()
	stopBridge = func() {}
	if err != nil {
		return err
	}
	// A third floor right after the stop, of the new topic (the same
	// records): on a shared machine, others' load changes within a run,
	// and the floor nearest the stop keeps the ratio honest.
	took, records, err := floorCopy(ctx, cl, to, floorTopic, *partitions)
	if err != nil {
		return fmt.Errorf("floor copy: %w", err)
	}
	if err := cl.DeleteTopic(ctx, floorTopic); err != nil {
		return err
	}
	fmt.Printf("floor 3 (after the swap): raw librdkafka copy of %s (%d records) in %s\n", to, records, took.Round(time.Millisecond))
	floor = min(floor, took)
	if *asBefore {
		// Before, the clients waited for every step.
		res.Stop, res.AfterStop = res.Stop+res.AfterStop, 0
		fmt.Println("\n-as-before: the bridge's exactly-once copy staging → new, and the stop until staging is deleted")
	}
	fmt.Printf("\n| step | took |\n|---|---|\n")
	var copyTook, verifyTook time.Duration
	after := false
	for _, s := range res.Steps {
		if after {
			fmt.Printf("| %s (after the stop, clients on the new name) | %s |\n", s.Step, s.Took)
		} else {
			fmt.Printf("| %s | %s |\n", s.Step, s.Took)
		}
		after = after || (s.Step == lifecycle.SwapStopEnds && !*asBefore)
		took, _ := time.ParseDuration(s.Took)
		switch s.Step {
		case lifecycle.SwapCopied:
			copyTook = took
		case lifecycle.SwapVerified:
			verifyTook += took
		}
	}
	last := lifecycle.SwapStopEnds
	if *asBefore {
		last = lifecycle.SwapStagingDeleted
	}
	fmt.Printf("| **whole stop** (after a 1 s quiet check, to %s) | **%s** |\n", last, res.Stop.Round(time.Millisecond))
	fmt.Printf("| after the stop | %s |\n", res.AfterStop.Round(time.Millisecond))
	fmt.Printf("| floor: raw librdkafka copy of the same records, same run (the fastest of three: two before the stop, one after) | %s |\n\n", floor.Round(time.Millisecond))
	fmt.Printf("stop / floor = %.2f (target ≤ 1.3)\n", res.Stop.Seconds()/floor.Seconds())
	fmt.Printf("copy step %s against the forecast %s: actual / forecast = %.2f\n", copyTook, forecast.Copy.Round(time.Millisecond), copyTook.Seconds()/forecast.Copy.Seconds())
	fmt.Printf("verify step %s against the forecast %s: actual / forecast = %.2f\n", verifyTook, forecast.Verify.Round(time.Millisecond), verifyTook.Seconds()/forecast.Verify.Seconds())
	fmt.Printf("other steps %s against the forecast %s\n", (res.Stop - copyTook - verifyTook).Round(time.Millisecond), forecast.Fixed.Round(time.Millisecond))
	fmt.Printf("whole stop %s against the forecast %s: actual / forecast = %.2f\n", res.Stop.Round(time.Millisecond), forecast.Total.Round(time.Millisecond), res.Stop.Seconds()/forecast.Total.Seconds())
	return cl.DeleteTopic(ctx, to)
}

// load writes n records of -size bytes round-robin over the partitions.
func load(topic string, n int) error {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": *bootstrap, "linger.ms": 20, "batch.size": 1 << 20,
		"queue.buffering.max.messages": 500000, "go.delivery.reports": false, "log_level": 3})
	if err != nil {
		return err
	}
	defer p.Close()
	value := make([]byte, *size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	for i := 0; i < n; i++ {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % *partitions)},
			Key: []byte(fmt.Sprintf("key-%d", i%1000)), Value: value}
		if err := benchkafka.Produce(p, m); err != nil {
			return err
		}
	}
	benchkafka.FlushAll(p)
	return nil
}
