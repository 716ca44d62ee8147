// Command bridgebench measures the bridge against a raw copy baseline on a
// real broker: throughput on a backlog, peak RSS, CPU, and end-to-end
// latency at a steady rate. Every contender runs as its own process, in the
// same run, on the same backlog.
//
//	go run ./bench/bridgebench -bootstrap 127.0.0.1:9092 -records 2000000 -size 1024
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

var (
	bootstrap  = flag.String("bootstrap", os.Getenv("KAFKA_BOOTSTRAP_SERVERS"), "Kafka bootstrap servers")
	records    = flag.Int("records", 2_000_000, "backlog records")
	size       = flag.Int("size", 1024, "record value size in bytes")
	partitions = flag.Int("partitions", 6, "partitions")
	rate       = flag.Int("rate", 10_000, "records/s of the steady-rate latency phase")
	steadyFor  = flag.Duration("steady", 20*time.Second, "length of the steady-rate phase")
	migrator   = flag.String("migrator", "bin/migrator", "migrator binary")
	only       = flag.String("only", "", "comma-separated contenders to run (raw,alo,eos); default all")
	mode       = flag.String("mode", "", "internal: 'raw' runs the raw copy baseline")
	rawFrom    = flag.String("from", "", "internal: raw copy source")
	rawTo      = flag.String("to", "", "internal: raw copy target")
	rawUntil   = flag.Int("until", 0, "internal: raw copy stops after this many records (0: never)")
)

func main() {
	flag.Parse()
	if *bootstrap == "" {
		log.Fatal("set -bootstrap or KAFKA_BOOTSTRAP_SERVERS")
	}
	if *mode == "raw" {
		if err := rawCopy(*rawFrom, *rawTo, *rawUntil); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// result is one contender's numbers.
type result struct {
	name            string
	seconds         float64
	peakRSSMiB      float64
	cpuSeconds      float64
	p50, p99        time.Duration
	steadyDelivered int
}

func run() error {
	ctx := context.Background()
	run := strconv.FormatInt(time.Now().Unix(), 36)
	src := "bench.source-" + run + ".v1"
	if err := createTopic(ctx, src); err != nil {
		return err
	}
	log.Printf("loading %d records of %d bytes into %s", *records, *size, src)
	start := time.Now()
	if err := load(src, *records, 0); err != nil {
		return err
	}
	log.Printf("loaded in %s", time.Since(start).Round(time.Millisecond))

	contenders := []struct {
		name, key string
		cmd       func(dst, group string, until bool) *exec.Cmd
	}{
		{"raw copy (librdkafka consume→produce, no txn/headers/checks)", "raw", rawCmd(src)},
		{"migrator --delivery at-least-once", "alo", migratorCmd(src, "at-least-once")},
		{"migrator (exactly-once)", "eos", migratorCmd(src, "exactly-once")},
	}
	var results []result
	for i, c := range contenders {
		if *only != "" && !strings.Contains(","+*only+",", ","+c.key+",") {
			continue
		}
		dst := fmt.Sprintf("bench.target-%s-%d.v1", run, i)
		if err := createTopic(ctx, dst); err != nil {
			return err
		}
		group := fmt.Sprintf("bench-%s-%d", run, i)
		log.Printf("%s: copying the backlog", c.name)
		r, err := measure(c.cmd(dst, group, true))
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		r.name = c.name
		log.Printf("%s: steady %d records/s for %s", c.name, *rate, *steadyFor)
		p50, p99, n, err := steady(src, dst, c.cmd(dst, group, false))
		if err != nil {
			return fmt.Errorf("%s steady: %w", c.name, err)
		}
		r.p50, r.p99, r.steadyDelivered = p50, p99, n
		results = append(results, r)
		log.Printf("%s: %.1fs, %.0f records/s", c.name, r.seconds, float64(*records)/r.seconds)
	}
	report(results)
	return nil
}

func config(extra kafka.ConfigMap) *kafka.ConfigMap {
	m := kafka.ConfigMap{"bootstrap.servers": *bootstrap, "log_level": 3}
	for k, v := range extra {
		m[k] = v
	}
	return &m
}

func createTopic(ctx context.Context, name string) error {
	a, err := kafka.NewAdminClient(config(nil))
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: *partitions, ReplicationFactor: 1}})
	if err != nil {
		return err
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return res[0].Error
	}
	time.Sleep(time.Second)
	return nil
}

// load writes n records round-robin over the partitions; each value starts
// with its send time (for latency) and is padded to -size bytes.
func load(topic string, n int, perSecond int) error {
	p, err := kafka.NewProducer(config(kafka.ConfigMap{"linger.ms": 20, "batch.size": 1 << 20, "queue.buffering.max.messages": 500000, "go.delivery.reports": false}))
	if err != nil {
		return err
	}
	defer p.Close()
	value := bytes.Repeat([]byte{'x'}, *size)
	key := make([]byte, 8)
	start := time.Now()
	for i := 0; i < n; i++ {
		if perSecond > 0 {
			if ahead := time.Duration(i)*time.Second/time.Duration(perSecond) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		binary.BigEndian.PutUint64(key, uint64(i))
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % *partitions)},
			Key: append([]byte(nil), key...), Value: value, Timestamp: time.Now()}
		for {
			err := p.Produce(m, nil)
			if err == nil {
				break
			}
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
				p.Flush(50)
				continue
			}
			return err
		}
	}
	for p.Flush(1000) > 0 {
	}
	return nil
}

func rawCmd(src string) func(dst, group string, until bool) *exec.Cmd {
	return func(dst, group string, until bool) *exec.Cmd {
		self, _ := os.Executable()
		n := 0
		if until {
			n = *records
		}
		return exec.Command(self, "-mode", "raw", "-bootstrap", *bootstrap, "-from", src, "-to", dst, "-until", strconv.Itoa(n), "-partitions", strconv.Itoa(*partitions))
	}
}

func migratorCmd(src, delivery string) func(dst, group string, until bool) *exec.Cmd {
	return func(dst, group string, until bool) *exec.Cmd {
		dir, _ := os.MkdirTemp("", "bench-map")
		mapFile := filepath.Join(dir, "map.yaml")
		_ = os.WriteFile(mapFile, []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst)), 0o644)
		args := []string{"-b", *bootstrap, "--map", mapFile, "mirror", "--no-state", "--group", group, "--delivery", delivery, "--instance-id", group}
		if until {
			args = append(args, "--until-caught-up")
		}
		return exec.Command(*migrator, args...)
	}
}

// measure runs cmd to completion: wall time, peak RSS and CPU.
func measure(cmd *exec.Cmd) (result, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				if kb := vmHWM(cmd.Process.Pid); kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		return result{}, fmt.Errorf("%v\n%s", err, lastLines(stderr.String(), 20))
	}
	st := cmd.ProcessState
	return result{
		seconds:    time.Since(start).Seconds(),
		peakRSSMiB: float64(peak.Load()) / 1024,
		cpuSeconds: (st.UserTime() + st.SystemTime()).Seconds(),
	}, nil
}

// vmHWM reads a process's peak resident set size in KiB.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// steady runs the contender while records are written at -rate for
// -steady, and measures, for each record copied, the time from its source
// timestamp to its arrival in the target (read_committed).
func steady(src, dst string, cmd *exec.Cmd) (p50, p99 time.Duration, n int, err error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Read the target from its current end.
	c, err := kafka.NewConsumer(config(kafka.ConfigMap{"group.id": "bench-latency-" + dst, "isolation.level": "read_committed", "enable.auto.commit": false, "fetch.wait.max.ms": 5}))
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	var parts []kafka.TopicPartition
	for p := 0; p < *partitions; p++ {
		parts = append(parts, kafka.TopicPartition{Topic: &dst, Partition: int32(p), Offset: kafka.OffsetEnd})
	}
	if err := c.Assign(parts); err != nil {
		return 0, 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	time.Sleep(3 * time.Second) // Let the contender join its group.
	total := int(steadyFor.Seconds()) * *rate
	loadErr := make(chan error, 1)
	go func() { loadErr <- load(src, total, *rate) }()
	var lat []time.Duration
	deadline := time.Now().Add(*steadyFor + 30*time.Second)
	for len(lat) < total && time.Now().Before(deadline) {
		ev := c.Poll(100)
		if m, ok := ev.(*kafka.Message); ok && m.TopicPartition.Error == nil {
			lat = append(lat, time.Since(m.Timestamp))
		}
	}
	if err := <-loadErr; err != nil {
		return 0, 0, 0, err
	}
	if len(lat) == 0 {
		return 0, 0, 0, fmt.Errorf("no record arrived\n%s", lastLines(stderr.String(), 20))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat), nil
}

func report(results []result) {
	mb := float64(*records) * float64(*size) / 1e6
	fmt.Printf("\n%d records × %d B (%.0f MB) backlog, %d partitions; steady phase %d records/s for %s; %s, %d CPUs\n\n",
		*records, *size, mb, *partitions, *rate, *steadyFor, runtime.GOOS, runtime.NumCPU())
	fmt.Println("| contender | records/s | MB/s | vs raw copy | peak RSS | CPU s per M records | latency p50 | latency p99 | steady records seen |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var raw float64
	for _, r := range results {
		if strings.HasPrefix(r.name, "raw") {
			raw = float64(*records) / r.seconds
		}
	}
	for _, r := range results {
		rps := float64(*records) / r.seconds
		ratio := "-"
		if raw > 0 {
			ratio = fmt.Sprintf("%.0f %%", 100*rps/raw)
		}
		fmt.Printf("| %s | %.0f | %.1f | %s | %.0f MiB | %.1f | %s | %s | %d |\n", r.name, rps, mb/r.seconds, ratio, r.peakRSSMiB,
			r.cpuSeconds/(float64(*records)/1e6), r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.steadyDelivered)
	}
}
