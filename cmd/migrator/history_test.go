package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/kafkatest"
	"github.com/huleedu/topic-migrator/lifecycle"
)

// TestHistory reads back the audit trail of an apply and a rollback: in
// order, with who and which command, as a table and
// as JSON; --since and --rename narrow it, and a typo is named.
func TestHistory(t *testing.T) {
	c := kafkatest.NewFake(t)
	src, dst := "hist.orders_old.v1", "hist.orders.new.v1"
	mapFile, stateFile := appliedRename(t, c, src, dst, 1)
	must := mustCLI(t, c, mapFile, stateFile)
	must("rollback", "--rename", src, "--yes")

	var entries []lifecycle.HistoryEntry
	if err := json.Unmarshal([]byte(must("-o", "json", "history", "--rename", src)), &entries); err != nil {
		t.Fatalf("history -o json: %v", err)
	}
	var actions []string
	for i, e := range entries {
		actions = append(actions, e.Action)
		if e.Rename != src || e.Actor == "" || !strings.Contains(e.Actor, "@") || e.Time.IsZero() {
			t.Errorf("entry %d = %+v: want the rename, user@host and a time", i, e)
		}
		if i > 0 && e.Seq <= entries[i-1].Seq {
			t.Errorf("entries out of order: %d after %d", e.Seq, entries[i-1].Seq)
		}
	}
	want := []string{"apply: begin", "apply: end", "phase created", "phase rolled-back"}
	if got := strings.Join(actions, "|"); !strings.Contains(got, strings.Join(want[:3], "|")) || !strings.HasSuffix(got, want[3]) {
		t.Fatalf("history actions = %v, want %v in order", actions, want)
	}
	table := must("history")
	if !strings.Contains(table, "phase rolled-back") || !strings.Contains(table, "delete "+dst+": proven") || !strings.Contains(table, "apply: begin") {
		t.Errorf("history table:\n%s", table)
	}
	if out := must("-o", "json", "history", "--since", time.Now().Add(time.Hour).Format(time.RFC3339)); strings.TrimSpace(out) != "[]" {
		t.Errorf("history since an hour ahead = %s, want []", out)
	}
	_, _, err := run(t, "--map", mapFile, "--state", stateFile, "history", "--since", "yesterday")
	if err == nil || !strings.Contains(err.Error(), `--since "yesterday"`) {
		t.Errorf("history --since yesterday: %v, want a clear error", err)
	}
	_, _, err = run(t, "--map", mapFile, "--state", stateFile, "history", "--rename", "hist.order_old.v1")
	var unknown *lifecycle.UnknownRenameError
	if !errors.As(err, &unknown) {
		t.Errorf("history --rename with a typo: %v, want an unknown-rename error", err)
	}
}
