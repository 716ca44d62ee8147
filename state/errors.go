package state

import "errors"

// Errors a caller may want to tell apart with errors.Is. The errors the
// package returns carry a full message naming the file or the rename; these
// are only what they wrap.
var (
	// ErrLocked: another process held the state file for longer than
	// Options.LockTimeout.
	ErrLocked = errors.New("state file is in use by another process")

	// ErrNewerSchema: the state file was written by a newer migrator.
	ErrNewerSchema = errors.New("state file has a newer schema version")

	// ErrOlderSchema: a read found the state file at an older schema
	// version (it was replaced after Open upgraded it). Reads never write;
	// Open, or any write, upgrades it.
	ErrOlderSchema = errors.New("state file has an older schema version")

	// ErrCorrupt: the file is not a migrator state file, or it is damaged.
	ErrCorrupt = errors.New("not a migrator state file or damaged")

	// ErrNotFound: the state file holds no rename with that from topic.
	ErrNotFound = errors.New("rename not found")

	// ErrIllegalTransition: the phase change is not allowed (see
	// CanTransition).
	ErrIllegalTransition = errors.New("illegal phase transition")

	// ErrStepInProgress: another step of the rename is in progress.
	ErrStepInProgress = errors.New("another step is in progress")

	// ErrNoStep: the step to end is not in progress.
	ErrNoStep = errors.New("step not in progress")
)

// stateError is an error with its own message that wraps a sentinel (kind)
// and, optionally, the error that caused it, so that the message reads well
// and errors.Is still finds both.
type stateError struct {
	msg   string
	kind  error
	cause error
}

func (e *stateError) Error() string { return e.msg }

// Unwrap returns the sentinel and the cause, those that are set.
func (e *stateError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}
