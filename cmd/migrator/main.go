// Command migrator renames Kafka topics on a live cluster without losing,
// duplicating or reordering a record: plan, apply, mirror, cut over,
// verify, roll back and retire, with its state in a bbolt file.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// MIGRATOR_CPUPROFILE=FILE writes a CPU profile, for benchmarks; "%p"
	// in FILE becomes the process id, for runs of several processes.
	if path := os.Getenv("MIGRATOR_CPUPROFILE"); path != "" {
		path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	// MIGRATOR_RUNTIME_STATS=FILE writes the Go heap's allocations and the
	// collector's cost at the end, for benchmarks (RuntimeStats).
	stats := os.Getenv("MIGRATOR_RUNTIME_STATS")
	err := newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	if stats != "" {
		writeRuntimeStats(stats)
	}
	// MIGRATOR_ALLOCPROFILE=FILE writes the heap's allocation profile at
	// the end (go tool pprof -sample_index=alloc_space), for benchmarks.
	if path := os.Getenv("MIGRATOR_ALLOCPROFILE"); path != "" {
		if f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "migrator: %v\n", err)
		pprof.StopCPUProfile()
		os.Exit(exitCode(err))
	}
}
