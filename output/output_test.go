package output

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
)

// widest returns the widest line of s.
func widest(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, runewidth.StringWidth(l))
	}
	return n
}

var sample = TableView{
	Columns: []Column{{Name: "from"}, {Name: "to"}, {Name: "detail", Wide: true}},
	Rows: [][]string{
		{"huleedu.llm_provider.request_completed.v1", "huleedu.llm.provider.request.completed.v1", "a long sentence about what happened to this rename, to be wrapped"},
		{"a", "b", ""},
	},
}

func TestTableFitsWidth(t *testing.T) {
	for _, boxed := range []bool{false, true} {
		for _, width := range []int{40, 60, 80, 120, 200} {
			for _, f := range []Format{Table, Wide} {
				var b bytes.Buffer
				p := Printer{Format: f, W: &b, Width: width, Boxed: boxed}
				if err := p.WriteTable(sample); err != nil {
					t.Fatal(err)
				}
				if w := widest(b.String()); w > width {
					t.Errorf("boxed %v, %s, width %d: a line is %d wide:\n%s", boxed, f, width, w, b.String())
				}
				if got := strings.Contains(b.String(), "wrapped"); got != (f == Wide) {
					t.Errorf("%s: the wide column shown: %v", f, got)
				}
			}
		}
	}
}

func TestPlainTableOneLinePerRow(t *testing.T) {
	var b bytes.Buffer
	p := Printer{Format: Table, W: &b}
	if err := p.WriteTable(sample); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("plain table of 2 rows has %d lines:\n%s", len(lines), b.String())
	}
	if strings.ContainsAny(b.String(), "│─┌") {
		t.Errorf("plain table has borders:\n%s", b.String())
	}
	if f := strings.Fields(lines[1]); len(f) != 2 || f[1] != "huleedu.llm.provider.request.completed.v1" {
		t.Errorf("row fields %q", f)
	}
}

func TestTableTooWideBecomesBlocks(t *testing.T) {
	cols := make([]Column, 12)
	row := make([]string, 12)
	for i := range cols {
		cols[i] = Column{Name: "column"}
		row[i] = "value-value-value"
	}
	var b bytes.Buffer
	p := Printer{Format: Table, W: &b, Width: 80, Boxed: true}
	if err := p.WriteTable(TableView{Columns: cols, Rows: [][]string{row}}); err != nil {
		t.Fatal(err)
	}
	if w := widest(b.String()); w > 80 || !strings.Contains(b.String(), "column: value-value-value") {
		t.Errorf("width %d:\n%s", w, b.String())
	}
}

func TestBlocksWrap(t *testing.T) {
	blk := Block{Head: []string{"warning", "naming", "huleedu.batch.ai_feedback.initiate.command.v1"},
		Body: []Line{{Text: strings.Repeat("segment has an underscore ", 8)}, {Label: "fix", Text: strings.Repeat("add a rename ", 10)}}}
	for _, width := range []int{30, 80, 120} {
		var b bytes.Buffer
		p := Printer{Format: Table, W: &b, Width: width}
		if err := p.WriteBlocks([]Block{blk, blk}); err != nil {
			t.Fatal(err)
		}
		if w := widest(b.String()); w > width {
			t.Errorf("width %d: a line is %d wide:\n%s", width, w, b.String())
		}
		if !strings.Contains(b.String(), "    fix: add a rename") {
			t.Errorf("no fix line:\n%s", b.String())
		}
	}
}

func TestWrap(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"short", 10, []string{"short"}},
		{"one two three", 7, []string{"one two", "three"}},
		{"huleedu.email.delivery_failed.v1", 16, []string{"huleedu.email.", "delivery_failed.", "v1"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"a\nb", 10, []string{"a", "b"}},
	} {
		got := Wrap(c.in, c.width)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Wrap(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

func TestJSONIsTheValue(t *testing.T) {
	var b bytes.Buffer
	p := Printer{Format: JSON, W: &b, Width: 20, Boxed: true}
	called := false
	if err := p.PrintTable(map[string]int{"n": 1}, func() TableView { called = true; return sample }); err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if err := json.Unmarshal(b.Bytes(), &v); err != nil || v["n"] != 1 || called {
		t.Errorf("JSON %q (%v), view called %v", b.String(), err, called)
	}
}

func TestLineWrapper(t *testing.T) {
	var b bytes.Buffer
	l := &LineWrapper{w: &b, width: 30, tty: true}
	in := "   Why: " + strings.Repeat("a few words ", 6) + "\n" +
		"short line\n" +
		"proof: " + strings.Repeat("huleedu.topic.name.v1/0/9 ", 2) + "\n" +
		"no end"
	if _, err := io.WriteString(l, in); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"   Why: a few words a few\n" +
		"        words a few words a\n" +
		"        few words a few words\n" +
		"        a few words\n" +
		"short line\n" +
		"proof: huleedu.topic.name.v1/\n" +
		"       0/9 huleedu.topic.name.\n" +
		"       v1/0/9\n" +
		"no end"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if w, tty := TerminalWidth(l); w != 30 || !tty {
		t.Errorf("a printer through it sees width %d, terminal %v", w, tty)
	}
}

func TestBlocksWrapToProseWidthInAPipe(t *testing.T) {
	var b bytes.Buffer
	p := Printer{Format: Table, W: &b}
	blk := Block{Head: []string{"warning", "naming", "t"}, Body: []Line{{Text: strings.Repeat("word ", 60)}}}
	if err := p.WriteBlocks([]Block{blk}); err != nil {
		t.Fatal(err)
	}
	if w := widest(b.String()); w > ProseWidth || w < ProseWidth-10 {
		t.Errorf("blocks in a pipe are %d wide, want about %d:\n%s", w, ProseWidth, b.String())
	}
}
