package plan

import (
	"strings"
	"testing"
)

func TestLintShippedMap(t *testing.T) {
	m, err := LoadRenameMap("../rename-map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Lint(m, nil) {
		got = append(got, f.Code+":"+f.Topic)
	}
	want := []string{
		"unmapped-event:", "unmapped-event:",
		"naming:huleedu.batch.ai_feedback.initiate.command.v1", "naming:huleedu.batch.ai_feedback.initiate.command.v1",
		"naming:huleedu.batch.cj_assessment.initiate.command.v1", "naming:huleedu.batch.cj_assessment.initiate.command.v1",
		"naming:huleedu.cj_assessment.completed.v1", "naming:huleedu.cj_assessment.failed.v1", "naming:huleedu.els.cj_assessment.requested.v1",
		"no-contract:assessment", "no-contract:cj_assessment", "no-contract:els", "no-contract:file",
		"no-contract:notification", "no-contract:pipeline", "no-contract:ras", "no-contract:resource",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lint findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLintLiveTopics(t *testing.T) {
	m := mustMap(t, `version: 1
naming: {prefix: huleedu., command_pattern: '^huleedu\.[a-z]+(\.[a-z]+)*\.command\.v[0-9]+$', version_suffix: '^v[0-9]+$'}
renames:
  - {from: huleedu.x_y.v1, to: huleedu.x.y.v1, strategy: swap}
`)
	findings := Lint(m, []string{"huleedu.commands.batch.pipeline.v1", "huleedu.ok.v1", "other.v1", "huleedu.x.noversion", "migrator.staging.huleedu.x.y.v1", "huleedu.x.y.v1.dlq.v1"})
	var msgs []string
	for _, f := range findings {
		msgs = append(msgs, f.Message)
	}
	want := []string{
		"huleedu.commands.batch.pipeline.v1 is a command topic but does not match the command pattern",
		"huleedu.x.noversion last segment \"noversion\" is not a version",
		"other.v1 does not start with \"huleedu.\"",
	}
	if len(msgs) != len(want) {
		t.Fatalf("findings = %q", msgs)
	}
	for i := range want {
		if !strings.HasPrefix(msgs[i], want[i]) {
			t.Errorf("finding %d = %q, want prefix %q", i, msgs[i], want[i])
		}
	}
}

func TestCatalogIsStable(t *testing.T) {
	m, err := LoadRenameMap("../rename-map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(topic("huleedu.email.delivery_failed.v1", 1, map[string]string{"retention.ms": "2592000000"}),
		topic("huleedu.batch.spellcheck.initiate.command.v1", 1, map[string]string{"retention.ms": "43200000"}))
	first := Catalog(m, snap)
	for i := 0; i < 5; i++ {
		if again := Catalog(m, snap); again != first {
			t.Fatal("catalog differs between two runs")
		}
	}
	for _, want := range []string{
		"## Domain: email\n",
		"| EMAIL_DELIVERY_FAILED | huleedu.email.delivery.failed.v1 | data.message_id, metadata.message_id | 30d |",
		"| BATCH_SPELLCHECK_INITIATE_COMMAND | huleedu.batch.spellcheck.initiate.command.v1 | data.batch_id, metadata.batch_id | 0.5d |",
		"| LLM_COST_ALERT | huleedu.llm.provider.cost.alert.v1 | data.request_id, metadata.request_id | not in cluster |",
		"| SPELLCHECK_PHASE_COMPLETED | SPELLCHECK_RESULTS | State: ELS/BCS orchestration. Data: result aggregation. |",
		"ESSAY_AIFEEDBACK_COMPLETED, ESSAY_EDITOR_REVISION_COMPLETED",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("catalog lacks %q", want)
		}
	}
	if strings.Count(first, "## Domain: ") != 15 {
		t.Errorf("catalog has %d domains, want 15", strings.Count(first, "## Domain: "))
	}
}
