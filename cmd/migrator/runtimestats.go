package main

import (
	"encoding/json"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// RuntimeStats is what MIGRATOR_RUNTIME_STATS=FILE writes when the
// process ends, for benchmarks: how much the Go heap allocated and what the
// garbage collector cost, from runtime/metrics. The allocation counts are
// exact and do not depend on what else the machine is doing, so an A/B of
// a change to the copy path can compare them where timings are noisy.
type RuntimeStats struct {
	// HeapAllocBytes and HeapAllocObjects are everything the Go heap
	// allocated since the process started.
	HeapAllocBytes   uint64 `json:"heap_alloc_bytes"`
	HeapAllocObjects uint64 `json:"heap_alloc_objects"`
	// GCCycles counts the completed collections.
	GCCycles uint64 `json:"gc_cycles"`
	// GCCPUSeconds is the collector's CPU (estimated by the runtime), and
	// GoCPUSeconds all the CPU the Go runtime accounts for; neither counts
	// the time librdkafka's own threads spend in C.
	GCCPUSeconds float64 `json:"gc_cpu_seconds"`
	GoCPUSeconds float64 `json:"go_cpu_seconds"`
}

// writeRuntimeStats writes the process's RuntimeStats to path ("%p"
// becomes the process id); errors are ignored, as for the CPU profile.
func writeRuntimeStats(path string) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
	}
	metrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	f := func(i int) float64 {
		if samples[i].Value.Kind() == metrics.KindFloat64 {
			return samples[i].Value.Float64()
		}
		return 0
	}
	st := RuntimeStats{
		HeapAllocBytes:   u(0),
		HeapAllocObjects: u(1),
		GCCycles:         u(2),
		GCCPUSeconds:     f(3),
		GoCPUSeconds:     f(4) - f(5),
	}
	data, err := json.Marshal(st)
	if err != nil {
		return
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	_ = os.WriteFile(path, append(data, '\n'), 0o644)
}
