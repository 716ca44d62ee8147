package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/plan"
)

// TestDemo runs `migrator demo` in process, as `make demo` does but
// without a rename-map.yaml in the working directory (the built-in copy
// is used), and checks what it must show: the collisions by name, every
// rename that keeps both names at producers-cut, identical copies, the
// consumer group resuming exactly, and one colliding rename taken through
// both hops of strategy hop.
func TestDemo(t *testing.T) {
	start := time.Now()
	out, errOut, err := run(t, "demo")
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// A minute and a half: the hop step waits for the bridge's route
	// refresh (30 s) before hop 2 copies.
	if elapsed > 90*time.Second {
		t.Errorf("demo took %s, more than a minute and a half", elapsed)
	}
	m, err := plan.ParseRenameMap("rename-map.yaml", topicmigrator.RenameMapYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"the copy built into this binary",
		"Collisions the seed missed",
		"huleedu.email.delivery_failed.v1  vs  huleedu.email.delivery.failed.v1  (resolved by strategy: hop)",
		"the demo's copy of it runs huleedu.email.delivery_failed.v1 as `strategy: hop`",
		"All 8 swaps done",
		"huleedu.email.delivery_failed.v1 is huleedu.email.delivery.failed.v1 now, with no stop: the hop cost two client moves",
		"verify passed: every new topic holds identical copies",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	status := section(out, "status: where every rename stands")
	verify := section(out, "verify: prove each copy record by record")
	created := section(out, "apply: create the new topics")
	var dual int
	hop := section(out, "hop: a colliding rename without a stop, through an interim name")
	for _, r := range m.Renames {
		if r.From == "huleedu.email.delivery_failed.v1" {
			// The demo runs the first swap of the map as a hop: both legs
			// retired, the group's two moves proven exact.
			interim := plan.InterimTopic(r.To, m.Naming)
			for _, leg := range [][2]string{{r.From, interim}, {interim, r.To}} {
				if row := tableRow(status, leg[0]); len(row) < 3 || !strings.HasPrefix(row[2], "retired (hop ") || row[1] != leg[1] {
					t.Errorf("status row of hop %s → %s: %q, want retired", leg[0], leg[1], row)
				}
				if !strings.Contains(hop, "proof: email-service-demo resumes on "+leg[1]+" partition 0") {
					t.Errorf("no proof of the group's move to %s in:\n%s", leg[1], hop)
				}
			}
			continue
		}
		if r.Strategy == plan.StrategySwap {
			if !strings.Contains(out, r.From+"  vs  "+r.To) {
				t.Errorf("collision %s vs %s not reported", r.From, r.To)
			}
			if row := tableRow(created, r.From); !slices.Contains(row, plan.StagingTopic(r.To)) || !slices.Contains(row, "created") {
				t.Errorf("apply row of swap %s: %q, want its staging topic created", r.From, row)
			}
			if row := tableRow(status, r.From); len(row) < 3 || row[2] != "retired" || row[1] != r.To {
				t.Errorf("status row of swap %s: %q, want phase retired on %s", r.From, row, r.To)
			}
			if !strings.Contains(out, "swapped "+r.From+" → "+r.To+"; the stop took") {
				t.Errorf("no finished swap of %s in the output", r.From)
			}
			continue
		}
		dual++
		// from, to, phase, days left, lag, DLQ, stray writes
		if row := tableRow(status, r.From); len(row) != 7 || row[2] != "producers-cut" || row[6] != "0" {
			t.Errorf("status row of %s: %q, want phase producers-cut and no stray write", r.From, row)
		}
		rows := 0
		for _, line := range strings.Split(verify, "\n") {
			if f := cells(line); f[0] == r.From {
				rows++
				if f[len(f)-1] != "ok" {
					t.Errorf("verify row %q is not ok", line)
				}
			}
		}
		if rows != 3 {
			t.Errorf("verify shows %d partitions of %s, want 3", rows, r.From)
		}
	}
	if dual != 2 {
		t.Errorf("%d renames keep both names, want the 2 command renames", dual)
	}
	checkDemoTrail(t, m, section(out, "history: the whole audit trail"))
	proof := regexp.MustCompile(`proof: essay-lifecycle-service-demo resumes on huleedu\.batch\.spellcheck\.initiate\.command\.v1 partition (\d+) at offset \d+, whose X-Migrator-Origin huleedu\.els\.spellcheck\.initiate\.command\.v1/(\d+)/(\d+) is exactly its committed position on the old topic`)
	proofs := proof.FindAllStringSubmatch(out, -1)
	if len(proofs) == 0 {
		t.Errorf("no consumer-group proof line in:\n%s", section(out, "cutover consumers"))
	}
	committed := regexp.MustCompile(`partition (\d+) at (\d+)`).FindAllStringSubmatch(section(out, "cutover consumers"), -1)
	for _, p := range proofs {
		if p[1] != p[2] || !slicesContain(committed, p[1], p[3]) {
			t.Errorf("proof %q does not match a committed position %v", p[0], committed)
		}
	}
	// The temporary state file is gone.
	if m := regexp.MustCompile(`state:\s+(\S+) \(temporary\)`).FindStringSubmatch(out); m == nil {
		t.Error("no state file line")
	} else if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("state file %s left behind (%v)", m[1], err)
	}
	t.Logf("demo took %s", elapsed)
}

// checkDemoTrail checks the demo's last step, history: the whole trail,
// every rename through every step the demo ran on it, in order, each
// entry naming the command that wrote it (not the demo).
func checkDemoTrail(t *testing.T, m *plan.RenameMap, history string) {
	t.Helper()
	actions := map[string][]string{}
	rows := 0
	// The table is plain (stdout is no terminal): columns aligned under
	// the header's names, one line per entry.
	var cols map[string][2]int
	for _, line := range strings.Split(history, "\n") {
		if cols == nil {
			if l := strings.ToLower(line); strings.HasPrefix(l, "#") && strings.Contains(l, "rename") && strings.Contains(l, "command") {
				cols = columnSpans(l)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			break
		}
		cell := func(name string) string {
			r, span := []rune(line), cols[name]
			if span[0] >= len(r) {
				return ""
			}
			return strings.TrimSpace(string(r[span[0]:min(span[1], len(r))]))
		}
		rows++
		rename, action, command := cell("rename"), cell("action"), cell("command")
		if !strings.HasPrefix(command, "migrator ") || strings.HasPrefix(command, "migrator demo") {
			t.Errorf("entry %s of %s names the command %q, want the step's", cell("#"), rename, command)
		}
		actions[rename] = append(actions[rename], action)
	}
	if cols == nil {
		t.Fatalf("no history table (header with rename and command) in:\n%s", history)
	}
	for _, r := range m.Renames {
		want := []string{"apply: end", "phase created", "phase mirroring", "phase consumers-cut", "phase producers-cut", "verified"}
		if r.Strategy == plan.StrategySwap {
			want = []string{"apply: end", "phase created", "phase mirroring", "phase consumers-cut", "phase retired"}
		}
		got, i := actions[r.From], 0
		for _, a := range got {
			if i < len(want) && a == want[i] {
				i++
			}
		}
		if i < len(want) {
			t.Errorf("the trail of %s lacks %q (in order %v): %v", r.From, want[i], want, got)
		}
	}
	if rows < 200 {
		t.Errorf("history shows %d entries of the demo, want its whole trail", rows)
	}
}

// columnSpans returns, per column name of a plain table's header, the rune
// range its cells take: from the name to the next name.
func columnSpans(header string) map[string][2]int {
	r := []rune(header)
	var starts []int
	for i := range r {
		if r[i] != ' ' && (i == 0 || r[i-1] == ' ' && i > 1 && r[i-2] == ' ') {
			starts = append(starts, i)
		}
	}
	out := map[string][2]int{}
	for k, st := range starts {
		end := 1 << 30
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		out[strings.TrimSpace(string(r[st:min(end, len(r))]))] = [2]int{st, end}
	}
	return out
}

func slicesContain(committed [][]string, partition, offset string) bool {
	for _, c := range committed {
		if c[1] == partition && c[2] == offset {
			return true
		}
	}
	return false
}

// section returns the demo output of the step with the title, up to the
// next step.
func section(out, title string) string {
	_, rest, ok := strings.Cut(out, ". "+title)
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n== "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// tableRow returns the cells of the row of a plain table whose first
// column is first.
func tableRow(table, first string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := cells(line); f[0] == first {
			return f
		}
	}
	return nil
}

// cells splits a line of a plain table (columns two spaces apart or more).
func cells(line string) []string {
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
}

func TestDemoMissingMap(t *testing.T) {
	_, _, err := run(t, "--map", "/nonexistent/map.yaml", "demo")
	if err == nil || !strings.Contains(err.Error(), "rename map /nonexistent/map.yaml does not exist") {
		t.Fatalf("err = %v", err)
	}
}

// TestDemoKeepRunning starts `migrator demo --keep-running`, lists the
// embedded cluster's topics with a client of its own and reads the bridge
// metrics at the printed addresses, then stops it as Ctrl-C does.
func TestDemoKeepRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &tailBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- newApp(out, io.Discard).RunContext(ctx, []string{"migrator", "--map", shippedMap, "demo", "--keep-running"})
	}()
	var bootstrap, metrics string
	deadline := time.After(2 * time.Minute)
	for bootstrap == "" || metrics == "" {
		select {
		case err := <-done:
			t.Fatalf("demo ended before it was up: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no bootstrap and metrics lines after 2 minutes:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if m := regexp.MustCompile(`(?m)^bootstrap: (\S+)$`).FindStringSubmatch(out.String()); m != nil {
			bootstrap = m[1]
		}
		if m := regexp.MustCompile(`(?m)^metrics:   (\S+)$`).FindStringSubmatch(out.String()); m != nil {
			metrics = m[1]
		}
	}

	ac, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3})
	if err != nil {
		t.Fatal(err)
	}
	md, err := ac.GetMetadata(nil, true, 10_000)
	ac.Close()
	if err != nil {
		t.Fatalf("metadata from %s: %v", bootstrap, err)
	}
	for _, topic := range []string{"huleedu.els.spellcheck.initiate.command.v1", "huleedu.batch.spellcheck.initiate.command.v1", "huleedu.email.delivery.failed.v1"} {
		if _, ok := md.Topics[topic]; !ok {
			t.Errorf("topic %s not listed by %s", topic, bootstrap)
		}
	}
	for _, gone := range []string{"huleedu.email.delivery_failed.v1", "migrator.staging.huleedu.email.delivery.failed.v1"} {
		if _, ok := md.Topics[gone]; ok {
			t.Errorf("topic %s still listed after its swap", gone)
		}
	}
	if len(md.Brokers) != 3 {
		t.Errorf("%d brokers, want 3", len(md.Brokers))
	}
	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `migrator_bridge_records_total{rename="huleedu.els.spellcheck.initiate.command.v1"}`) {
		t.Errorf("metrics at %s lack the bridge's record counts:\n%.2000s", metrics, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo still running a minute after Ctrl-C")
	}
	if !strings.Contains(out.String(), "Stopping.") {
		t.Errorf("no stop message:\n%s", out.String())
	}
	if m := regexp.MustCompile(`kept in (\S+)\.`).FindStringSubmatch(out.String()); m == nil {
		t.Errorf("the kept state directory is not named")
	} else {
		if _, err := os.Stat(m[1] + "/migrator.db"); err != nil {
			t.Errorf("state file not kept: %v", err)
		}
		_ = os.RemoveAll(m[1])
	}
}
