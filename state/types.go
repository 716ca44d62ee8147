package state

import (
	"fmt"
	"time"
)

// Rename is one rename's record: where it stands and how it got there. It
// is stored as JSON in the "renames" bucket under its From topic.
type Rename struct {
	// From is the old topic name; it identifies the rename.
	From string `json:"from"`
	// To is the new topic name.
	To string `json:"to"`
	// Strategy is "dual", "swap" or "hop" (see plan.Strategy); each leg of
	// a hop is a rename of its own, keyed by its from topic.
	Strategy string `json:"strategy"`
	// Revision counts the record's writes; the store sets it. A cache of
	// the cluster's state is stale for a rename when its revision is
	// lower than the cluster's.
	Revision int64 `json:"revision,omitempty"`
	// Phase is the phase the rename is in.
	Phase Phase `json:"phase"`
	// PhaseSince is when the rename entered Phase.
	PhaseSince time.Time `json:"phase_since"`
	// CreatedAt is when the rename was first recorded.
	CreatedAt time.Time `json:"created_at"`
	// History lists every phase change, oldest first.
	History []Transition `json:"history,omitempty"`
	// Step is the step in progress (its intent is written, its result not
	// yet), nil when none is.
	Step *Step `json:"step,omitempty"`
	// ProducersCut is what cutover producers recorded; nil before it ran.
	ProducersCut *ProducersCut `json:"producers_cut,omitempty"`
	// Verified is the last verify that passed; nil when none has.
	Verified *Verification `json:"verified,omitempty"`
	// Swap is the progress of a cutover swap; nil when none has begun.
	Swap *SwapProgress `json:"swap,omitempty"`
	// StagingVerified is how much of a swap's staging topic a verify
	// proved an identical copy of the old topic during the window, with
	// what proves it unchanged since; nil when none did.
	StagingVerified *VerifiedPrefix `json:"staging_verified,omitempty"`
	// Deleting is a topic delete of this rename in progress (fenced,
	// proven or sent); nil when none is.
	Deleting *Deletion `json:"deleting,omitempty"`
	// EarlyWrites is what the last verify found written to the new topic
	// directly before producers were cut over; nil when it found none.
	EarlyWrites *EarlyWrites `json:"early_writes,omitempty"`
}

// Deletion is the intent to delete a topic of a rename, recorded before
// the topic is fenced and again once the safety proof passed, so that a
// re-run after a crash finishes it, proves it again, or lifts the fence.
type Deletion struct {
	// Topic is the topic to delete; Keeper the one that holds its records.
	Topic  string `json:"topic"`
	Keeper string `json:"keeper"`
	// Fence is the topic's own max.message.bytes before the deletion
	// fenced writes to it; nil when the deletion did not fence it (it was
	// fenced already, by a swap).
	Fence *Fence `json:"fence,omitempty"`
	// ProvenAt is when the proof passed, zero before; Ends are the topic's
	// end offsets it covered.
	ProvenAt time.Time `json:"proven_at,omitzero"`
	Ends     Offsets   `json:"ends,omitempty"`
}

// EarlyWrites are records found in a new topic that are not copies, while
// producers were still meant to write to the old topic.
type EarlyWrites struct {
	// At is when verify found them.
	At time.Time `json:"at"`
	// Count is how many there were.
	Count int64 `json:"count"`
	// First names the first one: partition, offset, key, timestamp.
	First string `json:"first"`
}

// Offsets maps a partition to an offset.
type Offsets map[int32]int64

// GroupOffsets maps a consumer group (or, for a group move, a topic) to
// its offsets.
type GroupOffsets map[string]Offsets

// ProducersCut is recorded when producers move to the new topic: the old
// topic's end offsets then, so that every later write to it counts as
// stray.
type ProducersCut struct {
	// OldEnd is the old topic's end offset per partition (read_committed).
	OldEnd Offsets `json:"old_end"`
}

// Verification is a verify that passed.
type Verification struct {
	// At is when it passed.
	At time.Time `json:"at"`
	// OldEnd is the old topic's end offset per partition that it covered:
	// every record below them was proven copied.
	OldEnd Offsets `json:"old_end"`
}

// VerifiedPrefix is a verified prefix of a copy: per partition, the
// source's offsets [SourceFrom, SourceEnd) and the target's [TargetFrom,
// TargetEnd) hold the same records, one identical copy each, in order,
// with nothing else between (no dead letter, no record written directly,
// no record of the target's own). Records at an offset of a topic are
// immutable but for three things, and the prefix records what rules each
// out later: a deleted and re-created topic (its topic ID changes), the
// removal of a partition's first records by retention or DeleteRecords
// (its log start offset changes) and compaction (a prefix is only
// recorded, and only used, when neither topic's cleanup.policy includes
// compact). A prefix is only used while all of them hold; else the copy
// is verified in full.
type VerifiedPrefix struct {
	// At is when the verify that proved it ended.
	At time.Time `json:"at"`
	// Source and Target are the topics compared; SourceID and TargetID
	// their topic IDs then.
	Source   string `json:"source"`
	Target   string `json:"target"`
	SourceID string `json:"source_id"`
	TargetID string `json:"target_id"`
	// Partitions are the prefix of each partition, one per partition of
	// the source, in partition order.
	Partitions []PrefixPartition `json:"partitions"`
}

// PrefixPartition is the verified prefix of one partition.
type PrefixPartition struct {
	Partition int32 `json:"partition"`
	// SourceLogStart and TargetLogStart are both partitions' log start
	// offsets when it was proven.
	SourceLogStart int64 `json:"source_log_start"`
	TargetLogStart int64 `json:"target_log_start"`
	// SourceFrom..SourceEnd and TargetFrom..TargetEnd are the offsets
	// proven (ends exclusive).
	SourceFrom int64 `json:"source_from"`
	SourceEnd  int64 `json:"source_end"`
	TargetFrom int64 `json:"target_from"`
	TargetEnd  int64 `json:"target_end"`
	// Records is how many source records the prefix holds.
	Records int64 `json:"records"`
}

// SourceEnds returns where the prefix ends in each source partition.
func (v *VerifiedPrefix) SourceEnds() Offsets {
	out := Offsets{}
	for _, p := range v.Partitions {
		out[p.Partition] = p.SourceEnd
	}
	return out
}

// Records is how many source records the prefix holds in all.
func (v *VerifiedPrefix) Records() int64 {
	var n int64
	for _, p := range v.Partitions {
		n += p.Records
	}
	return n
}

// SwapProgress is how far a cutover swap got, so that a re-run resumes it
// and a rollback knows what to undo.
type SwapProgress struct {
	// Done is the last step done ("" before the first).
	Done string `json:"done,omitempty"`
	// Fence is the old topic's own max.message.bytes before the swap
	// fenced writes to it; nil before the fence.
	Fence *Fence `json:"fence,omitempty"`
	// Groups is each consumer group's position translated into staging.
	Groups GroupOffsets `json:"groups,omitempty"`
	// OldOffsets is each group's position in the old topic (for the
	// report).
	OldOffsets GroupOffsets `json:"old_offsets,omitempty"`
	// Spec is what the new topic is created with.
	Spec *TopicSpec `json:"spec,omitempty"`
	// DeletingAt is when the delete of the old topic was sent; zero before.
	DeletingAt time.Time `json:"deleting_at,omitzero"`
}

// Fence is a topic's own max.message.bytes before a swap fenced it.
type Fence struct {
	// Own says whether the topic had its own value (else the broker's
	// default applied).
	Own bool `json:"own"`
	// Value is the topic's own value, when Own.
	Value string `json:"value,omitempty"`
}

// TopicSpec is a topic to create and the literal ACLs to give it.
type TopicSpec struct {
	Name              string            `json:"name"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs,omitempty"`
	ACLs              []ACL             `json:"acls,omitempty"`
}

// ACL is one access-control binding on a topic.
type ACL struct {
	Principal  string `json:"principal"`
	Host       string `json:"host"`
	Operation  string `json:"operation"`
	Permission string `json:"permission"`
	// Pattern is LITERAL or PREFIXED; Resource is the topic name or prefix.
	Pattern  string `json:"pattern"`
	Resource string `json:"resource"`
}

// Transition is one phase change of a rename.
type Transition struct {
	// From is the phase the rename left.
	From Phase `json:"from"`
	// To is the phase it entered.
	To Phase `json:"to"`
	// At is when.
	At time.Time `json:"at"`
	// Actor is who moved it, as user@host.
	Actor string `json:"actor"`
	// Reason is why, as the caller put it.
	Reason string `json:"reason,omitempty"`
}

// Step is a unit of work on a rename whose intent is recorded before it
// starts, so that a crashed command can tell, when it is run again, that the
// step must be resumed.
type Step struct {
	// Name says which step it is, e.g. "create-topic".
	Name string `json:"name"`
	// StartedAt is when it began.
	StartedAt time.Time `json:"started_at"`
	// Actor is who began it, as user@host.
	Actor string `json:"actor"`
	// Params are what the step was begun with, for resuming it.
	Params map[string]string `json:"params,omitempty"`
	// Offsets are the offsets a group move commits (topic → partition →
	// offset), recorded before the group is reset.
	Offsets GroupOffsets `json:"offsets,omitempty"`
}

// AuditEntry is one line of the append-only audit log: who did what, when,
// and how it ended.
type AuditEntry struct {
	// Seq is the entry's place in the log, from 1; the store sets it.
	Seq uint64 `json:"seq"`
	// Time is when it happened; the store sets it when it is zero.
	Time time.Time `json:"time"`
	// Actor is who did it, as user@host; the store sets it when it is
	// empty.
	Actor string `json:"actor"`
	// Command is the migrator command line that did it.
	Command string `json:"command"`
	// Rename is the From topic of the rename concerned, "" for none.
	Rename string `json:"rename,omitempty"`
	// Action is what was done, e.g. "create topic".
	Action string `json:"action"`
	// Detail says more about it.
	Detail string `json:"detail,omitempty"`
	// DryRun is set when the action was only simulated.
	DryRun bool `json:"dry_run"`
	// Result is "ok" or the error.
	Result string `json:"result"`
}

// validate checks what every stored rename must have.
func (r *Rename) validate() error {
	switch {
	case r.From == "":
		return fmt.Errorf("rename has no from topic")
	case r.To == "":
		return fmt.Errorf("rename %q has no to topic", r.From)
	case r.From == r.To:
		return fmt.Errorf("rename %q has the same from and to topic", r.From)
	case r.Strategy != "dual" && r.Strategy != "swap" && r.Strategy != "hop":
		return fmt.Errorf("rename %q: strategy %q is not a strategy (use dual, swap or hop)", r.From, r.Strategy)
	case !r.Phase.Valid():
		return fmt.Errorf("rename %q: phase %q is not a phase (phases: %s)", r.From, r.Phase, listPhases(allPhases()))
	}
	return nil
}
