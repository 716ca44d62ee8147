package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/plan"
	"github.com/huleedu/topic-migrator/state"
)

// ErrNotSafe is returned when a delete would lose a reader or a record.
var ErrNotSafe = errors.New("not safe to delete")

// deletion is a topic to delete, the topic that must hold its records,
// and what else the proof must know.
type deletion struct {
	// rename is the from topic of the rename whose state records the
	// deletion; "" for a scratch topic of this run (the probe), whose
	// deletion is not recorded.
	rename string
	// topic goes; keeper stays and must hold every record of topic.
	topic, keeper string
	// startedLater says the copy into keeper began after topic's first
	// record by design (the rename's start is latest or a time).
	startedLater bool
	// copyGroups are the consumer groups of the copies (the bridge's, a
	// swap's, a reverse copy's): they may read topic and hold offsets on
	// it, which go with it. Every other group must have neither.
	copyGroups []string
	// proven, when set, is a strict comparison of topic with keeper made
	// in this run (the swap's verify step); it stands for the proof's own
	// when topic's ends still equal the ends it covered, so that nothing
	// can have been written since (the topic is fenced now).
	proven *VerifyReport
	// prefix, when set, is a verified prefix of keeper recorded during
	// the window (a swap's staging): when its proofs hold at the moment
	// of the proof (checkPrefix), the proof compares only the records
	// after it. A proven report that compared only a tail has its
	// prefix's proofs checked again here too.
	prefix *state.VerifiedPrefix
	// savedGroups are groups whose positions are recorded elsewhere (the
	// swap saved them, to commit them on the new topic): they may hold
	// offsets on topic, but no member may read it.
	savedGroups []string
}

// deleteTopic is the one way a topic is deleted: it deletes d.topic only
// when the safety proof passes at the moment of the delete. It fences
// writes to the topic first (max.message.bytes=0, its own value recorded
// to lift the fence again), then proves that no consumer group but the
// copies' reads it or holds offsets on it, that the bridge has copied all
// of it, and that every record it holds, from its first, has exactly one
// copy, identical and in order, in the keeper (or came from the keeper):
// none is missing, none is only in a DLQ, none is still to be copied. It
// checks that nothing reached the topic while it proved, records the
// intent with the ends it proved, and deletes. A refusal lifts the fence,
// wraps ErrNotSafe and names the reason and the fix. A re-run after a
// crash finds the recorded intent and proves again, or, when the topic is
// gone, only clears the record.
func (e *Env) deleteTopic(ctx context.Context, d deletion) error {
	topics, err := e.Admin.DescribeTopics(ctx, []string{d.topic, d.keeper})
	if err != nil {
		return err
	}
	if topics[d.topic] == nil {
		return e.endDeletion(ctx, d, "already gone")
	}
	if topics[d.keeper] == nil {
		return fmt.Errorf("%w: %s: %s, which would keep its records, does not exist", ErrNotSafe, d.topic, d.keeper)
	}
	if err := e.fence(ctx, d); err != nil {
		return err
	}
	ends, err := e.prove(ctx, d, topics[d.topic])
	if err != nil {
		if uerr := e.liftFence(ctx, d); uerr != nil {
			return fmt.Errorf("%w (and lifting the fence of %s failed: %v; `migrator rollback` or a re-run lifts it)", err, d.topic, uerr)
		}
		return err
	}
	err = e.recordDeletion(ctx, d, func(del *state.Deletion) {
		del.ProvenAt, del.Ends = e.now().UTC(), ends
	}, "delete "+d.topic+": proven", fmt.Sprintf("every record of %s up to %v is in %s", d.topic, map[int32]int64(ends), d.keeper))
	if err != nil {
		return err
	}
	if err := e.Admin.DeleteTopic(ctx, d.topic); err != nil {
		return err
	}
	e.logger().Info("deleted topic", "topic", d.topic, "keeper", d.keeper)
	return e.endDeletion(ctx, d, "deleted; "+d.keeper+" holds every record")
}

// fence refuses every write to the topic: Kafka refuses a record batch
// larger than max.message.bytes, and none is 0 bytes. The topic's own
// value is recorded first; a topic fenced already (by a swap, or by this
// deletion's earlier run) is left as it is.
func (e *Env) fence(ctx context.Context, d deletion) error {
	if rec := e.deletionRecord(ctx, d); rec != nil && rec.Topic == d.topic && rec.Fence != nil {
		return e.Admin.SetTopicConfig(ctx, d.topic, fenceConfig, ptr("0"))
	}
	topics, err := e.Admin.DescribeTopics(ctx, []string{d.topic})
	if err != nil {
		return err
	}
	t := topics[d.topic]
	if t == nil {
		return fmt.Errorf("topic %s does not exist", d.topic)
	}
	v, own := t.Configs[fenceConfig]
	var f *state.Fence
	if !own || v != "0" {
		f = &state.Fence{Own: own, Value: v}
	}
	err = e.recordDeletion(ctx, d, func(del *state.Deletion) { del.Fence = f },
		"delete "+d.topic+": fence", "writes to "+d.topic+" refused while its delete is proven")
	if err != nil || f == nil {
		return err
	}
	return e.Admin.SetTopicConfig(ctx, d.topic, fenceConfig, ptr("0"))
}

// liftFence restores the topic's max.message.bytes when the deletion
// fenced it, and forgets the deletion.
func (e *Env) liftFence(ctx context.Context, d deletion) error {
	rec := e.deletionRecord(ctx, d)
	if rec != nil && rec.Fence != nil {
		if err := unfence(ctx, e, d.topic, *rec.Fence); err != nil {
			return err
		}
	}
	if d.rename == "" || e.Store == nil {
		return nil
	}
	return e.updateRecord(ctx, d.rename, func(r *state.Rename) error {
		r.Deleting = nil
		return nil
	})
}

// prove checks, with the topic fenced, everything deleteTopic promises,
// and returns the topic's end offsets it covered.
func (e *Env) prove(ctx context.Context, d deletion, t *admin.Topic) (state.Offsets, error) {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrNotSafe, d.topic, fmt.Sprintf(format, args...))
	}
	if why, err := e.awaitStable(ctx, d.topic, t.Partitions); err != nil {
		return nil, err
	} else if why != "" {
		return nil, refuse("%s; its records cannot be proven copied until it ends (a producer that died inside a transaction holds it until the transaction timeout, at most the broker's transaction.max.timeout.ms); run again then", why)
	}
	snap, err := e.Admin.Describe(ctx, admin.DescribeOptions{Deep: []string{d.topic}, Groups: true})
	if err != nil {
		return nil, err
	}
	deep := snap.Topics[d.topic]
	if deep == nil || deep.Offsets == nil {
		return nil, refuse("it vanished while its delete was being proven")
	}
	ends := latestOffsets(deep)
	var readers []string
	for _, g := range snap.Groups {
		if slices.Contains(d.copyGroups, g.ID) {
			continue
		}
		saved := slices.Contains(d.savedGroups, g.ID)
		if (len(g.Offsets[d.topic]) > 0 && !saved) || memberReads(g, d.topic) {
			readers = append(readers, g.ID)
		}
	}
	if len(readers) > 0 {
		return nil, refuse("consumer group(s) %s still read it or hold offsets on it; move them to %s first (cutover consumers, or rollback)", strings.Join(readers, ", "), d.keeper)
	}
	bridgeGroup := e.bridgeGroup()
	for _, g := range snap.Groups {
		if g.ID != bridgeGroup || len(g.Offsets[d.topic]) == 0 {
			continue
		}
		var lag int64
		for p, end := range ends {
			lag += max(end-g.Offsets[d.topic][p], 0)
		}
		if lag > 0 {
			return nil, refuse("the bridge (group %s) has %d record(s) of it still to copy; wait until it caught up (`migrator drain --rename %s`) and run again", bridgeGroup, lag, d.rename)
		}
	}
	rep := d.proven
	if rep != nil && rep.resumed != nil {
		// The report compared only the tail after a prefix verified
		// earlier: it stands only while the prefix's proofs still hold.
		why, err := e.checkPrefix(ctx, rep.resumed, d.topic, d.keeper)
		if err != nil {
			return nil, fmt.Errorf("prove the delete of %s: %w", d.topic, err)
		}
		if why != "" {
			e.logger().Warn("the verified prefix no longer holds; comparing in full before the delete", "topic", d.topic, "keeper", d.keeper, "why", why)
			rep = nil
		}
	}
	if rep == nil || rep.Source != d.topic || rep.Target != d.keeper || !maps.Equal(rep.sourceEnds(), ends) {
		report := e.progress("verify "+d.topic+" before deleting it", "records")
		rep, _, err = e.compareWithPrefix(ctx, d.prefix, d.topic, d.keeper, int32(t.Partitions), compareOptions{startedLater: d.startedLater, forDelete: true, report: report})
		report.finish()
		if err != nil {
			return nil, fmt.Errorf("prove the delete of %s: %w", d.topic, err)
		}
	}
	tot := rep.Totals()
	switch {
	case !rep.OK():
		return nil, refuse("%s is not an identical copy of it: %s", d.keeper, tot.Divergence)
	case tot.NotYetCopied > 0:
		return nil, refuse("%d record(s) of it are not in %s yet; let the copy catch up (`migrator drain`) and run again", tot.NotYetCopied, d.keeper)
	case tot.DeadLettered > 0:
		return nil, refuse("%d record(s) of it are only in the DLQ %s (the first: %s), which is no place to keep them (values over ~16 MB are truncated there); fix the target's configs (usually max.message.bytes) and copy them, or roll back",
			tot.DeadLettered, plan.DLQTopic(d.keeper), tot.FirstDeadLetter)
	}
	after, err := endOffsets(ctx, e.Admin, d.topic)
	if err != nil {
		return nil, err
	}
	if !maps.Equal(after, ends) {
		return nil, refuse("records reached it while its delete was being proven (a transaction begun before the fence); run again")
	}
	return ends, nil
}

// stableWait is how long a delete's proof waits for the transactions
// open on the topic to end before it refuses.
var stableWait = 10 * time.Second

// awaitStable waits, up to stableWait, until no transaction is open on any
// partition of the fenced topic: its read_committed end (the last stable
// offset) is its high watermark. A record of an open transaction, or any
// record after its first, is invisible to the copy and to the proof, and
// could still be committed after the delete, since the fence refuses
// records but not a transaction's commit. Once the topic is stable behind
// its fence, it stays so. It returns why it is not stable, or "".
func (e *Env) awaitStable(ctx context.Context, topic string, partitions int) (string, error) {
	deadline := time.Now().Add(stableWait)
	for {
		stable, err := endOffsets(ctx, e.Admin, topic)
		if err != nil {
			return "", err
		}
		high, err := e.Admin.UncommittedEnds(ctx, topic, partitions)
		if err != nil {
			return "", err
		}
		var open []string
		for p := int32(0); p < int32(partitions); p++ {
			if high[p] > stable[p] {
				open = append(open, fmt.Sprintf("partition %d holds %d record(s) or marker(s) from offset %d that a transaction still open hides", p, high[p]-stable[p], stable[p]))
			}
		}
		if len(open) == 0 {
			return "", nil
		}
		if time.Now().After(deadline) {
			return strings.Join(open, "; "), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deletionRecord returns the deletion of d.topic recorded for the rename,
// nil when none is (or nothing is recorded for scratch topics).
func (e *Env) deletionRecord(ctx context.Context, d deletion) *state.Deletion {
	if d.rename == "" || e.Store == nil {
		return nil
	}
	rec, found, err := e.Store.Rename(ctx, d.rename)
	if err != nil || !found || rec.Deleting == nil || rec.Deleting.Topic != d.topic {
		return nil
	}
	return rec.Deleting
}

// recordDeletion changes the rename's record of the deletion and appends
// an audit entry, in one transaction. Scratch topics are not recorded.
func (e *Env) recordDeletion(ctx context.Context, d deletion, change func(*state.Deletion), action, detail string) error {
	if d.rename == "" || e.Store == nil {
		return nil
	}
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		cur, found, err := tx.Rename(d.rename)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("rename %s vanished from the state file", d.rename)
		}
		if cur.Deleting == nil || cur.Deleting.Topic != d.topic {
			cur.Deleting = &state.Deletion{Topic: d.topic, Keeper: d.keeper}
		}
		change(cur.Deleting)
		if err := tx.PutRename(cur); err != nil {
			return err
		}
		return tx.Append(state.AuditEntry{Command: e.Command, Rename: d.rename, Action: action, Detail: detail, Result: "ok"})
	})
}

// endDeletion forgets a finished deletion of d.topic.
func (e *Env) endDeletion(ctx context.Context, d deletion, detail string) error {
	if e.deletionRecord(ctx, d) == nil {
		return nil
	}
	return e.Store.Update(ctx, func(tx *state.Tx) error {
		cur, _, err := tx.Rename(d.rename)
		if err != nil {
			return err
		}
		cur.Deleting = nil
		if err := tx.PutRename(cur); err != nil {
			return err
		}
		return tx.Append(state.AuditEntry{Command: e.Command, Rename: d.rename, Action: "delete " + d.topic + ": end", Detail: detail, Result: "ok"})
	})
}
