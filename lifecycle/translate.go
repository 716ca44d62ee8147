package lifecycle

import (
	"context"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
)

// Translator finds, in a copy, the offset that corresponds to a source
// offset: that of the first record whose X-Migrator-Origin offset is at
// least the source offset. It binary-searches each partition with
// single-record fetches and remembers what it has read, so translating
// many groups costs little more than one.
type Translator struct {
	cfg    clientconfig.Config
	target string
	// origin is the topic the copies come from; records without an origin
	// naming it are an error, unless lenient, when they count as earlier.
	origin  string
	lenient bool
	c       *kafka.Consumer
	// probes caches, per partition, fetch offset → (record offset, origin
	// offset); origin -1 means no record at or after the fetch offset.
	probes map[int32]map[int64][2]int64
	bounds map[int32][2]int64
}

// NewTranslator opens a reader of target, whose records are all copies
// of records of origin. Close it when done.
func NewTranslator(cfg clientconfig.Config, target, origin string) (*Translator, error) {
	return newTranslator(cfg, target, origin, false)
}

func newTranslator(cfg clientconfig.Config, target, origin string, lenient bool) (*Translator, error) {
	cm, err := cfg.ConfigMap(kafka.ConfigMap{
		"group.id": "topic-migrator-translate", "enable.auto.commit": false, "isolation.level": "read_committed",
		"enable.partition.eof": true, "fetch.wait.max.ms": 10, "fetch.max.bytes": 1 << 20, "log_level": 3,
	})
	if err != nil {
		return nil, err
	}
	c, err := kafka.NewConsumer(&cm)
	if err != nil {
		return nil, cfg.ScrubError(fmt.Errorf("translate consumer: %w", err))
	}
	return &Translator{cfg: cfg, target: target, origin: origin, lenient: lenient, c: c, probes: map[int32]map[int64][2]int64{}, bounds: map[int32][2]int64{}}, nil
}

// Close releases the reader.
func (t *Translator) Close() { t.c.Close() }

// Probes counts the fetches made so far.
func (t *Translator) Probes() int {
	n := 0
	for _, m := range t.probes {
		n += len(m)
	}
	return n
}

// probe returns the first record at or after offset: its offset and its
// origin offset, or origin -1 at the end.
func (t *Translator) probe(ctx context.Context, p int32, offset int64) (int64, int64, error) {
	if m, ok := t.probes[p][offset]; ok {
		return m[0], m[1], nil
	}
	topic := t.target
	if err := t.c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(offset)}}); err != nil {
		return 0, 0, fmt.Errorf("assign %s/%d: %w", topic, p, err)
	}
	result := [2]int64{t.bounds[p][1], -1}
	for ctx.Err() == nil {
		ev := t.c.Poll(100)
		if m, ok := ev.(*kafka.Message); ok {
			if m.TopicPartition.Error != nil {
				return 0, 0, m.TopicPartition.Error
			}
			o, ok := bridge.OriginOf(m.Headers)
			switch {
			case ok && o.Topic == t.origin:
				result = [2]int64{int64(m.TopicPartition.Offset), o.Offset}
			case t.lenient:
				result = [2]int64{int64(m.TopicPartition.Offset), foreign}
			default:
				return 0, 0, fmt.Errorf("%s/%d@%d is not a copy of a record of %s (no %s header naming it)", topic, p, m.TopicPartition.Offset, t.origin, bridge.HeaderOrigin)
			}
			break
		}
		if _, ok := ev.(kafka.PartitionEOF); ok {
			break
		}
	}
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	if t.probes[p] == nil {
		t.probes[p] = map[int64][2]int64{}
	}
	t.probes[p][offset] = result
	return result[0], result[1], nil
}

// Translate returns the offset in partition p of the copy at which a
// consumer that had committed source offset o resumes: the first copy of a
// record at or after o. Dead-lettered and skipped records have no copy and
// are passed over, as they would have been by the consumer.
func (t *Translator) Translate(ctx context.Context, p int32, o int64) (int64, error) {
	b, ok := t.bounds[p]
	if !ok {
		low, high, err := t.c.QueryWatermarkOffsets(t.target, p, int(t.cfg.OperationTimeout().Milliseconds()))
		if err != nil {
			return 0, fmt.Errorf("offsets of %s/%d: %w", t.target, p, err)
		}
		b = [2]int64{low, high}
		t.bounds[p] = b
	}
	lo, hi := b[0], b[1]
	for lo < hi {
		mid := lo + (hi-lo)/2
		at, origin, err := t.probe(ctx, p, mid)
		if err != nil {
			return 0, err
		}
		if origin == foreign || (origin >= 0 && origin < o) {
			lo = at + 1 // Every record up to at is a copy of something before o.
		} else {
			hi = mid // No data record in [mid, at): the answer is at most mid.
		}
	}
	return lo, nil
}

// translateAll translates every offset of needed (partition → source
// offsets), one pass per partition.
func (t *Translator) translateAll(ctx context.Context, needed map[int32][]int64) (map[int32]map[int64]int64, error) {
	out := make(map[int32]map[int64]int64, len(needed))
	for p, offs := range needed {
		m, err := t.TranslateMany(ctx, p, offs)
		if err != nil {
			return nil, fmt.Errorf("translate %s/%d into %s: %w", t.origin, p, t.target, err)
		}
		out[p] = m
	}
	return out, nil
}

// foreign marks a probed record that is not a copy from the origin topic
// (a lenient translator counts it as earlier than any offset sought).
const foreign = -2

// TranslateMany translates many source offsets of partition p at once:
// one binary search for the smallest, then a single sequential read of
// the copy up to the largest, which is far cheaper than a search per
// offset when many groups move together.
func (t *Translator) TranslateMany(ctx context.Context, p int32, offsets []int64) (map[int64]int64, error) {
	want := slices.Clone(offsets)
	slices.Sort(want)
	want = slices.Compact(want)
	out := make(map[int64]int64, len(want))
	if len(want) == 0 {
		return out, nil
	}
	start, err := t.Translate(ctx, p, want[0])
	if err != nil {
		return nil, err
	}
	high := t.bounds[p][1]
	topic := t.target
	if start < high {
		if err := t.c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: p, Offset: kafka.Offset(start)}}); err != nil {
			return nil, fmt.Errorf("assign %s/%d: %w", topic, p, err)
		}
	}
	i := 0
	for next := start; i < len(want) && next < high; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch e := t.c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				return nil, e.TopicPartition.Error
			}
			at := int64(e.TopicPartition.Offset)
			next = at + 1
			o, ok := bridge.OriginOf(e.Headers)
			if !ok || o.Topic != t.origin {
				if !t.lenient {
					return nil, fmt.Errorf("%s/%d@%d is not a copy of a record of %s", topic, p, at, t.origin)
				}
				continue
			}
			for ; i < len(want) && want[i] <= o.Offset; i++ {
				out[want[i]] = at
			}
		case kafka.PartitionEOF:
			next = high
		}
	}
	for ; i < len(want); i++ {
		out[want[i]] = high // Past every copy: resume at the end.
	}
	return out, nil
}
