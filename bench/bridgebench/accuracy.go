package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// accResult is how well one method moved a consumer group that stopped
// mid-topic: the records a consumer resuming on the target re-read
// (duplicates: copies of records before the stop position, or read twice)
// and skipped (lost: records at or after the stop position never read).
type accResult struct {
	method     string
	moved      int // partitions with a committed offset on the target
	notMoved   int // partitions without one (the consumer then starts at the earliest offset)
	duplicates int
	lost       int
	resumeAt   []int64 // per partition: the source offset of the first record read (-1: none)
	stop       []int64 // per partition: where the group stopped on the source
	took       time.Duration
}

// measureAccuracy writes -accuracy-records records, commits two groups at
// -accuracy-stop of every partition of the source, moves one with
// migrator's cutover consumers and the other with MirrorMaker 2's
// checkpoints (sync.group.offsets.enabled), and resumes each on its target.
func measureAccuracy(ctx context.Context, run, mm2Dir string) ([]accResult, error) {
	src, dst := "bench.acc-"+run+".v1", "bench.acc-"+run+".v2"
	if err := createTopic(ctx, src); err != nil {
		return nil, err
	}
	log.Printf("offset translation: loading %d records into %s", *accRecords, src)
	if err := load(src, *accRecords, 0); err != nil {
		return nil, err
	}
	origin, ends, err := readSource(src)
	if err != nil {
		return nil, err
	}
	stop := map[int32]int64{}
	for p, end := range ends {
		stop[p] = int64(float64(end) * *accStop)
	}
	gMig, gMM2 := "bench-acc-migrator-"+run, "bench-acc-mm2-"+run
	a, err := kafka.NewAdminClient(config(nil))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, g := range []string{gMig, gMM2} {
		if err := commitGroup(ctx, a, g, src, stop); err != nil {
			return nil, err
		}
	}
	log.Printf("offset translation: groups %s and %s stopped at %v of %v", gMig, gMM2, stop, ends)

	// migrator: apply, copy (exactly-once), cutover consumers.
	dir, err := os.MkdirTemp("", "bench-acc-")
	if err != nil {
		return nil, err
	}
	mapFile, stateFile, bridgeGroup := filepath.Join(dir, "map.yaml"), filepath.Join(dir, "state.db"), "bench-acc-bridge-"+run
	if err := os.WriteFile(mapFile, []byte(fmt.Sprintf("version: 1\nrenames:\n  - {from: %s, to: %s}\n", src, dst)), 0o644); err != nil {
		return nil, err
	}
	start := time.Now()
	for _, args := range [][]string{
		{"--state", stateFile, "apply", "--yes"},
		{"mirror", "--no-state", "--group", bridgeGroup, "--instance-id", bridgeGroup, "--until-caught-up"},
		{"--state", stateFile, "cutover", "consumers", "--yes", "--rename", src, "--group", gMig, "--bridge-group", bridgeGroup},
	} {
		cmd := exec.Command(*migrator, append([]string{"-b", *bootstrap, "--map", mapFile}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("migrator %s: %v\n%s", strings.Join(args, " "), err, lastLines(out.String(), 20))
		}
	}
	mig, err := resume(ctx, a, "migrator cutover consumers", gMig, dst, origin, stop)
	if err != nil {
		return nil, err
	}
	mig.took = time.Since(start)

	// MirrorMaker 2: copy with checkpoints and group offset sync, until the
	// group's synced offsets on the copy stop changing.
	const alias = "acc"
	target := alias + "." + src
	state := filepath.Join(mm2Dir, alias)
	cmd := mm2Cmd(src, alias, false, state, gMM2)
	// MM2 writes offset syncs (what checkpoints translate with) when it
	// flushes source offsets: every 60 s by default. 5 s gives it a fair
	// chance within the wait below.
	cmd.Env = append(cmd.Env, "MM2_EXTRA_PROPERTIES=offset.flush.interval.ms = 5000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitErr := waitSynced(ctx, a, gMM2, target, exited)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
	}
	took := time.Since(start)
	if waitErr != nil {
		log.Printf("offset translation: MirrorMaker 2: %v (log: %s/mm2.log)", waitErr, state)
	}
	mm2, err := resume(ctx, a, "MirrorMaker 2 checkpoints (sync.group.offsets.enabled)", gMM2, target, origin, stop)
	if err != nil {
		return nil, err
	}
	mm2.took = took
	return []accResult{mig, mm2}, nil
}

// readSource reads a topic whole: the (partition, offset) of every key, and
// every partition's end.
func readSource(topic string) (map[uint64][2]int64, map[int32]int64, error) {
	origin := map[uint64][2]int64{}
	ends := map[int32]int64{}
	err := readFrom(topic, nil, func(m *kafka.Message) {
		p, o := m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
		origin[binary.BigEndian.Uint64(m.Key)] = [2]int64{int64(p), o}
		if o+1 > ends[p] {
			ends[p] = o + 1
		}
	})
	return origin, ends, err
}

// readFrom reads every partition of topic (read_committed) from the given
// offsets (earliest where absent) to its end.
func readFrom(topic string, from map[int32]int64, each func(*kafka.Message)) error {
	c, err := kafka.NewConsumer(config(kafka.ConfigMap{"group.id": "bench-acc-reader", "isolation.level": "read_committed",
		"enable.auto.commit": false, "enable.partition.eof": true, "auto.offset.reset": "earliest"}))
	if err != nil {
		return err
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := 0; p < *partitions; p++ {
		o := kafka.OffsetBeginning
		if f, ok := from[int32(p)]; ok {
			o = kafka.Offset(f)
		}
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: int32(p), Offset: o})
	}
	if err := c.Assign(tps); err != nil {
		return err
	}
	eof := map[int32]bool{}
	deadline := time.Now().Add(5 * time.Minute)
	for len(eof) < *partitions {
		if time.Now().After(deadline) {
			return fmt.Errorf("reading %s: not at its end after 5 minutes", topic)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error == nil {
				each(e)
			}
		case kafka.PartitionEOF:
			eof[e.Partition] = true
		}
	}
	return nil
}

func commitGroup(ctx context.Context, a *kafka.AdminClient, group, topic string, offsets map[int32]int64) error {
	var tps []kafka.TopicPartition
	for p, o := range offsets {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	res, err := a.AlterConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return err
	}
	for _, r := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range r.Partitions {
			if tp.Error != nil {
				return fmt.Errorf("commit %s %s/%d: %w", group, topic, tp.Partition, tp.Error)
			}
		}
	}
	return nil
}

// groupOffsets is a group's committed offsets on topic (partitions without one left out).
func groupOffsets(ctx context.Context, a *kafka.AdminClient, group, topic string) (map[int32]int64, error) {
	var tps []kafka.TopicPartition
	for p := 0; p < *partitions; p++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: int32(p)})
	}
	res, err := a.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, r := range res.ConsumerGroupsTopicPartitions {
		for _, tp := range r.Partitions {
			if tp.Error == nil && tp.Offset >= 0 {
				out[tp.Partition] = int64(tp.Offset)
			}
		}
	}
	return out, nil
}

// waitSynced waits until MM2 has synced the group's offsets for every
// partition of target and they have not changed for 20 s, four offset
// flushes (3 minutes at most).
func waitSynced(ctx context.Context, a *kafka.AdminClient, group, target string, exited chan error) error {
	var last map[int32]int64
	stable := time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		got, err := groupOffsets(ctx, a, group, target)
		if err != nil {
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(last) {
			last, stable = got, time.Now()
			log.Printf("offset translation: MirrorMaker 2 synced %s on %s: %v", group, target, got)
			continue
		}
		if len(got) == *partitions && time.Since(stable) > 20*time.Second {
			return nil
		}
	}
	return fmt.Errorf("group %s not synced on all %d partitions of %s within 3 minutes (have %v)", group, *partitions, target, last)
}

// resume reads target from the group's committed offsets to the end and
// counts, against the source, the records read that came before the stop
// position or twice (duplicates) and those at or after it never read (lost).
func resume(ctx context.Context, a *kafka.AdminClient, method, group, target string, origin map[uint64][2]int64, stop map[int32]int64) (accResult, error) {
	r := accResult{method: method, resumeAt: make([]int64, *partitions), stop: make([]int64, *partitions)}
	for p, o := range stop {
		r.stop[p] = o
	}
	committed, err := groupOffsets(ctx, a, group, target)
	if err != nil {
		return r, err
	}
	r.moved, r.notMoved = len(committed), *partitions-len(committed)
	for i := range r.resumeAt {
		r.resumeAt[i] = -1
	}
	seen := map[uint64]bool{}
	err = readFrom(target, committed, func(m *kafka.Message) {
		if len(m.Key) != 8 {
			return
		}
		k := binary.BigEndian.Uint64(m.Key)
		o, ok := origin[k]
		if !ok {
			return
		}
		if p := m.TopicPartition.Partition; r.resumeAt[p] < 0 {
			r.resumeAt[p] = o[1]
		}
		if seen[k] || o[1] < stop[int32(o[0])] {
			r.duplicates++
		}
		seen[k] = true
	})
	if err != nil {
		return r, err
	}
	for k, o := range origin {
		if o[1] >= stop[int32(o[0])] && !seen[k] {
			r.lost++
		}
	}
	return r, nil
}

func reportAccuracy(acc []accResult) {
	fmt.Printf("\nOffset translation: a group stopped at %.0f %% of each of %d partitions (%d records of %d B), moved to the copy, resumed there\n\n",
		100**accStop, *partitions, *accRecords, *size)
	fmt.Println("| method | partitions moved | re-read (duplicates) | skipped (lost) | per partition: first source offset read / stop position | time |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, a := range acc {
		parts := make([]string, len(a.resumeAt))
		for i, o := range a.resumeAt {
			parts[i] = fmt.Sprintf("%d/%d", o, a.stop[i])
		}
		moved := fmt.Sprintf("%d / %d", a.moved, a.moved+a.notMoved)
		fmt.Printf("| %s | %s | %d | %d | %s | %.1f s |\n", a.method, moved, a.duplicates, a.lost, strings.Join(parts, ", "), a.took.Seconds())
	}
}
