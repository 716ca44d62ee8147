package main

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// verification is what a topic holds, read whole (read_committed), against
// the backlog of n records (record i: key i, partition i % partitions,
// recSize bytes).
type verification struct {
	n          int // backlog records
	read       int // records read
	unique     int // backlog records present at least once, in their partition, whole
	duplicates int // extra copies of backlog records
	misplaced  int // records in the wrong partition, of the wrong size, or with a key not in the backlog
	reordered  int // a record first seen after a later record of its partition
}

// ok: every backlog record is there, in its partition, and nothing else.
// Duplicates (at-least-once) are allowed: they are reported, not counted.
func (v verification) ok() bool { return v.unique == v.n && v.misplaced == 0 }

func (v verification) missing() int { return v.n - v.unique }

func (v verification) String() string {
	s := fmt.Sprintf("%d of %d records", v.unique, v.n)
	if v.duplicates > 0 {
		s += fmt.Sprintf(", %d duplicates", v.duplicates)
	}
	if v.missing() > 0 {
		s += fmt.Sprintf(", MISSING %d", v.missing())
	}
	if v.misplaced > 0 {
		s += fmt.Sprintf(", %d MISPLACED/foreign", v.misplaced)
	}
	if v.reordered > 0 {
		s += fmt.Sprintf(", %d out of order", v.reordered)
	}
	return s
}

// verifyTopic reads topic from the beginning to its end (read_committed:
// aborted and open transactions are not there) and checks it against the
// backlog of n records.
func verifyTopic(topic string, n int) (verification, error) {
	v := verification{n: n}
	c, err := kafka.NewConsumer(config(kafka.ConfigMap{"group.id": "bench-verify", "isolation.level": "read_committed",
		"enable.auto.commit": false, "enable.partition.eof": true, "fetch.max.bytes": 64 << 20,
		"max.partition.fetch.bytes": 16 << 20}))
	if err != nil {
		return v, err
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := 0; p < *partitions; p++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: int32(p), Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		return v, err
	}
	seen := make([]bool, n)
	highest := make([]int64, *partitions) // per partition: highest key seen + 1
	eof := map[int32]bool{}
	deadline := time.Now().Add(30 * time.Minute)
	for len(eof) < *partitions {
		if time.Now().After(deadline) {
			return v, fmt.Errorf("reading %s: not at its end after 30 minutes", topic)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				continue
			}
			v.read++
			p := e.TopicPartition.Partition
			delete(eof, p) // more after an EOF: not at the end yet
			if len(e.Key) != 8 {
				v.misplaced++
				continue
			}
			k := binary.BigEndian.Uint64(e.Key)
			if k >= uint64(n) || int(k%uint64(*partitions)) != int(p) || len(e.Value) != recSize {
				v.misplaced++
				continue
			}
			if seen[k] {
				v.duplicates++
				continue
			}
			seen[k] = true
			v.unique++
			if int64(k) < highest[p] {
				v.reordered++
			} else {
				highest[p] = int64(k) + 1
			}
		case kafka.PartitionEOF:
			eof[e.Partition] = true
		case kafka.Error:
			if e.IsFatal() {
				return v, e
			}
		}
	}
	return v, nil
}
