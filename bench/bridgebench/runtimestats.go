package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// runtimeStats is what the migrator writes at its end when
// MIGRATOR_RUNTIME_STATS names a file (cmd/migrator's RuntimeStats).
type runtimeStats struct {
	HeapAllocBytes   uint64  `json:"heap_alloc_bytes"`
	HeapAllocObjects uint64  `json:"heap_alloc_objects"`
	GCCycles         uint64  `json:"gc_cycles"`
	GCCPUSeconds     float64 `json:"gc_cpu_seconds"`
	GoCPUSeconds     float64 `json:"go_cpu_seconds"`
}

// readRuntimeStats reads the stats file cmd was told to write, or nil.
func readRuntimeStats(cmd *exec.Cmd) *runtimeStats {
	for _, e := range cmd.Env {
		path, ok := strings.CutPrefix(e, "MIGRATOR_RUNTIME_STATS=")
		if !ok {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var st runtimeStats
		if json.Unmarshal(data, &st) != nil {
			return nil
		}
		return &st
	}
	return nil
}

// reportRuntime shows, for the migrator's copies, what the Go heap
// allocated per record and what the collector cost: exact counts that an
// A/B can compare where rates are noisy.
func reportRuntime(results []result) {
	header := false
	for _, r := range results {
		st := r.goStats
		if st == nil || r.records == 0 {
			continue
		}
		if !header {
			fmt.Println()
			fmt.Println("Go side of the migrator's copies (runtime/metrics at exit, start-up included): heap allocated per record, and the collector's share of the CPU the Go runtime accounts for (librdkafka's own threads are not in it).")
			fmt.Println()
			fmt.Println("| contender | heap bytes per record | heap objects per record | GC cycles | GC CPU s per M records | GC share of the Go runtime's CPU |")
			fmt.Println("|---|---|---|---|---|---|")
			header = true
		}
		n := float64(r.records)
		share := "-"
		if st.GoCPUSeconds > 0 {
			share = fmt.Sprintf("%.0f %%", 100*st.GCCPUSeconds/st.GoCPUSeconds)
		}
		fmt.Printf("| %s | %.0f | %.1f | %d | %.2f | %s |\n", r.name, float64(st.HeapAllocBytes)/n, float64(st.HeapAllocObjects)/n,
			st.GCCycles, st.GCCPUSeconds*1e6/n, share)
	}
}
