package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestRecordCounts(t *testing.T) {
	for _, c := range []struct {
		records string
		want    []int
	}{
		{"", []int{5_000_000, 2_000_000, 200_000}},
		{"20000", []int{20000, 20000, 20000}},
		{"100=30000,1024=20000", []int{30000, 20000, 200_000}},
		{"1000,10240=7", []int{1000, 1000, 7}},
	} {
		*recordsF = c.records
		got, err := recordCounts([]int{100, 1024, 10240})
		if err != nil || len(got) != 3 || got[0] != c.want[0] || got[1] != c.want[1] || got[2] != c.want[2] {
			t.Errorf("-records %q: %v, %v; want %v", c.records, got, err, c.want)
		}
	}
	*recordsF = ""
	if steadyRate(100) != 10_000 || steadyRate(1024) != 10_000 || steadyRate(10240) != 1_000 {
		t.Errorf("steady rates %d %d %d", steadyRate(100), steadyRate(1024), steadyRate(10240))
	}
}

func capture(f func()) string {
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	f()
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	_, _ = io.Copy(&b, r)
	return b.String()
}

// A migrator copy that misses a record shows no rate and meets no target;
// the others are judged from the numbers.
func TestTargets(t *testing.T) {
	full := func(n int) verification { return verification{n: n, read: n, unique: n} }
	res := func(key string, size int, copySeconds, cpu, rss float64, v verification) result {
		return result{name: key, key: key, size: size, records: 1000, seconds: copySeconds + 1, copySeconds: copySeconds,
			cpuSeconds: cpu, peakRSSMiB: rss, check: v}
	}
	lost := full(1000)
	lost.unique--
	all := [][]result{{
		res("raw", 1024, 1, 1, 50, full(1000)),
		res("alo", 1024, 1.05, 1.2, 100, full(1000)),
		res("eos", 1024, 2, 2, 300, full(1000)),
		res("mm2-alo", 1024, 2, 10, 1000, full(1000)),
		res("mm2-eos", 1024, 2, 10, 1000, full(1000)),
	}, {
		res("raw", 100, 1, 1, 50, full(1000)),
		res("alo", 100, 1, 1, 50, lost),
		res("mm2-alo", 100, 2, 10, 1000, full(1000)),
	}}
	out := capture(func() { reportTargets(all) })
	for _, want := range []string{
		"| migrator exactly-once ≥ 1.5× MM2 exactly-once (copy only) | 1.00× **not met** | not measured | **not met** |",
		"| migrator at-least-once ≥ 1.2× MM2 at-least-once (copy only) | 1.90× met | the migrator's copy failed its check **not met** | **not met** |",
		"| migrator at-least-once ≥ 90 % of the raw copy at 1 KiB (copy only) | 95 % met | - | met |",
		"| migrator exactly-once ≥ 80 % of the raw copy at 1 KiB (copy only) | 50 % **not met** | - | **not met** |",
		"| migrator exactly-once peak RSS ≤ 256 MiB | 300 MiB **not met** | not measured | **not met** |",
		"| migrator at-least-once CPU per record ≤ 1.5× the raw copy's | 1.20× met | the migrator's copy failed its check **not met** | **not met** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	recSize, nRecords = 100, 1000
	table := capture(func() { report(all[1]) })
	if !strings.Contains(table, "| alo | - | - | - | - | - |") || !strings.Contains(table, "MISSING 1") {
		t.Errorf("a copy missing a record still shows a rate:\n%s", table)
	}
}
