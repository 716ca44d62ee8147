package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// envKillAfterWrite names the fault-injection variable of the crash tests:
// MIGRATOR_FAULT_KILL_AFTER_WRITE=N makes the process SIGKILL itself right
// after its Nth write to the state file has committed, the moment at which
// a crash (a lost laptop, an OOM kill, a node drained) must leave a state
// from which the same command resumes. Not for production use.
const envKillAfterWrite = "MIGRATOR_FAULT_KILL_AFTER_WRITE"

// killAfterWrite returns the state.Options.AfterWrite hook that
// envKillAfterWrite asks for, nil when it is unset.
func killAfterWrite() (func(op string), error) {
	v := os.Getenv(envKillAfterWrite)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want a write count of 1 or more", envKillAfterWrite, v)
	}
	var writes atomic.Int64
	return func(op string) {
		if writes.Add(1) == int64(n) {
			fmt.Fprintf(os.Stderr, "fault injection: SIGKILL after state write %d (%s)\n", n, op)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // The signal is on its way; write nothing more.
		}
	}, nil
}
