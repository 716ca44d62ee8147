package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
)

// StopOptions shape EstimateSwapStops.
type StopOptions struct {
	// MaxStop is the longest acceptable stop; longer ones get a warning.
	MaxStop time.Duration
	// Measure runs a probe copy to measure the cluster's copy throughput.
	// It creates a scratch topic of its own, named ProbePrefix and a
	// random suffix, and deletes it.
	Measure bool
	// ProbeBytes bounds the probe copy (default 128 MiB).
	ProbeBytes int64
	// QuietFor is the quiet check the swap will begin with (cutover
	// swap --quiet-for): part of the stop.
	QuietFor time.Duration
}

// ProbePrefix starts the name of the scratch topic each copy-throughput
// probe creates, writes to and deletes (a random suffix makes it its own:
// a probe deletes no topic but the one it created); its consumer group has
// the same name.
const ProbePrefix = "migrator.probe.copy-rate."

// sampleRecords is how many records per partition are read to size a
// topic's average record.
const sampleRecords = 500

// EstimateSwapStops fills Stop on every swap rename of p whose source
// exists: the bytes to copy from staging to new (the source's records
// times the average size of a sample) and, with opts.Measure, the stop:
// those bytes over the copy throughput plus them over the verify
// throughput (inside the stop the swap verifies staging against old; it
// verifies new against staging after the stop). Both throughputs are
// measured by copying up to ProbeBytes of the largest swap's staging
// topic (its source while staging is empty), as the swap's stop copies
// staging into the new topic, into a probe topic of its own, and
// verifying that copy; the probe topic is deleted after. Without opts.Measure the estimate has the bytes only. A stop
// longer than MaxStop adds a warning finding.
func EstimateSwapStops(ctx context.Context, env *Env, p *plan.Plan, opts StopOptions) error {
	if opts.ProbeBytes <= 0 {
		opts.ProbeBytes = 128 << 20
	}
	var swaps []*plan.RenamePlan
	for i := range p.Renames {
		if r := &p.Renames[i]; r.Strategy == plan.StrategySwap && r.Create != nil {
			swaps = append(swaps, r)
		}
	}
	if len(swaps) == 0 {
		return nil
	}
	largest := swaps[0]
	for _, r := range swaps {
		avg, err := averageRecordBytes(ctx, env, r.From, r.Create.Partitions)
		if err != nil {
			return fmt.Errorf("size records of %s: %w", r.From, err)
		}
		r.Stop = &plan.StopEstimate{Records: r.SourceRecords, Bytes: int64(avg * float64(r.SourceRecords)), Measured: "not measured: run plan --measure-stop"}
		if r.Stop.Bytes > largest.Stop.Bytes {
			largest = r
		}
	}
	if !opts.Measure {
		return nil
	}
	// The swap's copy reads staging, whose records carry the bridge's
	// headers: the probe copies from staging too once the bridge has
	// filled it, else from the old topic.
	probeSource := largest.From
	if staging := plan.StagingTopic(largest.To); largest.Action != plan.ActionCreateStaging {
		if n, err := recordsIn(ctx, env, staging); err == nil && n > 0 {
			probeSource = staging
		}
	}
	rate, verifyRate, created, how, err := measureRates(ctx, env, probeSource, opts.ProbeBytes)
	if err != nil {
		return fmt.Errorf("measure copy throughput: %w", err)
	}
	seconds := func(bytes, perSecond float64) time.Duration {
		return time.Duration(bytes / perSecond * float64(time.Second))
	}
	for _, r := range swaps {
		st := r.Stop
		st.CopyBytesPerSecond, st.VerifyBytesPerSecond, st.Measured = rate, verifyRate, how
		if rate <= 0 || verifyRate <= 0 {
			continue
		}
		st.Copy = seconds(float64(st.Bytes), rate)
		st.VerifyRecords, st.VerifyFrom = st.Records, "in full: no verify during the window recorded staging's verified prefix (migrator verify --rename "+r.From+")"
		if n, why, err := env.stopVerifyRecords(ctx, r); err != nil {
			return err
		} else if why == "" {
			st.VerifyRecords, st.VerifyFrom = n, "the tail after staging's verified prefix"
		} else if env.Store != nil {
			st.VerifyFrom = "in full: " + why
		}
		if st.Records > 0 {
			st.Verify = seconds(float64(st.Bytes)*float64(st.VerifyRecords)/float64(st.Records), verifyRate)
		}
		// The other steps: the quiet check, the drain of what the bridge
		// has still to copy, and the metadata changes.
		lag, err := env.bridgeLag(ctx, r.From)
		if err != nil {
			return err
		}
		st.Fixed = opts.QuietFor + fixedCreates*created
		if st.Records > 0 {
			st.Fixed += seconds(float64(st.Bytes)*float64(lag)/float64(st.Records), rate)
		}
		st.Total = st.Copy + st.Verify + st.Fixed
		if opts.MaxStop > 0 && st.Total > opts.MaxStop {
			r.Findings = append(r.Findings, plan.Finding{Severity: plan.Warning, Code: "stop-too-long", Topic: r.To,
				Message: fmt.Sprintf("the swap's stop is expected to take %s (copying %d MB at %.1f MB/s: %s; verifying staging at %.1f MB/s: %s), longer than --max-stop %s.",
					st.Total.Round(time.Second), st.Bytes/1_000_000, rate/1e6, st.Copy.Round(time.Second), verifyRate/1e6, st.Verify.Round(time.Second), opts.MaxStop),
				Fix: "shorten the topic's retention before the swap, or choose a non-colliding name (a version bump) and the dual strategy"})
		}
	}
	return nil
}

// recordsIn returns how many records topic holds (end minus start
// offsets), 0 when it does not exist.
func recordsIn(ctx context.Context, env *Env, topic string) (int64, error) {
	snap, err := env.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{topic}})
	if err != nil {
		return 0, err
	}
	t := snap.Topics[topic]
	if t == nil || t.Offsets == nil {
		return 0, nil
	}
	return t.Offsets.Records(), nil
}

// averageRecordBytes reads up to sampleRecords records of each partition
// of topic and returns their average key, value and header bytes.
func averageRecordBytes(ctx context.Context, env *Env, topic string, partitions int) (float64, error) {
	var total, n int64
	for p := int32(0); p < int32(partitions); p++ {
		rd, err := openReader(env.Admin.Config(), topic, p, -1)
		if err != nil {
			return 0, err
		}
		for i := 0; i < sampleRecords; i++ {
			m, err := rd.read(ctx)
			if err != nil {
				rd.close()
				return 0, err
			}
			if m == nil {
				break
			}
			total += int64(len(m.Key) + len(m.Value))
			for _, h := range m.Headers {
				total += int64(len(h.Key) + len(h.Value))
			}
			n++
		}
		rd.close()
	}
	if n == 0 {
		return 0, nil
	}
	return float64(total) / float64(n), nil
}

// measureRates copies up to limit bytes of source into a probe topic of
// its own as the swap's stop copies (copyForStop), then verifies the copy against the
// part of source it holds, and returns both throughputs in bytes of the
// topic per second, how long the probe topic's create took, and how they
// were measured. The probe topic and group
// are deleted after, through the safety proof like every delete.
func measureRates(ctx context.Context, env *Env, source string, limit int64) (copyRate, verifyRate float64, created time.Duration, how string, err error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return 0, 0, 0, "", err
	}
	probeTopic := ProbePrefix + hex.EncodeToString(suffix[:])
	probe, err := measureCopyRate(ctx, env, source, probeTopic, limit)
	defer func() {
		if !probe.created {
			return
		}
		cctx := context.WithoutCancel(ctx)
		// The DLQ exists only if the probe refused a record.
		for _, t := range []string{probeTopic, plan.DLQTopic(probeTopic)} {
			if err := env.deleteTopic(cctx, deletion{topic: t, keeper: source, copyGroups: []string{probeTopic}}); err != nil {
				env.logger().Warn("could not delete the probe's topic; delete it by hand", "topic", t, "err", err)
			}
		}
		_, _ = env.Admin.Kafka().DeleteConsumerGroups(cctx, []string{probeTopic})
	}()
	if err != nil || probe.rate <= 0 {
		return 0, 0, 0, probe.how, err
	}
	// Verify reads source as far as the probe copied it.
	start := time.Now()
	report := env.progress("verify the probe copy of "+source, "records")
	rep, err := compareCopy(ctx, env.Admin.Config(), source, probeTopic, plan.DLQTopic(probeTopic), probe.partitions, compareOptions{sourceEnds: probe.ends, report: report}, nil)
	report.finish()
	if err != nil {
		return 0, 0, 0, "", fmt.Errorf("verify the probe copy: %w", err)
	}
	if !rep.OK() {
		return 0, 0, 0, "", fmt.Errorf("the probe copy of %s does not verify: %s", source, rep.Summary())
	}
	verifyRate = probe.copied / time.Since(start).Seconds()
	return probe.rate, verifyRate, probe.createTook, fmt.Sprintf("%s, verified at %.1f MB/s; its topic created in %s", probe.how, verifyRate/1e6, probe.createTook.Round(time.Millisecond)), nil
}

// probeCopy is what measureCopyRate measured.
type probeCopy struct {
	// created says the probe topic was created by this run (and so is its
	// to delete).
	created    bool
	partitions int32
	rate       float64 // bytes per second
	copied     float64 // bytes copied in all
	// ends bounds, per partition, the part of the source copied.
	ends map[int32]int64
	how  string
	// createTook is how long the probe topic's create took, until every
	// broker knew it.
	createTook time.Duration
}

// measureCopyRate creates probeTopic and copies up to limit bytes of
// source into it (the caller deletes it) as the swap's stop copies
// staging into the new topic (copyPartitions: one consumer, one
// idempotent producer), and returns the bytes per second of the copy.
func measureCopyRate(ctx context.Context, env *Env, source, probeTopic string, limit int64) (probeCopy, error) {
	topics, err := env.Admin.DescribeTopics(ctx, []string{source})
	if err != nil {
		return probeCopy{}, err
	}
	src := topics[source]
	if src == nil {
		return probeCopy{}, fmt.Errorf("topic %s does not exist", source)
	}
	createStart := time.Now()
	errs, err := env.Admin.CreateTopics(ctx, []admin.TopicSpec{{Name: probeTopic, Partitions: src.Partitions, ReplicationFactor: src.ReplicationFactor,
		Configs: map[string]string{"retention.ms": "-1", "max.message.bytes": src.Effective["max.message.bytes"]}}}, false)
	if err == nil {
		err = errs[probeTopic]
	}
	if err != nil {
		return probeCopy{}, fmt.Errorf("create the probe topic %s: %w", probeTopic, err)
	}
	created := probeCopy{created: true}
	if err := env.Admin.WaitForTopics(ctx, []string{probeTopic}, true); err != nil {
		return created, err
	}
	created.createTook = time.Since(createStart)
	// The probe copies the same share of each partition, from its first
	// record, as the swap's stop copies staging (copyForStop).
	avg, err := averageRecordBytes(ctx, env, source, src.Partitions)
	if err != nil || avg <= 0 {
		return probeCopy{created: true, createTook: created.createTook, how: fmt.Sprintf("%s holds nothing to measure a copy rate with", source)}, err
	}
	perPartition := int64(float64(limit) / avg / float64(src.Partitions))
	c, err := newVerifyConsumer(env.Admin.Config())
	if err != nil {
		return created, err
	}
	defer c.Close()
	ends := map[int32]int64{}
	var assign []kafka.TopicPartition
	timeout := int(env.Admin.Config().OperationTimeout().Milliseconds())
	for p := int32(0); p < int32(src.Partitions); p++ {
		low, high, err := c.QueryWatermarkOffsets(source, p, timeout)
		if err != nil {
			return created, fmt.Errorf("offsets of %s/%d: %w", source, p, err)
		}
		ends[p] = min(high, low+max(perPartition, 1))
		if ends[p] > low {
			assign = append(assign, kafka.TopicPartition{Topic: &source, Partition: p, Offset: kafka.Offset(low)})
		}
	}
	if len(assign) == 0 {
		return probeCopy{created: true, createTook: created.createTook, how: fmt.Sprintf("%s holds nothing to measure a copy rate with", source)}, nil
	}
	report := env.progress("probe copy of "+source, "records")
	var total int64
	for _, tp := range assign {
		total += ends[tp.Partition] - int64(tp.Offset)
	}
	report.set(0, total)
	start := time.Now()
	maxBytes, _ := strconv.Atoi(src.Effective["max.message.bytes"])
	n, _, err := copyPartitions(ctx, env.Admin.Config(), c, probeTopic, maxBytes, assign, ends, report)
	report.finish()
	if err != nil {
		return created, err
	}
	elapsed := time.Since(start).Seconds()
	bytes := float64(n) * avg
	if n == 0 || elapsed <= 0 {
		return probeCopy{created: true, createTook: created.createTook, how: fmt.Sprintf("%s holds nothing to measure a copy rate with", source)}, nil
	}
	rate := bytes / elapsed
	return probeCopy{created: true, createTook: created.createTook, partitions: int32(src.Partitions), rate: rate, copied: bytes, ends: ends,
		how: fmt.Sprintf("probe copy of %.1f MB of %s just now: %.1f MB/s", bytes/1e6, source, rate/1e6)}, nil
}

// fixedCreates is the stop's steps but the copy and the verify, in topic
// creates: the fence, the old topic's delete (with its proof) and the new
// topic's create (once Kafka forgot the old name) each wait for the
// cluster's metadata to change about as long as a create does.
const fixedCreates = 3

// stopVerifyRecords returns how many records of the old topic the stop's
// verify of staging would compare now: the old topic's offsets after
// staging's verified prefix, when the state records one whose proofs
// hold (why is then ""); else why the verify would be a full one.
func (e *Env) stopVerifyRecords(ctx context.Context, r *plan.RenamePlan) (int64, string, error) {
	if e.Store == nil {
		return 0, "no state file", nil
	}
	rec, found, err := e.Store.Rename(ctx, r.From)
	if err != nil || !found || rec.StagingVerified == nil {
		return 0, "no verify during the window recorded staging's verified prefix (migrator verify --rename " + r.From + ")", err
	}
	why, err := e.checkPrefix(ctx, rec.StagingVerified, r.From, plan.StagingTopic(r.To))
	if err != nil || why != "" {
		return 0, why, err
	}
	ends, err := endOffsets(ctx, e.Admin, r.From)
	if err != nil {
		return 0, "", err
	}
	verified := rec.StagingVerified.SourceEnds()
	var n int64
	for p, end := range ends {
		n += max(end-verified[p], 0)
	}
	return n, "", nil
}

// bridgeLag returns how many records of topic the bridge's group has not
// committed yet (all of them when it has committed none).
func (e *Env) bridgeLag(ctx context.Context, topic string) (int64, error) {
	ends, err := endOffsets(ctx, e.Admin, topic)
	if err != nil {
		return 0, err
	}
	committed, err := e.Admin.GroupOffsets(ctx, e.bridgeGroup())
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, end := range ends {
		if c, ok := committed[topic][p]; ok {
			lag += max(end-c, 0)
		} else {
			lag += end
		}
	}
	return lag, nil
}
