// Package output prints command results as a table for people or as JSON
// for machines (-o table|json), both from the same value. It decides
// nothing about what a result means.
package output

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
)

// Format is how results are printed.
type Format string

const (
	// Table prints aligned tables for people.
	Table Format = "table"
	// JSON prints one JSON document for machines.
	JSON Format = "json"
	// YAML prints the JSON document as one YAML document.
	YAML Format = "yaml"
)

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON, YAML:
		return Format(s), nil
	}
	return "", fmt.Errorf("output format %q is not table, json or yaml", s)
}

// Printer writes results in one format.
type Printer struct {
	Format Format
	W      io.Writer
}

// Print writes v as JSON (or YAML), or, in table format, the table rows
// gives. rows is only called for the table format.
func (p Printer) Print(v any, header []string, rows func() [][]string) error {
	switch p.Format {
	case JSON:
		enc := json.NewEncoder(p.W)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case YAML:
		return writeYAML(p.W, v)
	}
	return p.Table(header, rows())
}

// Table writes one table.
func (p Printer) Table(header []string, rows [][]string) error {
	t := tablewriter.NewWriter(p.W)
	h := make([]any, len(header))
	for i, s := range header {
		h[i] = s
	}
	t.Header(h...)
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return fmt.Errorf("render table: %w", err)
		}
	}
	return t.Render()
}
