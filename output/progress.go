package output

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Progress shows how far long waits have come, on stderr: a live bar per
// task on a terminal (done / total, rate, ETA), drawn by
// github.com/vbauerster/mpb/v8; elsewhere a plain line per task every
// Interval and one when it ends. A task shows only once it has lasted
// Delay, so that quick steps stay quiet. Update is safe for concurrent
// use; call Close when the command ends.
type Progress struct {
	w   io.Writer
	tty bool
	// Interval is how often a plain line is written per task.
	Interval time.Duration
	// Delay is how long a task runs before it is shown.
	Delay time.Duration
	// Now is the clock (tests set it).
	Now func() time.Time

	mu    sync.Mutex
	tasks map[string]*task
	bars  *mpb.Progress
}

type task struct {
	unit        string
	start       time.Time
	lastLine    time.Time // when the last plain line was written
	shown       bool
	done, total int64
	bar         *mpb.Bar
}

// NewProgress returns a Progress writing to w: bars when w is a terminal,
// plain lines every 10 s otherwise.
func NewProgress(w io.Writer) *Progress {
	_, tty := TerminalWidth(w)
	return &Progress{w: w, tty: tty, Interval: 10 * time.Second, Delay: time.Second, Now: time.Now}
}

// Update records that task has done done of total units ("records",
// "bytes" or "seconds"; total 0 while unknown); finished marks its end.
func (p *Progress) Update(name, unit string, done, total int64, finished bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.Now()
	if p.tasks == nil {
		p.tasks = map[string]*task{}
	}
	t := p.tasks[name]
	if t == nil {
		if finished {
			return // never seen running: nothing to show
		}
		t = &task{unit: unit, start: now, lastLine: now}
		p.tasks[name] = t
	}
	t.done, t.total = done, total
	if total > 0 && done > total {
		t.total = done
	}
	if finished {
		delete(p.tasks, name)
	}
	if !t.shown && now.Sub(t.start) < p.Delay {
		return
	}
	t.shown = true
	if p.tty {
		p.drawBar(name, t, finished)
		return
	}
	if finished || now.Sub(t.lastLine) >= p.Interval {
		t.lastLine = now
		fmt.Fprintln(p.w, line(name, t, now, finished))
	}
}

// Write writes log lines to the Progress's writer: above the bars once
// there are any (mpb redraws them below, until Close), else straight
// through.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	bars := p.bars
	p.mu.Unlock()
	if bars != nil {
		if n, err := bars.Write(b); err == nil {
			return n, nil
		}
	}
	return p.w.Write(b)
}

// Close stops drawing: bars still running are left as they are.
func (p *Progress) Close() {
	p.mu.Lock()
	bars := p.bars
	for _, t := range p.tasks {
		if t.bar != nil {
			t.bar.Abort(false)
		}
	}
	p.tasks, p.bars = nil, nil
	p.mu.Unlock()
	if bars != nil {
		bars.Wait()
	}
}

// drawBar creates or moves the task's bar.
func (p *Progress) drawBar(name string, t *task, finished bool) {
	if t.bar == nil {
		if p.bars == nil {
			p.bars = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
		}
		counters := decor.CountersNoUnit("%d / %d", decor.WCSyncSpace)
		speed := decor.NewAverageSpeed(0, "%.0f "+t.unit+"/s", t.start, decor.WCSyncSpace)
		switch t.unit {
		case "bytes":
			counters = decor.Counters(decor.SizeB1000(0), "% .1f / % .1f", decor.WCSyncSpace)
			speed = decor.NewAverageSpeed(decor.SizeB1000(0), "% .1f", t.start, decor.WCSyncSpace)
		case "seconds":
			counters = decor.CountersNoUnit("%d / %d s", decor.WCSyncSpace)
			speed = decor.Name("", decor.WCSyncSpace)
		}
		// The name takes at most a third of the line, so that the bar,
		// counters, rate and ETA fit beside it.
		width, _ := TerminalWidth(p.w)
		t.bar = p.bars.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(truncateMiddle(name, max(width/3, 20)), decor.WCSyncSpaceR), counters),
			mpb.AppendDecorators(speed, decor.OnComplete(decor.NewAverageETA(decor.ET_STYLE_GO, t.start, nil, decor.WCSyncSpace), "done")),
		)
	}
	t.bar.SetTotal(max(t.total, t.done, 1), false)
	t.bar.SetCurrent(t.done)
	if finished {
		t.bar.SetTotal(-1, true)
	}
}

// truncateMiddle shortens s to width columns by cutting out its middle:
// a task names topics, which differ at their starts and their ends.
func truncateMiddle(s string, width int) string {
	if runewidth.StringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	head := (width - 1) / 2
	tail := width - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// line is the plain report of a task: done of total, rate and ETA, or,
// when it ended, what it did in how long.
func line(name string, t *task, now time.Time, finished bool) string {
	elapsed := now.Sub(t.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(t.done) / s
	}
	switch {
	case t.unit == "seconds" && finished:
		return fmt.Sprintf("%s: done after %s", name, elapsed.Round(time.Second))
	case t.unit == "seconds":
		return fmt.Sprintf("%s: %d of %d seconds", name, t.done, t.total)
	case finished:
		return fmt.Sprintf("%s: done, %s in %s (%s)", name, amount(t.done, t.unit), elapsed.Round(time.Second), speed(rate, t.unit))
	}
	if t.total <= 0 {
		return fmt.Sprintf("%s: %s so far, %s", name, amount(t.done, t.unit), speed(rate, t.unit))
	}
	eta := "unknown"
	if rate > 0 {
		eta = time.Duration(float64(t.total-t.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %s of %s (%d%%), %s, ETA %s", name, count(t.done, t.unit), amount(t.total, t.unit),
		100*t.done/t.total, speed(rate, t.unit), eta)
}

// count is n without its unit ("1,234" or "12.3 MB").
func count(n int64, unit string) string {
	if unit == "bytes" {
		return bytesOf(float64(n))
	}
	return thousands(n)
}

// amount is n with its unit.
func amount(n int64, unit string) string {
	if unit == "bytes" {
		return bytesOf(float64(n))
	}
	return thousands(n) + " " + unit
}

func speed(perSecond float64, unit string) string {
	if unit == "bytes" {
		return bytesOf(perSecond) + "/s"
	}
	return fmt.Sprintf("%s %s/s", thousands(int64(perSecond)), unit)
}

func bytesOf(n float64) string {
	switch {
	case n < 1e3:
		return fmt.Sprintf("%.0f B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", n/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", n/1e6)
	}
	return fmt.Sprintf("%.2f GB", n/1e9)
}

// thousands writes n with commas: 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
