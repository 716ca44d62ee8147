package output

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestProgressPlainLines drives a Progress with a clock of its own: a task
// shows nothing in its first second, then a line every Interval and one
// when it ends; a task that ends within a second shows nothing.
func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProgress(&b)
	p.Now = func() time.Time { return now }
	step := func(d time.Duration) { now = now.Add(d) }

	p.Update("quick", "records", 0, 10, false)
	step(500 * time.Millisecond)
	p.Update("quick", "records", 10, 10, true)

	p.Update("drain t.v1", "records", 0, 10000, false)
	for i := 1; i <= 25; i++ {
		step(time.Second)
		p.Update("drain t.v1", "records", int64(i*200), 10000, false)
	}
	step(time.Second)
	p.Update("drain t.v1", "records", 10000, 10000, true)
	p.Close()

	got := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"drain t.v1: 2,000 of 10,000 records (20%), 200 records/s, ETA 40s",
		"drain t.v1: 4,000 of 10,000 records (40%), 200 records/s, ETA 30s",
		"drain t.v1: done, 10,000 records in 26s (384 records/s)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
}

func TestProgressBytesAndUnknownTotal(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProgress(&b)
	p.Now = func() time.Time { return now }
	p.Interval = time.Second
	p.Update("probe", "bytes", 0, 128e6, false)
	now = now.Add(2 * time.Second)
	p.Update("probe", "bytes", 64e6, 128e6, false)
	p.Update("copy", "records", 0, 0, false)
	now = now.Add(2 * time.Second)
	p.Update("copy", "records", 50, 0, false)
	p.Close()
	for _, want := range []string{"probe: 64.0 MB of 128.0 MB (50%), 32.0 MB/s, ETA 2s", "copy: 50 records so far, 25 records/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}

func TestTruncateMiddle(t *testing.T) {
	if got := truncateMiddle("verify huleedu.llm_provider.request_completed.v1", 21); got != "verify hul…mpleted.v1" {
		t.Errorf("got %q", got)
	}
	if got := truncateMiddle("short", 21); got != "short" {
		t.Errorf("got %q", got)
	}
}

func TestProgressSeconds(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewProgress(&b)
	p.Now = func() time.Time { return now }
	p.Interval = 5 * time.Second
	for i := int64(0); i <= 10; i++ {
		p.Update("quiet check of t", "seconds", i, 10, i == 10)
		now = now.Add(time.Second)
	}
	want := "quiet check of t: 5 of 10 seconds\nquiet check of t: done after 10s\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestProgressPassesLogsThrough(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b)
	p.Update("copy", "records", 0, 10, false)
	fmt.Fprintln(p, "level=INFO msg=hello")
	p.Close()
	fmt.Fprintln(p, "level=INFO msg=after")
	if b.String() != "level=INFO msg=hello\nlevel=INFO msg=after\n" {
		t.Errorf("got %q", b.String())
	}
}
