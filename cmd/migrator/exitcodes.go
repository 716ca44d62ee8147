package main

// The process exit codes, in one place: each kind of failure a script or a
// CI job may want to tell apart has its own code, found from the error's
// type (errors.Is, errors.As), so that commands only return errors.

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/huleedu/topic-migrator/admin"
	"github.com/huleedu/topic-migrator/clusterstate"
	"github.com/huleedu/topic-migrator/lifecycle"
	"github.com/huleedu/topic-migrator/state"
)

// Exit codes. docs/reference.md and the README carry the same table.
const (
	// exitOK: the command did what it was asked.
	exitOK = 0
	// exitFailure: any failure not listed below.
	exitFailure = 1
	// exitChanges: plan --detailed-exitcode found changes to apply
	// (terraform's 2).
	exitChanges = 2
	// exitIncomplete: verify found copies that are behind but not wrong;
	// run it again once the bridge caught up.
	exitIncomplete = 3
	// exitDivergent: verify found a copy that is wrong (a missing,
	// different, duplicated or reordered record, a dead letter not
	// accepted, an early write).
	exitDivergent = 4
	// exitRefused: a safety check refused the step (not safe to delete,
	// a consumer group still active, a stale saved plan, a rollback past a
	// swap's delete).
	exitRefused = 5
	// exitLocked: another process holds the state file, the operator
	// lock or a rename's lease in the cluster.
	exitLocked = 6
	// exitUnreachable: the Kafka cluster could not be reached.
	exitUnreachable = 7
	// exitUsage: the command line is wrong (an unknown command or flag, a
	// missing argument, --yes needed off a terminal); BSD's EX_USAGE.
	exitUsage = 64
)

// exitCodes is the table the docs show, in order.
var exitCodes = []struct {
	Code    int
	Meaning string
}{
	{exitOK, "success"},
	{exitFailure, "error (any failure not listed here)"},
	{exitChanges, "changes present (`plan --detailed-exitcode`)"},
	{exitIncomplete, "verify: copies behind but not wrong (run it again once the bridge caught up)"},
	{exitDivergent, "verify: a copy differs from its source"},
	{exitRefused, "refused by a safety check (not safe to delete, active consumer group, stale saved plan)"},
	{exitLocked, "lock held: the state file, its operator lock or a rename's lease in the cluster"},
	{exitUnreachable, "Kafka unreachable"},
	{exitUsage, "usage error: unknown command or flag, missing argument, `--yes` needed"},
}

// exitError carries a process exit code chosen by the command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a wrong command line; err, when set, is what it wraps.
type usageError struct {
	msg string
	err error
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return e.err }

// exitCode maps an error to the process exit code: a code the command
// chose, else the code of the error's kind, else 1.
func exitCode(err error) int {
	var ee *exitError
	var ue *usageError
	var ec cli.ExitCoder
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.As(err, &ec): // urfave/cli's only ExitCoder: help of an unknown command
		return exitUsage
	case errors.Is(err, state.ErrLocked), errors.Is(err, state.ErrOperatorBusy), errors.Is(err, clusterstate.ErrLeaseHeld):
		return exitLocked
	case errors.Is(err, lifecycle.ErrNotSafe), errors.Is(err, lifecycle.ErrGroupActive),
		errors.Is(err, lifecycle.ErrPlanStale), errors.Is(err, lifecycle.ErrSwapPastDelete):
		return exitRefused
	case errors.Is(err, admin.ErrUnreachable):
		return exitUnreachable
	}
	return exitFailure
}
