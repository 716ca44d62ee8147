// Package state keeps a migration's state in a bbolt file (by default
// migrator.db): every rename's phase, its history and the step in progress,
// and an append-only audit log of what was done, by whom.
//
// The file is never held open. Each Store operation opens it, runs one
// short transaction and closes it, so a long-running mirror process and an
// operator's commands can share it; a process that finds it in use waits up
// to Options.LockTimeout and then fails with ErrLocked, it never hangs.
//
// The file holds three buckets:
//
//	meta     "schema_version" → "1"
//	renames  a rename's from topic → its Rename, as JSON
//	audit    big-endian uint64 sequence → an AuditEntry, as JSON
//
// A file that is not a migrator state file, is damaged, or was written by
// a newer migrator is refused (ErrCorrupt, ErrNewerSchema) and never
// written to. Reading a missing file gives empty results and does not
// create it; the first write creates it.
//
// A rename moves through the phases planned → created → mirroring →
// consumers-cut → producers-cut → retired, one at a time; it can be rolled
// back from any phase before retired and planned again after that (see
// CanTransition).
package state
