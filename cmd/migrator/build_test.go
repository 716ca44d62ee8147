package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// buildMigrator builds the migrator binary with ldflags into a temporary
// directory and returns its path.
func buildMigrator(t *testing.T, ldflags string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "migrator")
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
