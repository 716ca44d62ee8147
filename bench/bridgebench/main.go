// Command bridgebench measures the bridge against a raw copy baseline and
// MirrorMaker 2 on a real broker: throughput on a backlog, peak RSS, CPU,
// and end-to-end latency at a steady rate. Every contender runs as its own
// process, in the same run, on the same backlog. With -accuracy it also
// moves a consumer group that stopped mid-topic with migrator's cutover and
// with MM2's checkpoints, and counts the records each re-reads and skips.
//
// With -sizes it runs the whole comparison once per record size, each size
// with its own backlog and raw baseline, and prints issue 16's targets as
// met or not met; with -pin the broker runs on CPU 0 and every contender on
// CPU 1 (taskset).
//
//	go run ./bench/bridgebench -bootstrap 127.0.0.1:9092 -records 2000000 -size 1024
//	go run ./bench/bridgebench -only raw,alo,eos,mm2-alo,mm2-eos -mm2 scripts/mm2.sh -accuracy
//	go run ./bench/bridgebench -only raw,alo,eos,mm2-alo,mm2-eos -sizes 100,1024,10240 -pin
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bench/benchkafka"
)

var (
	bootstrap  = flag.String("bootstrap", os.Getenv("KAFKA_BOOTSTRAP_SERVERS"), "Kafka bootstrap servers")
	recordsF   = flag.String("records", "", "backlog records: N at every size, or SIZE=N,... (default: -bytes / size, within 200,000..5,000,000)")
	bytesF     = flag.Int64("bytes", 2_048_000_000, "backlog bytes per record size when -records does not say (records = bytes / size, within 200,000..5,000,000)")
	size       = flag.Int("size", 1024, "record value size in bytes (one size; -sizes for several)")
	sizesF     = flag.String("sizes", "", "comma-separated record sizes in bytes, one backlog, raw baseline and table each, e.g. 100,1024,10240 (default: -size)")
	partitions = flag.Int("partitions", 6, "partitions")
	rateF      = flag.Int("rate", 0, "records/s of the steady-rate latency phase (default: 10,000, at most 10 MB/s: 1,000 at 10 KiB)")
	pin        = flag.Bool("pin", false, "pin the broker to CPU 0 (taskset -a -p, restored at the end) and run every contender under taskset -c 1")
	brokerPid  = flag.Int("broker-pid", 0, "with -pin: the broker JVM's pid (default: $KAFKA_STATE_DIR/kafka.pid, KAFKA_STATE_DIR defaulting to .kafka)")
	mirrorArgs = flag.String("mirror-args", "", "extra arguments of the migrator contenders' `mirror`, space-separated (for A/B runs, e.g. \"--batch-records 20000\")")
	profileDir = flag.String("profile", "", "directory: the migrator contenders' backlog copies write CPU profiles there (MIGRATOR_CPUPROFILE), shown with go tool pprof -top, and allocation profiles (MIGRATOR_ALLOCPROFILE, for go tool pprof -sample_index=alloc_space)")
	keep       = flag.Bool("keep", false, "keep each size's topics (default: deleted once the size's table is printed)")
	steadyFor  = flag.Duration("steady", 20*time.Second, "length of the steady-rate phase")
	migrator   = flag.String("migrator", "bin/migrator", "migrator binary")
	only       = flag.String("only", "raw,alo,eos", "comma-separated contenders to run: raw,alo,eos,mm2-alo,mm2-eos")
	mm2Script  = flag.String("mm2", "scripts/mm2.sh", "MirrorMaker 2 launcher (scripts/mm2.sh), for the mm2-* contenders and -accuracy")
	mm2Port    = flag.Int("mm2-rest-port", 38083, "internal REST port of exactly-once MirrorMaker 2")
	accuracy   = flag.Bool("accuracy", false, "also measure consumer-group offset translation: migrator cutover vs MM2 checkpoints")
	accRecords = flag.Int("accuracy-records", 120_000, "records in the offset-translation topic")
	accStop    = flag.Float64("accuracy-stop", 0.37, "where the group stopped, as a fraction of each partition")
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

// The record size, backlog and steady rate of the size being measured.
var (
	recSize  int
	nRecords int
	rate     int
)

// result is one contender's numbers at one record size.
type result struct {
	name, key       string
	size, records   int
	seconds         float64 // process start to the last record in the target
	copySeconds     float64 // first record in the target to the last
	peakRSSMiB      float64
	cpuSeconds      float64
	p50, p99        time.Duration
	steadyDelivered int
	check           verification  // what the target held once the contender was done
	profile         string        // CPU profile file (-profile), "" if none
	goStats         *runtimeStats // the migrator's Go runtime at its end, nil for other contenders
}

func run() error {
	ctx := context.Background()
	sizes, err := parseSizes()
	if err != nil {
		return err
	}
	counts, err := recordCounts(sizes)
	if err != nil {
		return err
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			return err
		}
	}
	if *pin {
		restore, err := pinBroker()
		if err != nil {
			return err
		}
		defer restore()
	}
	runID := strconv.FormatInt(time.Now().Unix(), 36)
	mm2Dir, err := os.MkdirTemp("", "bench-mm2-")
	if err != nil {
		return err
	}
	var all [][]result
	for si, sz := range sizes {
		recSize, nRecords, rate = sz, counts[si], steadyRate(sz)
		results, err := runSize(ctx, fmt.Sprintf("%s-%d", runID, sz), mm2Dir)
		if err != nil {
			return fmt.Errorf("%d B records: %w", sz, err)
		}
		report(results)
		reportRuntime(results)
		all = append(all, results)
	}
	reportTargets(all)
	if *profileDir != "" {
		reportProfiles(all)
	}
	if *accuracy {
		recSize = *size
		acc, err := measureAccuracy(ctx, runID, mm2Dir)
		if err != nil {
			return fmt.Errorf("offset translation: %w", err)
		}
		reportAccuracy(acc)
		for _, a := range acc {
			if strings.HasPrefix(a.method, "migrator") && (a.duplicates != 0 || a.lost != 0 || a.notMoved != 0) {
				return fmt.Errorf("migrator's cutover re-read %d and skipped %d records: it must be 0 and 0", a.duplicates, a.lost)
			}
		}
	}
	return nil
}

// runSize loads a backlog of nRecords × recSize, checks it, and runs every
// contender on it, then its steady phase.
func runSize(ctx context.Context, run, mm2Dir string) ([]result, error) {
	src := "bench.source-" + run + ".v1"
	topics := []string{src}
	if !*keep {
		defer func() { deleteTopics(ctx, topics) }()
	}
	if err := createTopic(ctx, src); err != nil {
		return nil, err
	}
	log.Printf("loading %d records of %d bytes into %s", nRecords, recSize, src)
	start := time.Now()
	if err := load(src, nRecords, 0); err != nil {
		return nil, err
	}
	log.Printf("loaded in %s", time.Since(start).Round(time.Millisecond))
	// The backlog itself is checked like every copy of it.
	start = time.Now()
	if v, err := verifyTopic(src, nRecords); err != nil {
		return nil, fmt.Errorf("checking the backlog: %w", err)
	} else if !v.ok() || v.duplicates > 0 {
		return nil, fmt.Errorf("the backlog %s is not the %d records written: %s", src, nRecords, v)
	}
	log.Printf("backlog read back whole in %s", time.Since(start).Round(time.Millisecond))

	contenders := []contender{
		{name: "raw copy (librdkafka consume→produce, no txn/headers/checks)", key: "raw", cmd: rawCmd, selfExit: true},
		{name: "migrator --delivery at-least-once", key: "alo", cmd: migratorCmd("at-least-once"), selfExit: true},
		{name: "migrator (exactly-once)", key: "eos", cmd: migratorCmd("exactly-once"), selfExit: true},
		mm2Contender("mm2alo", false, mm2Dir),
		mm2Contender("mm2eos", true, mm2Dir),
	}
	var results []result
	for i, c := range contenders {
		if !strings.Contains(","+*only+",", ","+c.key+",") {
			continue
		}
		dst, err := c.targetOf(ctx, src, fmt.Sprintf("bench.target-%s-%d.v1", run, i))
		topics = append(topics, dst)
		if err != nil {
			return nil, err
		}
		group := fmt.Sprintf("bench-%s-%d", run, i)
		log.Printf("%s: copying the backlog into %s", c.name, dst)
		cmd := c.cmd(src, dst, group, true)
		profile := cmdProfile(cmd)
		pinSelf(true)
		r, err := measure(pinCmd(cmd), dst, c.selfExit)
		pinSelf(false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		r.name, r.key, r.size, r.records, r.profile = c.name, c.key, recSize, nRecords, profile
		r.goStats = readRuntimeStats(cmd)
		readStart := time.Now()
		if r.check, err = verifyTopic(dst, nRecords); err != nil {
			return nil, fmt.Errorf("%s: checking %s: %w", c.name, dst, err)
		}
		log.Printf("%s: %.1fs (copy %.1fs), %.0f records/s; target holds %s (read back in %s)", c.name, r.seconds, r.copySeconds,
			float64(nRecords)/r.seconds, r.check, time.Since(readStart).Round(time.Millisecond))
		ready := c.ready
		if ready == nil {
			ready = func(*exec.Cmd) error { time.Sleep(3 * time.Second); return nil } // Let the contender join its group.
		}
		// The steady phase copies a topic of its own, empty at the start, so
		// that no contender's backlog includes another's steady records.
		steadySrc := fmt.Sprintf("bench.steady-%s-%d.v1", run, i)
		topics = append(topics, steadySrc)
		if err := createTopic(ctx, steadySrc); err != nil {
			return nil, err
		}
		steadyDst, err := c.targetOf(ctx, steadySrc, fmt.Sprintf("bench.steady-target-%s-%d.v1", run, i))
		topics = append(topics, steadyDst)
		if err != nil {
			return nil, err
		}
		if c.mm2 {
			// MM2 creates its target when it starts: the latency reader needs it first.
			if err := createTopic(ctx, steadyDst); err != nil {
				return nil, err
			}
		}
		pinSelf(true)
		p50, p99, n, err := steady(steadySrc, steadyDst, pinCmd(c.cmd(steadySrc, steadyDst, group+"-steady", false)), ready)
		pinSelf(false)
		if err != nil {
			return nil, fmt.Errorf("%s steady: %w", c.name, err)
		}
		r.p50, r.p99, r.steadyDelivered = p50, p99, n
		results = append(results, r)
	}
	return results, nil
}

func deleteTopics(ctx context.Context, topics []string) {
	a, err := kafka.NewAdminClient(config(nil))
	if err != nil {
		return
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := a.DeleteTopics(ctx, topics); err != nil {
		log.Printf("deleting %v: %v", topics, err)
	}
}

// contender is one copier under test.
type contender struct {
	name, key string
	cmd       func(src, dst, group string, until bool) *exec.Cmd
	// selfExit: with until, the process exits once it copied the backlog;
	// otherwise (MM2) it is stopped once the whole backlog is in the target.
	selfExit bool
	// mm2: the contender creates its target, <alias>.<source>.
	mm2   bool
	alias string
	// ready waits until a started contender copies (default: 3 s).
	ready func(*exec.Cmd) error
}

// targetOf is the topic the contender copies src into: name, created here,
// or MM2's own <alias>.<src>.
func (c contender) targetOf(ctx context.Context, src, name string) (string, error) {
	if c.mm2 {
		return c.alias + "." + src, nil
	}
	return name, createTopic(ctx, name)
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
// with its send time (for latency) and is padded to recSize bytes; record i
// has key i (8 bytes, big endian) and goes to partition i % partitions.
func load(topic string, n int, perSecond int) error {
	p, err := kafka.NewProducer(config(kafka.ConfigMap{"linger.ms": 20, "batch.size": 1 << 20, "queue.buffering.max.messages": 500000, "go.delivery.reports": false}))
	if err != nil {
		return err
	}
	defer p.Close()
	value := bytes.Repeat([]byte{'x'}, recSize)
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
		if err := benchkafka.Produce(p, m); err != nil {
			return err
		}
	}
	benchkafka.FlushAll(p)
	return nil
}

func rawCmd(src, dst, group string, until bool) *exec.Cmd {
	self, _ := os.Executable()
	n := 0
	if until {
		n = nRecords
	}
	return exec.Command(self, "-mode", "raw", "-bootstrap", *bootstrap, "-from", src, "-to", dst, "-until", strconv.Itoa(n), "-partitions", strconv.Itoa(*partitions))
}

func migratorCmd(delivery string) func(src, dst, group string, until bool) *exec.Cmd {
	return func(src, dst, group string, until bool) *exec.Cmd {
		dir, _ := os.MkdirTemp("", "bench-map")
		mapFile := filepath.Join(dir, "map.yaml")
		_ = os.WriteFile(mapFile, []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst)), 0o644)
		args := []string{"-b", *bootstrap, "--map", mapFile, "mirror", "--no-state", "--group", group, "--delivery", delivery, "--instance-id", group}
		args = append(args, strings.Fields(*mirrorArgs)...)
		cmd := exec.Command(*migrator, args...)
		if until {
			args = append(args, "--until-caught-up")
			cmd = exec.Command(*migrator, args...)
			cmd.Env = append(os.Environ(), "MIGRATOR_RUNTIME_STATS="+filepath.Join(dir, "runtime-stats.json"))
			if *profileDir != "" {
				cmd.Env = append(cmd.Env, "MIGRATOR_CPUPROFILE="+filepath.Join(*profileDir, fmt.Sprintf("migrator-%s-%dB.pprof", delivery, recSize)),
					"MIGRATOR_ALLOCPROFILE="+filepath.Join(*profileDir, fmt.Sprintf("migrator-%s-%dB.allocs.pprof", delivery, recSize)))
			}
		}
		return cmd
	}
}

// measure runs cmd until the backlog is copied into dst: wall time (start
// to the last record in dst), copy time (first record in dst to the last),
// peak RSS and CPU. A selfExit
// contender is waited for (its CPU is the exited process's); any other is
// stopped once the whole backlog is in dst (its CPU read from /proc at that
// moment, before the stop).
func measure(cmd *exec.Cmd, dst string, selfExit bool) (result, error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	w, err := newWatcher(dst)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var r result
	if selfExit {
		werr := w.watch(func() bool {
			select {
			case err := <-exited:
				exited <- err
				return true
			default:
				return false
			}
		})
		err := <-exited
		close(done)
		<-sampled
		if err != nil {
			return result{}, fmt.Errorf("%v\n%s", err, lastLines(stderr.String(), 20))
		}
		if werr != nil {
			return result{}, werr
		}
		st := cmd.ProcessState
		// Like MM2's: from the start to the last record in the target (not
		// to the exit, which adds the clients' close).
		r = result{seconds: w.last.Sub(start).Seconds(), cpuSeconds: (st.UserTime() + st.SystemTime()).Seconds()}
	} else {
		var died error
		werr := w.watch(func() bool {
			select {
			case died = <-exited:
				return true
			default:
				return w.complete()
			}
		})
		if died != nil || werr == nil && !w.done {
			close(done)
			return result{}, fmt.Errorf("exited before copying the backlog: %v\n%s", died, lastLines(stderr.String(), 20))
		}
		cpu := procCPU(cmd.Process.Pid)
		close(done)
		<-sampled
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if werr != nil {
			return result{}, werr
		}
		r = result{seconds: w.last.Sub(start).Seconds(), cpuSeconds: cpu}
	}
	r.peakRSSMiB = float64(peak.Load()) / 1024
	r.copySeconds = w.last.Sub(w.first).Seconds()
	return r, nil
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
// -rate for -steady, and measures, for each record copied, the time from its source
// timestamp to its arrival in the target (read_committed).
func steady(src, dst string, cmd *exec.Cmd, ready func(*exec.Cmd) error) (p50, p99 time.Duration, n int, err error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
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
	if err := ready(cmd); err != nil {
		return 0, 0, 0, err
	}
	total := int(steadyFor.Seconds()) * rate
	loadErr := make(chan error, 1)
	go func() { loadErr <- load(src, total, rate) }()
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
