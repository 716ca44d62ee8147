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

// ProseWidth is the width blocks are wrapped to when the printer's width is
// not known (a pipe with no COLUMNS): tables are then left unwrapped, one
// line per row for grep and awk, but a finding's message is prose.
const ProseWidth = 120

// proseWidth is the width blocks are wrapped to.
func (p Printer) proseWidth() int {
	if p.Width > 0 {
		return p.Width
	}
	return ProseWidth
}

// WriteBlocks writes blocks separated by blank lines, wrapped to the
// printer's width (ProseWidth when it is not known).
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
			if p.proseWidth()-hang < 2*minColumn {
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

// wrap wraps s to the prose width less used columns.
func (p Printer) wrap(s string, used int) []string {
	return Wrap(s, max(p.proseWidth()-used, minColumn))
}

// Wrap breaks s into lines at most width columns wide: at spaces; a word
// longer than a line (a topic name) is broken after '.', '_', '-', '/',
// ',' or ':', and one without those anywhere. Newlines in s are kept; runs
// of spaces become one.
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
	cur := ""
	flush := func() {
		lines = append(lines, cur)
		cur = ""
	}
	fits := func(t string) bool { return runewidth.StringWidth(t) <= width }
	for _, word := range strings.Fields(s) {
		sep := " "
		if cur == "" {
			sep = ""
		}
		switch {
		case fits(cur + sep + word):
			cur += sep + word
			continue
		case fits(word):
			flush()
			cur = word
			continue
		}
		// A word longer than a line: its pieces fill the lines.
		for _, piece := range pieces(word) {
			if fits(cur + sep + piece) {
				cur += sep + piece
				sep = ""
				continue
			}
			if cur != "" {
				flush()
			}
			sep = ""
			for !fits(piece) {
				head := runewidth.Truncate(piece, width, "")
				lines = append(lines, head)
				piece = piece[len(head):]
			}
			cur = piece
		}
	}
	if cur != "" {
		flush()
	}
	return lines
}

// pieces splits a word after every break character.
func pieces(word string) []string {
	var out []string
	start := 0
	for i, r := range word {
		switch r {
		case '.', '_', '-', '/', ',', ':':
			if end := i + len(string(r)); end < len(word) {
				out = append(out, word[start:end])
				start = end
			}
		}
	}
	return append(out, word[start:])
}
