package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func sizeLabel(n int) string {
	switch {
	case n >= 1024 && n%1024 == 0:
		return fmt.Sprintf("%d KiB", n/1024)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// copyRate is records/s from the first record in the target to the last;
// 0 unless the target was checked to hold every backlog record.
func (r result) copyRate() float64 {
	if !r.check.ok() || r.copySeconds <= 0 {
		return 0
	}
	return float64(r.records) / r.copySeconds
}

func (r result) wholeRate() float64 {
	if !r.check.ok() || r.seconds <= 0 {
		return 0
	}
	return float64(r.records) / r.seconds
}

// cpuPerM is CPU seconds per million backlog records.
func (r result) cpuPerM() float64 { return r.cpuSeconds / (float64(r.records) / 1e6) }

func find(results []result, key string) *result {
	for i := range results {
		if results[i].key == key {
			return &results[i]
		}
	}
	return nil
}

// mm2Of is the MirrorMaker 2 contender of the same delivery.
var mm2Of = map[string]string{"alo": "mm2-alo", "eos": "mm2-eos"}

func numDash(f float64) string {
	if f == 0 {
		return "-"
	}
	return num(f)
}

func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// report prints one size's table, in markdown.
func report(results []result) {
	if len(results) == 0 {
		return
	}
	mb := float64(nRecords) * float64(recSize) / 1e6
	fmt.Printf("\n### %s records: %s × %d B (%.0f MB) backlog, %d partitions; steady phase %s records/s for %s; %s, %d CPUs\n\n",
		sizeLabel(recSize), num(float64(nRecords)), recSize, mb, *partitions, num(float64(rate)), *steadyFor, runtime.GOOS, runtime.NumCPU())
	if *pin {
		fmt.Printf("Pinned: the broker on CPU %s, each contender alone on CPU %s (taskset), so its records/s are records/s per core; the benchmark's watcher, load generator and latency reader on CPU %s with the broker.\n\n",
			brokerCPU, contenderCPU, brokerCPU)
	} else {
		fmt.Println("Not pinned: broker, contender and the benchmark share every CPU.")
		fmt.Println()
	}
	fmt.Println("Copy only: first record in the target to the last; whole run: process start (JVM, group join) to the last record. " +
		"A rate counts only a copy read back whole (read_committed) holding every backlog record in its partition; duplicates are a column, not throughput.")
	fmt.Println()
	perCore := ""
	if *pin {
		perCore = " (per core)"
	}
	fmt.Printf("| contender | copy only: records/s%s | copy only: MB/s | %% of raw (copy only) | vs MM2, same delivery (copy only) | whole run: records/s | whole run: MB/s | CPU s per M records | CPU/record vs raw | peak RSS | latency p50 | latency p99 | steady records seen (of %s) | duplicates | target holds |\n", perCore, num(float64(int(steadyFor.Seconds())*rate)))
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	raw := find(results, "raw")
	dash := func(f float64, format string) string {
		if f == 0 {
			return "-"
		}
		return fmt.Sprintf(format, f)
	}
	for _, r := range results {
		vsRaw, vsMM2, cpuVsRaw := "-", "-", "-"
		if raw != nil && r.key != "raw" {
			if raw.copyRate() > 0 && r.copyRate() > 0 {
				vsRaw = fmt.Sprintf("%.0f %%", 100*r.copyRate()/raw.copyRate())
			}
			if raw.cpuSeconds > 0 {
				cpuVsRaw = fmt.Sprintf("%.2f×", r.cpuPerM()/raw.cpuPerM())
			}
		}
		if m := find(results, mm2Of[r.key]); m != nil && m.copyRate() > 0 && r.copyRate() > 0 {
			vsMM2 = fmt.Sprintf("%.2f×", r.copyRate()/m.copyRate())
		}
		check := "all " + num(float64(r.records))
		if !r.check.ok() || r.check.reordered > 0 {
			check = r.check.String()
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %.0f MiB | %s | %s | %d | %d | %s |\n", r.name,
			numDash(r.copyRate()), dash(r.copyRate()*float64(recSize)/1e6, "%.1f"), vsRaw, vsMM2,
			numDash(r.wholeRate()), dash(r.wholeRate()*float64(recSize)/1e6, "%.1f"),
			r.cpuPerM(), cpuVsRaw, r.peakRSSMiB, r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond),
			r.steadyDelivered, r.check.duplicates, check)
	}
	for _, r := range results {
		if r.copySeconds < 5 {
			fmt.Println()
			fmt.Println("Some copies took under 5 s: their copy-only rates are noise (the watcher polls the target's offsets every 100 ms); use a larger backlog.")
			break
		}
	}
}

// A target of issue 16, judged at each size (or at one).
type target struct {
	label    string
	at       int // only at this size (0: every size)
	value    func(rs []result) (float64, judged)
	format   string
	met      func(float64) bool
	measured string // what a missing value needs
}

// judged says whether a target's value could be computed.
type judged int

const (
	valued     judged = iota
	notRun            // a contender it needs was not run
	baseFailed        // the copy it compares with failed its check
	copyFailed        // the migrator's copy failed its check: the target is not met
)

// state is how a target needing the migrator contender key (and base, if
// not "") stands.
func state(rs []result, key, base string) judged {
	a := find(rs, key)
	if a == nil {
		return notRun
	}
	if !a.check.ok() {
		return copyFailed
	}
	if base == "" {
		return valued
	}
	b := find(rs, base)
	if b == nil {
		return notRun
	}
	if !b.check.ok() {
		return baseFailed
	}
	return valued
}

func ratioTo(key, base string, cpu bool) func([]result) (float64, judged) {
	return func(rs []result) (float64, judged) {
		if st := state(rs, key, base); st != valued {
			return 0, st
		}
		a, b := find(rs, key), find(rs, base)
		if cpu {
			if b.cpuSeconds == 0 {
				return 0, baseFailed
			}
			return a.cpuPerM() / b.cpuPerM(), valued
		}
		if a.copyRate() == 0 || b.copyRate() == 0 {
			return 0, baseFailed
		}
		return a.copyRate() / b.copyRate(), valued
	}
}

func peakRSS(key string) func([]result) (float64, judged) {
	return func(rs []result) (float64, judged) {
		if st := state(rs, key, ""); st != valued {
			return 0, st
		}
		return find(rs, key).peakRSSMiB, valued
	}
}

var targets = []target{
	{"migrator exactly-once ≥ 1.5× MM2 exactly-once (copy only)", 0, ratioTo("eos", "mm2-eos", false), "%.2f×", func(f float64) bool { return f >= 1.5 }, "eos,mm2-eos"},
	{"migrator at-least-once ≥ 1.2× MM2 at-least-once (copy only)", 0, ratioTo("alo", "mm2-alo", false), "%.2f×", func(f float64) bool { return f >= 1.2 }, "alo,mm2-alo"},
	{"migrator exactly-once ≥ 80 % of the raw copy at 1 KiB (copy only)", 1024, ratioTo("eos", "raw", false), "%.0f %%", func(f float64) bool { return f >= 0.8 }, "eos,raw"},
	{"migrator at-least-once ≥ 90 % of the raw copy at 1 KiB (copy only)", 1024, ratioTo("alo", "raw", false), "%.0f %%", func(f float64) bool { return f >= 0.9 }, "alo,raw"},
	{"migrator exactly-once CPU per record ≤ 1.5× the raw copy's", 0, ratioTo("eos", "raw", true), "%.2f×", func(f float64) bool { return f <= 1.5 }, "eos,raw"},
	{"migrator at-least-once CPU per record ≤ 1.5× the raw copy's", 0, ratioTo("alo", "raw", true), "%.2f×", func(f float64) bool { return f <= 1.5 }, "alo,raw"},
	{"migrator exactly-once peak RSS ≤ 256 MiB", 0, peakRSS("eos"), "%.0f MiB", func(f float64) bool { return f <= 256 }, "eos"},
	{"migrator at-least-once peak RSS ≤ 256 MiB", 0, peakRSS("alo"), "%.0f MiB", func(f float64) bool { return f <= 256 }, "alo"},
}

// reportTargets prints issue 16's targets, each met or not met from the
// numbers above (not measured: a contender or the size was not run, or the
// copy compared with failed its check; a migrator copy that failed its
// check does not meet any target).
func reportTargets(all [][]result) {
	fmt.Println()
	fmt.Println("### Targets (issue 16; same run, copy only)")
	fmt.Println()
	head, sep := "| target |", "|---|"
	for _, rs := range all {
		if len(rs) > 0 {
			head += " " + sizeLabel(rs[0].size) + " |"
			sep += "---|"
		}
	}
	fmt.Println(head + " verdict |")
	fmt.Println(sep + "---|")
	for _, t := range targets {
		row := "| " + t.label + " |"
		verdict, applicable := "met", 0
		for _, rs := range all {
			if len(rs) == 0 {
				continue
			}
			v, st := t.value(rs)
			ok := st == valued
			cell := "not measured"
			switch st {
			case valued:
				cell = fmt.Sprintf(t.format, v*percentScale(t.format))
			case baseFailed:
				cell = "not measured (the copy compared with failed its check)"
			case copyFailed:
				cell = "the migrator's copy failed its check"
			}
			if t.at != 0 && rs[0].size != t.at {
				if ok {
					cell += " (not a target here)"
				} else {
					cell = "-"
				}
				row += " " + cell + " |"
				continue
			}
			applicable++
			switch {
			case st == copyFailed:
				cell += " **not met**"
				verdict = "**not met**"
			case !ok:
				if verdict == "met" && st == notRun {
					verdict = "not measured (needs " + t.measured + ")"
				} else if verdict == "met" {
					verdict = "not measured (a copy compared with failed its check)"
				}
			case t.met(v):
				cell += " met"
			default:
				cell += " **not met**"
				verdict = "**not met**"
			}
			row += " " + cell + " |"
		}
		if applicable == 0 {
			verdict = fmt.Sprintf("not measured (needs -sizes with %d)", t.at)
		}
		fmt.Println(row + " " + verdict + " |")
	}
}

func percentScale(format string) float64 {
	if strings.Contains(format, "%%") {
		return 100
	}
	return 1
}

// reportProfiles shows, for every migrator backlog copy run with
// -profile, where its CPU went.
func reportProfiles(all [][]result) {
	for _, rs := range all {
		for _, r := range rs {
			if r.profile == "" {
				continue
			}
			fmt.Printf("\n#### CPU profile: %s, %s records (`go tool pprof -top %s %s`)\n\n", r.name, sizeLabel(r.size), *migrator, r.profile)
			if _, err := os.Stat(r.profile); err != nil {
				fmt.Printf("no profile: %v\n", err)
				continue
			}
			out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", *migrator, r.profile).CombinedOutput()
			if err != nil {
				fmt.Printf("go tool pprof: %v\n", err)
			}
			fmt.Printf("```\n%s```\n", out)
		}
	}
}
