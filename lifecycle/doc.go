// Package lifecycle owns each rename's life: it runs the steps of a
// migration against the cluster and records each in the state, moving the
// rename through its phases. The bridge (package bridge) only copies the
// routes lifecycle gives it; the commands (cmd/migrator) only parse flags,
// call one step and render its result; the state (package state) only
// stores. Every step takes an *Env plus its own options struct and returns
// its own result type (Apply → ApplyResult, Rollback → RollbackResult, …).
// Every step writes its intent before it acts and its result after, so
// that re-running an interrupted step finishes it.
//
// The phase machine of a rename (state.Phase), and the command that moves
// it along each edge:
//
//	planned ──apply──▶ created ──mirror──▶ mirroring ──cutover consumers──▶ consumers-cut
//	                                                                            │
//	                              retired ◀──retire── producers-cut ◀──cutover producers
//
//	any phase before retired ──rollback──▶ rolled-back ──apply──▶ planned
//
// A swap rename (strategy swap) takes the whole way from created or
// mirroring to retired in one `cutover swap`, whose ten steps (SwapSteps)
// are recorded one by one; rollback works until the old topic is deleted.
// A verify during the window records how far staging is proven identical
// to the old topic (StagingVerified); the swap's stop then compares only
// the records after that prefix, while its proofs hold (prefix.go).
//
// A hop rename (strategy hop) is two dual renames in the state, hop 1
// old → interim (keyed by the old topic) and hop 2 interim → new (keyed by
// the interim), each taking the whole way above; hop 2 is applied only
// once hop 1 is retired, and a rollback named by the old topic takes back
// hop 2 once hop 1 is retired (hop.go).
//
// What each step records in the rename's state record (state.Rename):
//
//	apply              phase created, the create step's intent and end
//	mirror (MapRoutes) phase mirroring, once the bridge copies the rename
//	cutover consumers  each group move's offsets before it is made (Step.Offsets);
//	                   phase consumers-cut once no group is left on the old topic
//	cutover producers  the old topic's end offsets (ProducersCut); phase producers-cut
//	verify             the old topic's end offsets a passing verify covered (Verified);
//	                   for a swap, staging's verified prefix and its proofs (StagingVerified)
//	retire             the delete's intent; phase retired
//	cutover swap       its progress (Swap: last step done, fence, saved groups, spec)
//	rollback           group moves back; phase rolled-back
//
// Files: env.go (Env, rename lookup, window, copy target), routes.go (the
// bridge's routes from the map), translate.go (exact offset translation),
// groupmove.go (moving a group's offsets, crash-safe), compare.go (record
// by record comparison) and reader.go, one file per step for the rest.
package lifecycle
