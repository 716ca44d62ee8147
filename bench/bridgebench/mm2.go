package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// mm2Contender runs MirrorMaker 2 (scripts/mm2.sh, dedicated mode) with
// source alias alias on the one broker: it copies src into alias.src,
// which it creates itself. MM2 has no "until caught up": measure stops it
// once the whole backlog is in the target.
func mm2Contender(alias string, eos bool, dir string) contender {
	name, key := "MirrorMaker 2 at-least-once", "mm2-alo"
	if eos {
		name, key = "MirrorMaker 2 exactly-once", "mm2-eos"
	}
	state := filepath.Join(dir, alias)
	var logFrom int64
	return contender{
		name: name, key: key, mm2: true, alias: alias,
		cmd: func(src, dst, group string, until bool) *exec.Cmd {
			logFrom = fileSize(filepath.Join(state, "mm2.log"))
			return mm2Cmd(src, alias, eos, state, "")
		},
		ready: func(cmd *exec.Cmd) error {
			return mm2Ready(filepath.Join(state, "mm2.log"), logFrom, *partitions, 3*time.Minute)
		},
	}
}

// mm2Cmd is scripts/mm2.sh copying topic from alias to dst on -bootstrap,
// checkpointing the groups matching groups (all when empty).
func mm2Cmd(topic, alias string, eos bool, state, groups string) *exec.Cmd {
	cmd := exec.Command(*mm2Script)
	e := "0"
	if eos {
		e = "1"
	}
	cmd.Env = append(os.Environ(), "MM2_BOOTSTRAP="+*bootstrap, "MM2_TOPIC="+topic, "MM2_SOURCE="+alias, "MM2_TARGET=dst",
		"MM2_TASKS="+strconv.Itoa(*partitions), "MM2_EOS="+e, "MM2_STATE_DIR="+state, "MM2_REST_PORT="+strconv.Itoa(*mm2Port))
	if groups != "" {
		cmd.Env = append(cmd.Env, "MM2_GROUPS="+groups)
	}
	return cmd
}

var replicatingRE = regexp.MustCompile(`replicating (\d+) topic-partitions`)

// mm2Ready waits until MM2's source tasks logged (after byte from of its
// log) that they replicate at least parts topic-partitions, then 2 s more
// for their first fetch.
func mm2Ready(logFile string, from int64, parts int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(logFile)
		if int64(len(b)) > from {
			n := 0
			for _, m := range replicatingRE.FindAllSubmatch(b[from:], -1) {
				k, _ := strconv.Atoi(string(m[1]))
				n += k
			}
			if n >= parts {
				time.Sleep(2 * time.Second)
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("MirrorMaker 2 did not start its tasks within %s (see %s)", timeout, logFile)
}

func fileSize(name string) int64 {
	st, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return st.Size()
}

// procCPU is a process's user + system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// watcher follows a target topic's read_committed end offsets while a
// contender copies the backlog into it.
type watcher struct {
	admin       *kafka.AdminClient
	topic       string
	ends        map[int32]int64
	sum         int64
	first, last time.Time // end offsets first above 0; last changed
	done        bool      // complete() saw the whole backlog
	lastTail    time.Time
}

func newWatcher(topic string) (*watcher, error) {
	a, err := kafka.NewAdminClient(config(nil))
	if err != nil {
		return nil, err
	}
	w := &watcher{admin: a, topic: topic, ends: map[int32]int64{}}
	w.poll() // connect and learn the metadata before the contender starts
	return w, nil
}

func (w *watcher) close() { w.admin.Close() }

// poll reads the end offsets. The first record is seen at the high
// watermark (written, maybe not yet committed); the last at the last
// stable offset (committed; transaction markers included). A target that
// does not exist yet (MM2 creates it) counts as empty.
func (w *watcher) poll() {
	if w.first.IsZero() {
		if ends, ok := w.list(kafka.IsolationLevelReadUncommitted); ok {
			for _, o := range ends {
				if o > 0 {
					w.first = time.Now()
					break
				}
			}
		}
	}
	ends, ok := w.list(kafka.IsolationLevelReadCommitted)
	if !ok {
		return
	}
	var sum int64
	for p, o := range ends {
		w.ends[p] = o
		sum += o
	}
	if sum != w.sum {
		w.last = time.Now()
		w.sum = sum
	}
}

func (w *watcher) list(isolation kafka.IsolationLevel) (map[int32]int64, bool) {
	req := map[kafka.TopicPartition]kafka.OffsetSpec{}
	for p := 0; p < *partitions; p++ {
		req[kafka.TopicPartition{Topic: &w.topic, Partition: int32(p)}] = kafka.LatestOffsetSpec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := w.admin.ListOffsets(ctx, req, kafka.SetAdminIsolationLevel(isolation))
	if err != nil {
		return nil, false
	}
	ends := map[int32]int64{}
	for tp, info := range res.ResultInfos {
		if info.Error.Code() != kafka.ErrNoError {
			return nil, false
		}
		ends[tp.Partition] = int64(info.Offset)
	}
	return ends, true
}

// watch polls every 100 ms until stop says so, then once more.
func (w *watcher) watch(stop func() bool) error {
	deadline := time.Now().Add(3 * time.Hour)
	for time.Now().Before(deadline) {
		w.poll()
		if stop() {
			w.poll()
			if w.first.IsZero() {
				return fmt.Errorf("nothing arrived in %s", w.topic)
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: the backlog did not arrive within 3 h", w.topic)
}

// complete tells whether the whole backlog is committed in the target:
// every partition's end offset is at least the number of backlog records
// it must hold, and its last committed record is the backlog's last record
// of that partition (the backlog's record i has key i and went to partition
// i % partitions). It only decides when to stop the contender: verifyTopic
// then reads the target whole.
func (w *watcher) complete() bool {
	if w.sum < int64(nRecords) || time.Since(w.lastTail) < 500*time.Millisecond {
		return false
	}
	for p := 0; p < *partitions; p++ {
		if w.ends[int32(p)] < int64(perPartition(p)) {
			return false
		}
	}
	w.lastTail = time.Now()
	last, err := tailKeys(w.topic, w.ends)
	if err != nil {
		return false
	}
	for p := 0; p < *partitions; p++ {
		if perPartition(p) == 0 {
			continue
		}
		want := uint64(p + *partitions*((nRecords-1-p) / *partitions))
		if k, ok := last[int32(p)]; !ok || k != want {
			return false
		}
	}
	w.done = true
	return true
}

// perPartition is how many backlog records partition p holds.
func perPartition(p int) int {
	if nRecords <= p {
		return 0
	}
	return (nRecords-1-p) / *partitions + 1
}

// tailKeys reads (read_committed) up to the last 64 offsets before each
// partition's end and returns the highest key seen per partition.
func tailKeys(topic string, ends map[int32]int64) (map[int32]uint64, error) {
	c, err := kafka.NewConsumer(config(kafka.ConfigMap{"group.id": "bench-tail", "isolation.level": "read_committed",
		"enable.auto.commit": false, "enable.partition.eof": true, "fetch.wait.max.ms": 10}))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p, end := range ends {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(max(end-64, 0))})
	}
	if err := c.Assign(tps); err != nil {
		return nil, err
	}
	keys := map[int32]uint64{}
	eof := map[int32]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(eof) < len(ends) && time.Now().Before(deadline) {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error == nil && len(e.Key) == 8 {
				if k := binary.BigEndian.Uint64(e.Key); k >= keys[e.TopicPartition.Partition] {
					keys[e.TopicPartition.Partition] = k
				}
			}
		case kafka.PartitionEOF:
			eof[e.Partition] = true
		}
	}
	if len(eof) < len(ends) {
		return nil, fmt.Errorf("tail of %s not read in time", topic)
	}
	return keys, nil
}
