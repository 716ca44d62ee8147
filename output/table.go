package output

import (
	"fmt"
	"strings"

	"github.com/mattn/go-runewidth"
)

// Column is one column of a table.
type Column struct {
	Name string
	// Wide columns are shown only with -o wide.
	Wide bool
}

// TableView is a table for people: rows of cells under columns. Every row
// has one cell per column.
type TableView struct {
	Columns []Column
	Rows    [][]string
}

// minColumn is the narrowest a column is squeezed to before a table is
// shown as one block per row instead; a column is also not squeezed below
// a third of its natural width (a topic name in more than three lines is
// harder to read than a block).
const minColumn = 8

// WriteTable writes t fitted to the printer's width: cells wrap (at spaces,
// then after '.', '_', '-', '/' and ','), the widest columns giving way
// first. A table that cannot fit even so is written as one block per row
// (column: value). Wide columns are left out unless the format is Wide.
func (p Printer) WriteTable(t TableView) error {
	t = p.visible(t)
	if len(t.Columns) == 0 {
		return nil
	}
	widths, ok := p.fit(t)
	if !ok {
		return p.WriteBlocks(recordBlocks(t))
	}
	var b strings.Builder
	if p.Boxed {
		writeBoxed(&b, t, widths)
	} else {
		writePlain(&b, t, widths)
	}
	_, err := fmt.Fprint(p.W, b.String())
	return err
}

// visible drops the wide columns unless the format shows them.
func (p Printer) visible(t TableView) TableView {
	if p.Format == Wide {
		return t
	}
	var keep []int
	for i, c := range t.Columns {
		if !c.Wide {
			keep = append(keep, i)
		}
	}
	if len(keep) == len(t.Columns) {
		return t
	}
	out := TableView{Columns: make([]Column, len(keep))}
	for j, i := range keep {
		out.Columns[j] = t.Columns[i]
	}
	for _, r := range t.Rows {
		row := make([]string, len(keep))
		for j, i := range keep {
			if i < len(r) {
				row[j] = r[i]
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// overhead is how many columns a table's borders and gaps take.
func (p Printer) overhead(n int) int {
	if p.Boxed {
		return 3*n + 1 // "│ " before each cell, " │" after the last, " │ " between
	}
	return 2 * (n - 1)
}

// fit returns each column's width so that the table fits the printer's
// width, or false when it cannot fit with columns of minColumn.
func (p Printer) fit(t TableView) ([]int, bool) {
	widths := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		widths[i] = runewidth.StringWidth(strings.ToUpper(c.Name))
	}
	for _, r := range t.Rows {
		for i := range widths {
			if i < len(r) {
				widths[i] = max(widths[i], longestLine(r[i]))
			}
		}
	}
	if p.Width <= 0 {
		return widths, true
	}
	floor := make([]int, len(widths))
	for i, w := range widths {
		floor[i] = min(w, max(minColumn, w/3))
	}
	avail := p.Width - p.overhead(len(widths))
	for sum(widths) > avail {
		// Narrow the widest column that can give by one.
		w := -1
		for i := range widths {
			if widths[i] > floor[i] && (w < 0 || widths[i] > widths[w]) {
				w = i
			}
		}
		if w < 0 {
			return nil, false
		}
		widths[w]--
	}
	return widths, true
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func longestLine(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, runewidth.StringWidth(l))
	}
	return n
}

// lines wraps each cell of a row to its column's width.
func lines(row []string, widths []int) [][]string {
	out := make([][]string, len(widths))
	for i, w := range widths {
		cell := ""
		if i < len(row) {
			cell = row[i]
		}
		out[i] = Wrap(cell, w)
	}
	return out
}

func height(cells [][]string) int {
	h := 1
	for _, c := range cells {
		h = max(h, len(c))
	}
	return h
}

func header(t TableView) []string {
	h := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		h[i] = strings.ToUpper(c.Name)
	}
	return h
}

// writePlain writes columns separated by two spaces, no borders, no
// trailing spaces: a row that fits is one line.
func writePlain(b *strings.Builder, t TableView, widths []int) {
	rows := append([][]string{header(t)}, t.Rows...)
	for _, r := range rows {
		cells := lines(r, widths)
		for l := range height(cells) {
			var line strings.Builder
			for i, c := range cells {
				s := ""
				if l < len(c) {
					s = c[l]
				}
				if i > 0 {
					line.WriteString("  ")
				}
				line.WriteString(pad(s, widths[i]))
			}
			b.WriteString(strings.TrimRight(line.String(), " "))
			b.WriteByte('\n')
		}
	}
}

// writeBoxed writes the table with borders; rows are ruled apart when one
// of them wraps, so that a wrapped row cannot be read as two.
func writeBoxed(b *strings.Builder, t TableView, widths []int) {
	rule := func(left, mid, right string) {
		b.WriteString(left)
		for i, w := range widths {
			if i > 0 {
				b.WriteString(mid)
			}
			b.WriteString(strings.Repeat("─", w+2))
		}
		b.WriteString(right + "\n")
	}
	row := func(r []string) {
		cells := lines(r, widths)
		for l := range height(cells) {
			b.WriteString("│")
			for i, c := range cells {
				s := ""
				if l < len(c) {
					s = c[l]
				}
				b.WriteString(" " + pad(s, widths[i]) + " │")
			}
			b.WriteByte('\n')
		}
	}
	wraps := false
	for _, r := range t.Rows {
		if height(lines(r, widths)) > 1 {
			wraps = true
		}
	}
	rule("┌", "┬", "┐")
	row(header(t))
	rule("├", "┼", "┤")
	for i, r := range t.Rows {
		if i > 0 && wraps {
			rule("├", "┼", "┤")
		}
		row(r)
	}
	rule("└", "┴", "┘")
}

func pad(s string, w int) string {
	return s + strings.Repeat(" ", max(w-runewidth.StringWidth(s), 0))
}

// recordBlocks shows each row of a table too wide to fit as a block of
// "column: value" lines.
func recordBlocks(t TableView) []Block {
	var out []Block
	for _, r := range t.Rows {
		var blk Block
		for i, c := range t.Columns {
			v := ""
			if i < len(r) {
				v = r[i]
			}
			if i == 0 {
				blk.Head = []string{v}
				continue
			}
			blk.Body = append(blk.Body, Line{Label: c.Name, Text: v})
		}
		out = append(out, blk)
	}
	return out
}
