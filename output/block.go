package output

import (
	"fmt"
	"strings"

	"github.com/mattn/go-runewidth"
)

// Block is one item for people, such as a finding: a head line of short
// words (severity, code, subject), then labelled lines (message, fix),
// each wrapped to the width with a hanging indent.
type Block struct {
	Head []string
	Body []Line
}

// Line is one line of a block's body; an empty Label shows Text alone.
type Line struct {
	Label string
	Text  string
}

// indent is how far a block's body is indented under its head.
const indent = "    "

// WriteBlocks writes blocks separated by blank lines, fitted to the
// printer's width.
func (p Printer) WriteBlocks(blocks []Block) error {
	var b strings.Builder
	for i, blk := range blocks {
		if i > 0 {
			b.WriteByte('\n')
		}
		var head []string
		for _, h := range blk.Head {
			if h != "" {
				head = append(head, h)
			}
		}
		for _, l := range p.wrap(strings.Join(head, "  "), 0) {
			b.WriteString(l + "\n")
		}
		for _, line := range blk.Body {
			if line.Text == "" {
				continue
			}
			prefix := indent
			if line.Label != "" {
				prefix += line.Label + ": "
			}
			hang := runewidth.StringWidth(prefix)
			if p.Width > 0 && p.Width-hang < 2*minColumn {
				hang = len(indent) // a long label: wrap under the indent instead
			}
			for j, l := range p.wrap(line.Text, runewidth.StringWidth(prefix)) {
				if j == 0 {
					b.WriteString(prefix + l + "\n")
					continue
				}
				b.WriteString(strings.Repeat(" ", hang) + l + "\n")
			}
		}
	}
	_, err := fmt.Fprint(p.W, b.String())
	return err
}

// wrap wraps s to the printer's width less used columns.
func (p Printer) wrap(s string, used int) []string {
	if p.Width <= 0 {
		return strings.Split(s, "\n")
	}
	return Wrap(s, max(p.Width-used, minColumn))
}

// Wrap breaks s into lines at most width columns wide: at spaces where it
// can, else after '.', '_', '-', '/', ',' or ':' (topic names have no
// spaces), else anywhere. Newlines in s are kept.
func Wrap(s string, width int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		out = append(out, wrapLine(para, width)...)
	}
	return out
}

func wrapLine(s string, width int) []string {
	if width <= 0 || runewidth.StringWidth(s) <= width {
		return []string{s}
	}
	var lines []string
	var cur strings.Builder
	curW := 0
	flush := func() {
		lines = append(lines, strings.TrimRight(cur.String(), " "))
		cur.Reset()
		curW = 0
	}
	for _, piece := range pieces(s) {
		pw := runewidth.StringWidth(strings.TrimRight(piece, " "))
		if curW > 0 && curW+pw > width {
			flush()
		}
		if curW == 0 {
			piece = strings.TrimLeft(piece, " ")
			pw = runewidth.StringWidth(strings.TrimRight(piece, " "))
		}
		// A piece longer than a line is cut anywhere.
		for pw > width {
			head := runewidth.Truncate(piece, width, "")
			cur.WriteString(head)
			flush()
			piece = piece[len(head):]
			pw = runewidth.StringWidth(strings.TrimRight(piece, " "))
		}
		cur.WriteString(piece)
		curW += runewidth.StringWidth(piece)
	}
	if cur.Len() > 0 {
		flush()
	}
	return lines
}

// pieces splits s after every break character (spaces stay with the piece
// before them).
func pieces(s string) []string {
	var out []string
	start := 0
	rs := []rune(s)
	pos := 0 // byte offset of rs[i]
	for i, r := range rs {
		next := pos + len(string(r))
		brk := false
		switch r {
		case ' ':
			brk = i+1 < len(rs) && rs[i+1] != ' '
		case '.', '_', '-', '/', ',', ':':
			brk = i+1 < len(rs) && rs[i+1] != ' '
		}
		if brk {
			out = append(out, s[start:next])
			start = next
		}
		pos = next
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
