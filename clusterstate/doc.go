// Package clusterstate keeps a migration's state in the cluster being
// migrated, so that it outlives the operator's laptop, with the local state
// file (package state) as its cache; and it gives every command that
// changes a rename a lease on it, so that two operators on two hosts never
// interleave destructive steps.
//
// # Topics
//
// The state topic (default migrator.state: compacted, one partition) holds
// one record per key, JSON values:
//
//	rename/<from>  the rename's state.Rename, with its Revision
//	lease/<from>   the rename's LeaseInfo; a null value (tombstone) frees it
//
// The audit topic (default migrator.audit: retention.ms -1, one partition)
// holds the audit log: key the rename (or ""), value a state.AuditEntry,
// in the order written. Its Seq is the entry's place in the topic, from 1;
// the Seq a state file gave it is not kept.
//
// The progress topic (default migrator.progress: compacted, one partition)
// holds the marks of bridges whose principal may not change the state:
// key mirroring/<from>, value a Mark (the bridge's user@host, command and
// when it first marked). A mark changes nothing by itself; the next command
// that takes the rename's lease records phase mirroring from it. So a
// principal that may only run the bridge can report its progress without
// Write on the state topic, which would let it write any rename record.
//
// Both are read read_committed, to their end: only committed transactions
// count, and a read waits for the transactions open when it began (up to
// 15 s, the transaction timeout, for one a dead process left open), so
// that it sees every transaction committed before it, whose commit
// markers Kafka writes after the commit returned. Neither holds anything but what the state types hold (and the
// holder's user, host, pid and command name in a lease): never a client
// setting, never a secret.
//
// # Leases and fencing
//
// Every leased rename R has its own transactional producer, with
// transactional.id "topic-migrator-lease-" + R (TransactionalIDPrefix). A
// multi-rename lease has one producer per rename: a transactional id derived
// from the set would not fence a holder of a different set sharing one of
// its renames. Kafka lets only the producer that called InitTransactions
// last with a transactional id commit a transaction under it; every
// record about R (its rename record, its lease record, and the audit
// entries of a publish that writes R) is written in a transaction of R's
// producer, so a holder that lost its lease (a SIGSTOPped or partitioned
// process whose lease was taken) cannot write anything about R afterwards:
// its transaction fails with ErrFenced and nothing of it is recorded.
//
// Acquire, for each rename:
//
//  1. reads the state topic to its end; a lease record of another holder
//     that has not expired (by this host's clock) refuses the acquisition
//     with ErrLeaseHeld, without touching the producer (initialising it
//     would fence the holder), unless breakLease;
//  2. initialises R's transactional producer, which fences any older one;
//  3. reads the state topic to its end again and checks again: a holder
//     that committed its lease between 1 and 2 wins, and this acquisition
//     backs off with ErrLeaseHeld (the holder it fenced takes its producer
//     back, below);
//  4. in one transaction writes the lease record (a fresh random token,
//     Expires = now + LeaseTTL) and, when it takes a lease from another
//     holder, an audit entry "break lease" (or "take expired lease")
//     naming the former holder; commits;
//  5. reads the state topic back past its own record and confirms that the
//     latest lease record of R is its own, else it frees what it wrote and
//     returns ErrLeaseHeld naming the winner.
//
// Of any number of concurrent acquirers exactly one commits (a commit
// needs the last InitTransactions, and whoever initialises after a commit
// sees it in step 3). A loser of step 3 has fenced the winner's producer
// although the lease record is the winner's; the winner then takes its
// producer back at its next write (Publish, Renew, Release): it reads the
// state topic, and only when the latest lease record of R is still its own
// and has not expired by its clock does it initialise a new producer, read
// once more and confirm. A holder whose lease was taken (the latest record
// is another's) never does, so it stays fenced: ErrFenced.
//
// Clocks only decide when a lease counts as expired for a new acquirer;
// they never make a write safe. A lease is renewed in the background every
// LeaseTTL/3 while it is held.
//
// A Publish that writes several renames runs one transaction per rename's
// producer: every one is begun, written and acknowledged before the first
// is committed, and all are aborted when any fails, but a lease taken
// between two commits leaves the earlier ones recorded (the error says
// which). Commands change one rename per write.
//
// # Permissions
//
// A principal that changes renames needs Create on the cluster (or the
// topics made beforehand), Read, Write, Describe and DescribeConfigs on the
// three topics, and Write and Describe on the transactional ids
// topic-migrator-lease-* (and topic-migrator-push, for a push of audit
// entries alone). Kafka refusing it the lease's transactional id is
// ErrNotAuthorized. A principal that only runs the bridge needs Read and
// DescribeConfigs on the three topics and Write on the progress topic:
// it cannot change a phase, take a lease or write the audit trail.
package clusterstate
