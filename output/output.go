// Package output prints command results for people (tables and blocks
// fitted to the terminal) or as JSON or YAML for machines
// (-o table|wide|json|yaml),
// both from the same value: the human view is drawn from the result the
// JSON document encodes. It decides nothing about what a result means.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"
)

// Format is how results are printed.
type Format string

const (
	// Table prints the default, short columns for people.
	Table Format = "table"
	// Wide prints every column for people.
	Wide Format = "wide"
	// JSON prints one JSON document for machines.
	JSON Format = "json"
	// YAML prints the JSON document as one YAML document.
	YAML Format = "yaml"
)

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, Wide, JSON, YAML:
		return Format(s), nil
	}
	return "", fmt.Errorf("output format %q is not table, wide, json or yaml", s)
}

// Printer writes results in one format.
type Printer struct {
	Format Format
	W      io.Writer
	// Width is the number of columns human output fits in; 0 means not
	// known (a pipe whose reader set no COLUMNS): tables are then not
	// wrapped, blocks are wrapped to ProseWidth.
	Width int
	// Boxed draws tables with borders (a terminal); otherwise tables are
	// plain columns separated by spaces, for grep and awk.
	Boxed bool
}

// NewPrinter returns a printer for w: boxed and as wide as the terminal
// when w is one, plain otherwise. COLUMNS, when set, gives the width in
// both cases.
func NewPrinter(f Format, w io.Writer) Printer {
	width, tty := TerminalWidth(w)
	return Printer{Format: f, W: w, Width: width, Boxed: tty}
}

// TerminalWidth returns the width human output to w should fit in (the
// COLUMNS environment variable, else the terminal's width, else 0 for no
// limit) and whether w is a terminal.
func TerminalWidth(w io.Writer) (width int, tty bool) {
	if t, ok := w.(interface{ Terminal() (int, bool) }); ok {
		return t.Terminal()
	}
	f, ok := w.(*os.File)
	tty = ok && isatty.IsTerminal(f.Fd())
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n, tty
	}
	if tty {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
			return n, tty
		}
		return 80, tty
	}
	return 0, tty
}

// Human reports whether the printer writes for people.
func (p Printer) Human() bool { return p.Format != JSON && p.Format != YAML }

// Print writes v as a JSON (or YAML) document, or, for people, the table
// rows gives under header (every column shown). rows is only called for
// people.
func (p Printer) Print(v any, header []string, rows func() [][]string) error {
	if !p.Human() {
		return p.JSON(v)
	}
	return p.Table(header, rows())
}

// PrintTable writes v as JSON, or, for people, the table view gives.
func (p Printer) PrintTable(v any, view func() TableView) error {
	if !p.Human() {
		return p.JSON(v)
	}
	return p.WriteTable(view())
}

// PrintBlocks writes v as JSON, or, for people, the blocks view gives.
func (p Printer) PrintBlocks(v any, view func() []Block) error {
	if !p.Human() {
		return p.JSON(v)
	}
	return p.WriteBlocks(view())
}

// JSON writes v as one indented JSON document, or as one YAML document
// with -o yaml.
func (p Printer) JSON(v any) error {
	if p.Format == YAML {
		return writeYAML(p.W, v)
	}
	enc := json.NewEncoder(p.W)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table writes one table showing every column.
func (p Printer) Table(header []string, rows [][]string) error {
	cols := make([]Column, len(header))
	for i, h := range header {
		cols[i] = Column{Name: h}
	}
	return p.WriteTable(TableView{Columns: cols, Rows: rows})
}
