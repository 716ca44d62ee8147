package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestVersionShowsLinkerValues builds the binary the way `make build` and
// `make release` do, with version, commit and date set by -ldflags -X, and
// checks that `migrator version` prints them.
func TestVersionShowsLinkerValues(t *testing.T) {
	want := map[string]string{"version": "v9.8.7-test", "commit": "abc1234", "date": "2026-01-02T03:04:05Z"}
	bin := buildMigrator(t, "-X main.version="+want["version"]+" -X main.commit="+want["commit"]+" -X main.date="+want["date"])
	out, err := exec.Command(bin, "-o", "json", "version").Output()
	if err != nil {
		t.Fatalf("migrator version: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("version %s = %q, want %q (from -ldflags -X main.%s)", k, got[k], v, k)
		}
	}
	table, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("migrator version: %v", err)
	}
	for _, v := range want {
		if !strings.Contains(string(table), v) {
			t.Errorf("the version table lacks %q:\n%s", v, table)
		}
	}
}
