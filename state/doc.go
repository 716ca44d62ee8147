// Package state keeps a migration's state in a bbolt file (by default
// migrator.db): every rename's phase, its history and the step in progress,
// and an append-only audit log of what was done, by whom. It only stores:
// which phase may follow which is checked here (CanTransition), but what a
// step does and when is package lifecycle's, and state never talks to Kafka.
//
// The file is never held open. Each Store operation opens it, runs one
// short transaction and closes it, so a long-running mirror process and an
// operator's commands can share it; a process that finds it in use waits up
// to Options.LockTimeout and then fails with ErrLocked, it never hangs.
//
// The file holds three buckets:
//
//	meta     "schema_version" → "2"
//	renames  a rename's from topic → its Rename, as JSON
//	audit    big-endian uint64 sequence → an AuditEntry, as JSON
//
// A Rename holds, besides its phase, history and step in progress, what
// its steps recorded, as typed fields: ProducersCut (the old topic's end
// offsets when producers moved), Verified (the last verify that passed)
// and Swap (how far a cutover swap got: fence, saved group offsets, the
// new topic's spec and ACLs, when the old topic's delete was sent). A
// group move in progress keeps the offsets it commits in its Step's
// Offsets.
//
// A file that is not a migrator state file, is damaged, or was written by
// a newer migrator is refused (ErrCorrupt, ErrNewerSchema) and never
// written to. Reading a missing file gives empty results and does not
// create it; the first write creates it.
//
// # Schema versions
//
// A file of an older schema version is upgraded when it is opened for
// writing: by Open, which every command calls first, or by any later
// write. The upgrade first copies the file, byte for byte, to
// <path>.v<old version>.bak next to it (when that exists, to
// <path>.v<old version>.<UTC time, 20060102T150405Z>.bak, with -2, -3...
// after the time when that exists too; a backup is never overwritten),
// then runs every migration newer than the file's version (see
// migrations.go) and sets the schema version, all in one transaction while
// the file is locked for writing, and appends an audit entry naming both
// versions, the backup, and any value it dropped. If a migration fails,
// the error names the file, the rename and the key it could not read; the
// file is left as it was and the backup removed.
//
// Reads never write, so they do not upgrade: a read that finds an older
// file (one replaced after Open upgraded it) fails with ErrOlderSchema
// instead of reading it as if it were of the current version.
//
// Version 1 kept step results as strings in Rename.Data, most of them
// JSON; version 2 moves them to the typed fields above. The keys no code
// reads ("topic", written by apply) are dropped, and so is any key no
// migrator wrote, which is then named, with its value, in the upgrade's
// audit entry.
//
// A rename moves through the phases planned → created → mirroring →
// consumers-cut → producers-cut → retired, one at a time; it can be rolled
// back from any phase before retired and planned again after that (see
// CanTransition).
package state
