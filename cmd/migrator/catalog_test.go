package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventCatalogUpToDate regenerates docs/event-catalog.md from the
// shipped rename-map.yaml, as `make catalog` does, and compares it byte for
// byte with the checked-in file.
func TestEventCatalogUpToDate(t *testing.T) {
	t.Chdir("../..") // the repository root, where `make catalog` runs
	t.Setenv("MIGRATOR_BOOTSTRAP_SERVERS", "")
	out := filepath.Join(t.TempDir(), "event-catalog.md")
	if _, stderr, err := run(t, "--map", "rename-map.yaml", "catalog", "--out", out); err != nil {
		t.Fatalf("migrator catalog: %v\n%s", err, stderr)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkedIn, err := os.ReadFile(filepath.Join("docs", "event-catalog.md"))
	if err != nil {
		t.Fatalf("%v: run `make catalog` to generate it", err)
	}
	if string(fresh) == string(checkedIn) {
		return
	}
	freshLines, oldLines := strings.Split(string(fresh), "\n"), strings.Split(string(checkedIn), "\n")
	for i := 0; i < max(len(freshLines), len(oldLines)); i++ {
		var f, o string
		if i < len(freshLines) {
			f = freshLines[i]
		}
		if i < len(oldLines) {
			o = oldLines[i]
		}
		if f != o {
			t.Fatalf("docs/event-catalog.md is out of date with rename-map.yaml: run `make catalog` and commit the result.\n"+
				"first difference, line %d:\n  checked in: %q\n  generated:  %q", i+1, o, f)
		}
	}
	t.Fatalf("docs/event-catalog.md is out of date with rename-map.yaml: run `make catalog` and commit the result (they differ in line endings)")
}
