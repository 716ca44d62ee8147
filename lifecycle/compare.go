package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/clientconfig"
	"github.com/huleedu/topic-migrator/state"
)

// PartitionReport is what verify found in one partition.
type PartitionReport struct {
	Partition int32 `json:"partition"`
	// Compared counts source records matched with their copy.
	Compared int64 `json:"compared"`
	// DeadLettered counts source records found in the DLQ instead.
	DeadLettered int64 `json:"dead_lettered"`
	// Skipped counts source records that came from the target (the
	// reverse bridge's copies), which are not copied back.
	Skipped int64 `json:"skipped"`
	// NotYetCopied counts source records after the last copy (bridge lag).
	NotYetCopied int64 `json:"not_yet_copied"`
	// Direct counts target records that are not copies: written to the
	// new topic directly once producers moved there.
	Direct int64 `json:"direct"`
	// From is the first source offset compared: the source's first
	// record, or the origin of the target's first copy when the target's
	// retention removed earlier copies or the copy began later by design
	// (the rename's start is not earliest).
	From int64 `json:"from"`
	// FirstDirect is the first target record that is not a copy, nil when
	// there is none.
	FirstDirect *RecordRef `json:"first_direct,omitempty"`
	// FirstDeadLetter is the first source record found only in the DLQ;
	// DeadLetters lists every one.
	FirstDeadLetter *bridge.Origin  `json:"first_dead_letter,omitempty"`
	DeadLetters     []bridge.Origin `json:"dead_letters,omitempty"`
	// SourceEnd is where the comparison of the source partition ended
	// (its committed end then, or the bound it was given).
	SourceEnd int64 `json:"source_end"`
	// Divergence describes the first mismatch, "" when none.
	Divergence string `json:"divergence,omitempty"`
	// VerifiedBefore counts the source records of a prefix verified
	// earlier that this comparison did not read again (it compared only
	// the tail after it); 0 for a full comparison.
	VerifiedBefore int64 `json:"verified_before,omitempty"`

	// prefix is the verified prefix this comparison proved (or extended):
	// the source and target offsets of the records matched one for one.
	prefix state.PrefixPartition
	// gap says the comparison began after the source's first record
	// because the target's retention removed the first copies.
	gap bool
}

// clean says the partition's prefix holds nothing but identical copies:
// no divergence, dead letter, record of the target's own or written
// directly, and no gap the target's retention left.
func (p *PartitionReport) clean() bool {
	return !p.gap && p.Divergence == "" && p.DeadLettered == 0 && p.Skipped == 0 && p.Direct == 0
}

// RecordRef names one record: where it is and what it holds, enough for an
// operator to find its producer.
type RecordRef struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key"`
	Timestamp time.Time `json:"timestamp"`
}

func (r RecordRef) String() string {
	return fmt.Sprintf("%s/%d@%d (key %q, written %s)", r.Topic, r.Partition, r.Offset, r.Key, r.Timestamp.UTC().Format(time.RFC3339))
}

// recordRef names m, its key cut to 64 bytes.
func recordRef(m *kafka.Message) *RecordRef {
	key := string(m.Key)
	if len(key) > 64 {
		key = key[:64] + "…"
	}
	return &RecordRef{Topic: *m.TopicPartition.Topic, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Key: key, Timestamp: m.Timestamp}
}

// VerifyReport is what verify found for one rename.
type VerifyReport struct {
	Source     string            `json:"source"`
	Target     string            `json:"target"`
	Partitions []PartitionReport `json:"partitions"`

	// resumed is the verified prefix this report compared only the tail
	// after; nil for a full comparison. A safety proof that takes this
	// report must check the prefix's proofs again (checkPrefix).
	resumed *state.VerifiedPrefix
}

// OK reports whether every partition matched.
func (r *VerifyReport) OK() bool {
	for _, p := range r.Partitions {
		if p.Divergence != "" {
			return false
		}
	}
	return true
}

// Totals sums the partitions' counts; Divergence is the first found.
func (r *VerifyReport) Totals() PartitionReport {
	var t PartitionReport
	t.Partition = -1
	for _, p := range r.Partitions {
		t.Compared += p.Compared
		t.DeadLettered += p.DeadLettered
		t.Skipped += p.Skipped
		t.NotYetCopied += p.NotYetCopied
		t.Direct += p.Direct
		t.VerifiedBefore += p.VerifiedBefore
		if t.FirstDirect == nil {
			t.FirstDirect = p.FirstDirect
		}
		if t.FirstDeadLetter == nil {
			t.FirstDeadLetter = p.FirstDeadLetter
		}
		if t.Divergence == "" && p.Divergence != "" {
			t.Divergence = fmt.Sprintf("partition %d: %s", p.Partition, p.Divergence)
		}
	}
	return t
}

// Summary says in one line what verify found.
func (r *VerifyReport) Summary() string {
	t := r.Totals()
	s := fmt.Sprintf("%d record(s) identical, %d dead-lettered, %d not yet copied, %d written directly", t.Compared, t.DeadLettered, t.NotYetCopied, t.Direct)
	if r.resumed != nil {
		s += fmt.Sprintf(" (only the tail after %d record(s) verified earlier)", t.VerifiedBefore)
	}
	if t.Divergence != "" {
		s += "; first difference at " + t.Divergence
	}
	return s
}

// sourceEnds returns where the comparison of each source partition ended.
func (r *VerifyReport) sourceEnds() state.Offsets {
	out := state.Offsets{}
	for _, p := range r.Partitions {
		out[p.Partition] = p.SourceEnd
	}
	return out
}

// Complete reports whether every source record compared has its copy or
// its dead letter: none is still to be copied.
func (r *VerifyReport) Complete() bool { return r.Totals().NotYetCopied == 0 }

// CompareCopy proves that target is a copy of source, partition by
// partition: every committed source record from the source's first one
// is, in order, either in the target (same key, value, timestamp and
// headers, ignoring the ones the bridge adds) or in dlq, or came from the
// target itself; the target holds nothing else but records written to it
// directly. A copy that lacks the source's first records fails (a missing
// head), unless the target's retention removed its first copies. Records
// after the last copy are counted (NotYetCopied), not failed: the caller
// decides whether a copy must be complete. progress, when set, is called
// after each partition.
func CompareCopy(ctx context.Context, cfg clientconfig.Config, source, target, dlq string, partitions int32, progress func(PartitionReport)) (*VerifyReport, error) {
	return compareCopy(ctx, cfg, source, target, dlq, partitions, compareOptions{}, progress)
}

// compareOptions narrow a comparison.
type compareOptions struct {
	// sourceEnds, when set, bounds each source partition p at
	// sourceEnds[p] (the plan's probe verifies a copy of part of a topic).
	sourceEnds map[int32]int64
	// startedLater says the copy began after the source's first record
	// by design (the rename's start is latest or a time): the source's
	// records before the first copy are not missing.
	startedLater bool
	// forDelete compares for a delete of the source: a gap the target's
	// retention left is then missing too (the source is the last place
	// those records are).
	forDelete bool
	// report, when set, is told of each partition's records to compare
	// and, every progressBatch records, of the records compared.
	report *reporter
	// resume, when set, is a verified prefix whose proofs the caller
	// checked (checkPrefix): each partition is compared only from the
	// prefix's ends, the source from SourceEnd and the target from
	// TargetEnd, and a copy there of a record before SourceEnd is a
	// duplicate.
	resume *state.VerifiedPrefix
	// estimates are the records each partition was expected to compare
	// when the report's total was first told (set by compareCopy).
	estimates []int64
}

// progressBatch is how many source records a comparison reads between two
// progress reports.
const progressBatch = 1000

// compareCopy is CompareCopy with options.
func compareCopy(ctx context.Context, cfg clientconfig.Config, source, target, dlq string, partitions int32, opts compareOptions, progress func(PartitionReport)) (*VerifyReport, error) {
	sourceEnds := opts.sourceEnds
	// The target's ends are fixed before the DLQ is read: the bridge
	// writes a dead letter in the same transaction as the copies after
	// it, so every record dead-lettered before a copy verify will see is
	// in the DLQ by the time it is read.
	targetLows, ends, err := watermarks(cfg, target, partitions)
	if err != nil {
		return nil, err
	}
	dead, err := deadLettered(ctx, cfg, dlq)
	if err != nil {
		return nil, err
	}
	// The source's offsets are read after the target's end (see
	// verifyPartition), once for every partition.
	sourceLows, sourceHighs, err := watermarks(cfg, source, partitions)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Source: source, Target: target, Partitions: make([]PartitionReport, partitions), resumed: opts.resume}
	if opts.resume != nil && len(opts.resume.Partitions) != int(partitions) {
		return nil, fmt.Errorf("the verified prefix of %s covers %d partition(s), the topic has %d", source, len(opts.resume.Partitions), partitions)
	}
	if opts.report != nil {
		// The records to compare are told up front, so that the first
		// report already counts every partition's; each partition
		// corrects its estimate once it knows where it starts.
		opts.estimates = estimateRecords(sourceLows, sourceHighs, opts)
		var total int64
		for _, n := range opts.estimates {
			total += n
		}
		opts.report.add(0, total)
	}
	// Partitions are independent: a few are read at once, each by its own
	// pair of consumers.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, parallelism(opts))
	)
	for p := int32(0); p < partitions; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			mu.Lock()
			failed := first != nil
			mu.Unlock()
			if failed {
				return
			}
			sourceEnd := int64(-1)
			if sourceEnds != nil {
				sourceEnd = sourceEnds[p]
			}
			bounds := partitionBounds{sourceLow: sourceLows[p], sourceHigh: sourceHighs[p], targetLow: targetLows[p], targetEnd: ends[p]}
			pr, err := verifyPartition(ctx, cfg, source, target, p, sourceEnd, bounds, dead, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			rep.Partitions[p] = pr
			if progress != nil {
				progress(pr)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return rep, nil
}

// estimateRecords returns, per partition, how many source records a
// comparison will read: from the source's first record (or the verified
// prefix's end) to its end (or the bound of sourceEnds).
func estimateRecords(lows, highs []int64, opts compareOptions) []int64 {
	out := make([]int64, len(lows))
	for p := range lows {
		from, end := lows[p], highs[p]
		if opts.resume != nil {
			from = max(from, opts.resume.Partitions[p].SourceEnd)
		}
		if opts.sourceEnds != nil {
			end = min(end, opts.sourceEnds[int32(p)])
		}
		out[p] = max(end-from, 0)
	}
	return out
}

// verifyParallelism is how many partitions verify reads at once, and
// tailParallelism how many when only the tail after a verified prefix is
// compared: a few records each, so the time is the consumers' round trips
// rather than reading.
const (
	verifyParallelism = 4
	tailParallelism   = 32
)

// parallelism is how many partitions a comparison reads at once.
func parallelism(opts compareOptions) int {
	if opts.resume != nil {
		return tailParallelism
	}
	return verifyParallelism
}

// deadLettered returns the source offsets found in the DLQ.
func deadLettered(ctx context.Context, cfg clientconfig.Config, dlq string) (map[bridge.Origin]bool, error) {
	out := map[bridge.Origin]bool{}
	r, err := openReader(cfg, dlq, 0, -1)
	if err != nil {
		var kerr kafka.Error
		if errors.As(err, &kerr) && (kerr.Code() == kafka.ErrUnknownPartition || kerr.Code() == kafka.ErrUnknownTopicOrPart || kerr.Code() == kafka.ErrUnknownTopic) {
			return out, nil // No DLQ topic: nothing was dead-lettered.
		}
		return nil, err
	}
	defer r.close()
	for {
		m, err := r.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("read DLQ %s: %w", dlq, err)
		}
		if m == nil {
			return out, nil
		}
		if o, ok := bridge.OriginOf(m.Headers); ok {
			out[o] = true
		}
	}
}

// partitionBounds are a partition's first offsets and ends in the source
// and the target, read for every partition at once before it is compared.
type partitionBounds struct {
	sourceLow, sourceHigh, targetLow, targetEnd int64
}

func verifyPartition(ctx context.Context, cfg clientconfig.Config, source, target string, p int32, sourceEnd int64, b partitionBounds, dead map[bridge.Origin]bool, opts compareOptions) (PartitionReport, error) {
	pr := PartitionReport{Partition: p}
	var resume *state.PrefixPartition
	srcFrom, dstFrom := int64(-1), int64(-1)
	if opts.resume != nil {
		resume = &opts.resume.Partitions[p]
		if resume.Partition != p {
			return pr, fmt.Errorf("the verified prefix of %s lists partition %d in place of %d", source, resume.Partition, p)
		}
		srcFrom, dstFrom = resume.SourceEnd, resume.TargetEnd
	}
	// The target's end was taken first: every copy it holds up to there
	// is of a source record below the source's end taken after, even
	// while both are written to and copied.
	dst, err := openReaderWithin(cfg, target, p, dstFrom, b.targetEnd, b.targetLow, b.targetEnd)
	if err != nil {
		return pr, err
	}
	defer dst.close()
	src, err := openReaderWithin(cfg, source, p, srcFrom, sourceEnd, b.sourceLow, b.sourceHigh)
	if err != nil {
		return pr, err
	}
	defer src.close()
	if resume != nil && (src.low != resume.SourceLogStart || dst.low != resume.TargetLogStart) {
		// checkPrefix saw them unchanged; they moved since.
		pr.Divergence = fmt.Sprintf("the log start offsets of %s/%d and %s/%d are %d and %d, not the %d and %d of the verified prefix: records were deleted from it",
			source, p, target, p, src.low, dst.low, resume.SourceLogStart, resume.TargetLogStart)
		return pr, nil
	}

	// nextCopy reads the next copy of a source record, counting records
	// written to the target directly (no origin naming the source).
	nextCopy := func() (*kafka.Message, error) {
		for {
			m, err := dst.read(ctx)
			if err != nil {
				return nil, fmt.Errorf("read %s/%d: %w", target, p, err)
			}
			if m == nil {
				return nil, nil
			}
			if o, ok := bridge.OriginOf(m.Headers); ok && o.Topic == source {
				return m, nil
			}
			pr.Direct++
			if pr.FirstDirect == nil {
				pr.FirstDirect = recordRef(m)
			}
		}
	}
	pr.SourceEnd = src.high
	targetLow := dst.next
	copyRec, err := nextCopy()
	if err != nil {
		return pr, err
	}
	gap := false
	if resume != nil {
		// Only the tail: the prefix's proofs hold, so its records are
		// the ones verified; every copy from its target end on must be
		// of a source record from its source end on.
		pr.From, pr.VerifiedBefore, pr.prefix = resume.SourceFrom, resume.Records, *resume
	} else {
		// Compare from the source's first record: a copy that lacks it
		// has lost its head. Only a later start by design, or, unless
		// the source is to be deleted, the target's retention (its first
		// copies are gone) explain a gap.
		pr.From = src.next
		if copyRec != nil && ((targetLow > 0 && !opts.forDelete) || opts.startedLater) {
			o, _ := bridge.OriginOf(copyRec.Headers)
			gap = o.Offset > pr.From && !opts.startedLater
			pr.From = max(pr.From, o.Offset)
		}
		// Copies of records the source's retention has removed since
		// have nothing left to be compared with.
		for copyRec != nil {
			if o, _ := bridge.OriginOf(copyRec.Headers); o.Offset >= pr.From {
				break
			}
			if copyRec, err = nextCopy(); err != nil {
				return pr, err
			}
		}
		targetFrom := dst.high
		if copyRec != nil {
			targetFrom = int64(copyRec.TopicPartition.Offset)
		}
		pr.prefix = state.PrefixPartition{Partition: p, SourceFrom: pr.From, SourceEnd: pr.From, TargetFrom: targetFrom, TargetEnd: targetFrom}
	}
	pr.prefix.SourceLogStart, pr.prefix.TargetLogStart = src.low, dst.low
	pr.gap = gap
	var read int64 // source records read since the last report
	if opts.report != nil {
		var estimated int64
		if opts.estimates != nil {
			estimated = opts.estimates[p]
		}
		opts.report.add(0, max(pr.SourceEnd-pr.From, 0)-estimated)
		defer func() { opts.report.add(read, 0) }()
	}
	for {
		s, err := src.read(ctx)
		if err != nil {
			return pr, fmt.Errorf("read %s/%d: %w", source, p, err)
		}
		if s == nil {
			break
		}
		off := int64(s.TopicPartition.Offset)
		if off < pr.From {
			continue
		}
		if read++; read == progressBatch && opts.report != nil {
			opts.report.add(read, 0)
			read = 0
		}
		origin := bridge.Origin{Topic: source, Partition: p, Offset: off}
		if o, ok := bridge.OriginOf(s.Headers); ok && o.Topic == target {
			pr.Skipped++
			continue
		}
		if dead[origin] {
			pr.DeadLettered++
			pr.DeadLetters = append(pr.DeadLetters, origin)
			if pr.FirstDeadLetter == nil {
				pr.FirstDeadLetter = &origin
			}
			continue
		}
		if copyRec == nil {
			pr.NotYetCopied++
			continue
		}
		o, _ := bridge.OriginOf(copyRec.Headers)
		switch {
		case o.Offset > off:
			pr.Divergence = fmt.Sprintf("source %s is missing from the target: the copy at %s/%d@%d is of offset %d", origin, target, p, copyRec.TopicPartition.Offset, o.Offset)
		case o.Offset < off:
			pr.Divergence = fmt.Sprintf("the copy at %s/%d@%d is of offset %d, expected %d: a record copied twice or out of order", target, p, copyRec.TopicPartition.Offset, o.Offset, off)
		default:
			pr.Divergence = differs(s, copyRec)
			if pr.Divergence != "" {
				pr.Divergence = fmt.Sprintf("source %s and its copy %s/%d@%d differ: %s", origin, target, p, copyRec.TopicPartition.Offset, pr.Divergence)
			}
		}
		if pr.Divergence != "" {
			return pr, nil
		}
		pr.Compared++
		pr.prefix.SourceEnd, pr.prefix.TargetEnd = off+1, int64(copyRec.TopicPartition.Offset)+1
		pr.prefix.Records++
		if copyRec, err = nextCopy(); err != nil {
			return pr, err
		}
	}
	if copyRec != nil {
		o, _ := bridge.OriginOf(copyRec.Headers)
		pr.Divergence = fmt.Sprintf("the target holds a record the source does not: %s/%d@%d (origin %v)", target, p, copyRec.TopicPartition.Offset, o)
	}
	return pr, nil
}

// differs compares a source record with its copy: key, value (null and
// empty apart), timestamp and the source's headers in order; the headers
// the bridge adds are ignored. It returns "" when they match.
func differs(s, c *kafka.Message) string {
	switch {
	case (s.Key == nil) != (c.Key == nil) || !bytes.Equal(s.Key, c.Key):
		return fmt.Sprintf("key %q ≠ %q", c.Key, s.Key)
	case (s.Value == nil) != (c.Value == nil) || !bytes.Equal(s.Value, c.Value):
		return fmt.Sprintf("value differs (%d bytes vs %d)", len(c.Value), len(s.Value))
	case !s.Timestamp.Equal(c.Timestamp):
		return fmt.Sprintf("timestamp %s ≠ %s", c.Timestamp.UTC().Format(time.RFC3339Nano), s.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	// The copy holds the source's headers in order (an old origin header
	// replaced), then only headers the bridge adds.
	var sh []kafka.Header
	for _, h := range s.Headers {
		if !strings.EqualFold(h.Key, bridge.HeaderOrigin) {
			sh = append(sh, h)
		}
	}
	if len(c.Headers) < len(sh) {
		return fmt.Sprintf("%d headers, the source has %d", len(c.Headers), len(sh))
	}
	for i := range sh {
		if sh[i].Key != c.Headers[i].Key || !bytes.Equal(sh[i].Value, c.Headers[i].Value) {
			return fmt.Sprintf("header %d is %s, the source's is %s", i, c.Headers[i].Key, sh[i].Key)
		}
	}
	for _, h := range c.Headers[len(sh):] {
		if !isAdded(h.Key) {
			return fmt.Sprintf("header %s is neither the source's nor one the bridge adds", h.Key)
		}
	}
	return ""
}

func isAdded(key string) bool {
	for _, a := range bridge.AddedHeaders {
		if strings.EqualFold(a, key) {
			return true
		}
	}
	return false
}
