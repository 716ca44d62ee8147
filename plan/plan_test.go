package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/huleedu/topic-migrator/admin"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// topic builds a snapshot topic with broker-default effective configs.
func topic(name string, partitions int, configs map[string]string) *admin.Topic {
	eff := map[string]string{
		"max.message.bytes": "1048588", "message.timestamp.before.max.ms": "9223372036854775807",
		"message.timestamp.type": "CreateTime", "cleanup.policy": "delete", "retention.ms": "604800000",
	}
	own := map[string]string{}
	for k, v := range configs {
		eff[k] = v
		own[k] = v
	}
	return &admin.Topic{Name: name, Partitions: partitions, ReplicationFactor: 1, Configs: own, Effective: eff}
}

func snapshot(topics ...*admin.Topic) *admin.Snapshot {
	s := &admin.Snapshot{Topics: map[string]*admin.Topic{}}
	for _, t := range topics {
		s.Topics[t.Name] = t
	}
	return s
}

func mustMap(t *testing.T, src string) *RenameMap {
	t.Helper()
	m, err := ParseRenameMap("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func build(t *testing.T, src string, snap *admin.Snapshot) *Plan {
	t.Helper()
	return Build(mustMap(t, src), snap, testNow)
}

// findings returns the rename's findings of one code.
func findings(rp *RenamePlan, code string) []Finding {
	var out []Finding
	for _, f := range rp.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func TestPlanCreate(t *testing.T) {
	src := topic("a.old.v1", 6, map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"})
	src.ACLs = []admin.ACL{{Principal: "User:svc", Host: "*", Operation: "READ", Permission: "ALLOW"}}
	p := build(t, "version: 1\nrenames:\n  - from: a.old.v1\n    to: a.new.v1\n    configs: {retention.ms: 172800000}\n", snapshot(src))
	rp := p.Rename("a.old.v1")
	if rp.Action != ActionCreate || rp.Blocked() {
		t.Fatalf("action = %s, findings %v", rp.Action, rp.Findings)
	}
	want := admin.TopicSpec{Name: "a.new.v1", Partitions: 6, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "172800000", "cleanup.policy": "compact"}}
	if rp.Create.Name != want.Name || rp.Create.Partitions != 6 || len(rp.Create.Configs) != 2 ||
		rp.Create.Configs["retention.ms"] != "172800000" || rp.Create.Configs["cleanup.policy"] != "compact" {
		t.Errorf("create = %+v, want %+v", rp.Create, want)
	}
	if len(rp.ACLs) != 1 || rp.ACLs[0].Principal != "User:svc" {
		t.Errorf("ACLs to copy = %v", rp.ACLs)
	}
	if p.Changes() != 1 {
		t.Errorf("changes = %d", p.Changes())
	}
}

func TestPlanSourceMissing(t *testing.T) {
	p := build(t, "version: 1\nrenames:\n  - {from: gone.v1, to: new.v1}\n", snapshot())
	rp := p.Rename("gone.v1")
	if rp.Action != ActionBlocked || len(findings(rp, "source-missing")) != 1 {
		t.Fatalf("plan = %+v", rp)
	}
	if !strings.Contains(findings(rp, "source-missing")[0].Message, "source topic gone.v1 does not exist") {
		t.Errorf("message = %q", rp.Findings[0].Message)
	}
}

func TestPlanCollisionWithOwnSource(t *testing.T) {
	snap := snapshot(topic("huleedu.email.delivery_failed.v1", 3, nil))
	p := build(t, "version: 1\nrenames:\n  - {from: huleedu.email.delivery_failed.v1, to: huleedu.email.delivery.failed.v1}\n", snap)
	rp := p.Rename("huleedu.email.delivery_failed.v1")
	c := findings(rp, "collision")
	if rp.Action != ActionBlocked || len(c) != 1 || c[0].Severity != Error {
		t.Fatalf("plan = %+v", rp)
	}
	for _, want := range []string{"Kafka refuses to create huleedu.email.delivery.failed.v1 while huleedu.email.delivery_failed.v1 exists"} {
		if !strings.Contains(c[0].Message, want) {
			t.Errorf("message %q lacks %q", c[0].Message, want)
		}
	}
	for _, want := range []string{"huleedu.email.delivery.failed.v2", "strategy: swap"} {
		if !strings.Contains(c[0].Fix, want) {
			t.Errorf("fix %q lacks %q", c[0].Fix, want)
		}
	}

	// With strategy swap the same rename plans a staging topic.
	p = build(t, "version: 1\nrenames:\n  - {from: huleedu.email.delivery_failed.v1, to: huleedu.email.delivery.failed.v1, strategy: swap}\n", snap)
	rp = p.Rename("huleedu.email.delivery_failed.v1")
	if rp.Action != ActionCreateStaging || rp.Create.Name != "migrator.staging.huleedu.email.delivery.failed.v1" || rp.Blocked() {
		t.Fatalf("swap plan = %+v", rp)
	}
	if c := findings(rp, "collision"); len(c) != 1 || c[0].Severity != Info {
		t.Errorf("swap collision finding = %+v", c)
	}
}

func TestPlanCollisionWithAnotherTopic(t *testing.T) {
	snap := snapshot(topic("x.a.v1", 1, nil), topic("x.b_c.v1", 1, nil))
	p := build(t, "version: 1\nrenames:\n  - {from: x.a.v1, to: x.b.c.v1, strategy: swap}\n", snap)
	rp := p.Rename("x.a.v1")
	c := findings(rp, "collision")
	if len(c) != 1 || c[0].Severity != Error || !strings.Contains(c[0].Message, "while x.b_c.v1 exists") {
		t.Fatalf("collision findings = %+v", c)
	}
	if strings.Contains(c[0].Fix, "swap") {
		t.Errorf("fix %q offers swap, which cannot help against a third topic", c[0].Fix)
	}
}

func TestPlanChainsAndCycles(t *testing.T) {
	snap := snapshot(topic("a", 1, nil), topic("b", 1, nil), topic("p", 1, nil), topic("q", 1, nil))
	p := build(t, "version: 1\nrenames:\n  - {from: a, to: b}\n  - {from: b, to: c}\n  - {from: p, to: q}\n  - {from: q, to: p}\n", snap)
	if f := findings(p.Rename("a"), "chain"); len(f) != 1 || !strings.Contains(f[0].Message, "b is the target of this rename and the source of another (b → c)") {
		t.Errorf("chain finding = %+v", f)
	}
	if f := findings(p.Rename("b"), "chain"); len(f) != 0 {
		t.Errorf("b → c is the end of the chain, not a chain itself: %+v", f)
	}
	if f := findings(p.Rename("p"), "cycle"); len(f) != 1 {
		t.Errorf("cycle finding = %+v", p.Rename("p").Findings)
	}
}

func TestPlanPartitions(t *testing.T) {
	snap := snapshot(topic("a", 6, nil), topic("b", 6, nil))
	p := build(t, "version: 1\nrenames:\n  - {from: a, to: a2, partitions: 3}\n  - {from: b, to: b2, partitions: 12}\n", snap)
	if f := findings(p.Rename("a"), "partitions"); len(f) != 1 || f[0].Severity != Error || !strings.Contains(f[0].Message, "3 partitions, fewer than the source's 6") {
		t.Errorf("fewer: %+v", f)
	}
	if f := findings(p.Rename("b"), "partitions"); len(f) != 1 || f[0].Severity != Warning || !strings.Contains(f[0].Message, "re-partition by key") {
		t.Errorf("more: %+v", f)
	}
	if p.Rename("b").Action != ActionCreate {
		t.Errorf("a warning must not block: %s", p.Rename("b").Action)
	}
}

func TestPlanConfigsThatRejectHistory(t *testing.T) {
	src := topic("a", 1, map[string]string{"max.message.bytes": "2000000"})
	src.Offsets = &admin.TopicOffsets{Earliest: []int64{0}, Latest: []int64{10}, Oldest: testNow.Add(-72 * time.Hour)}
	p := build(t, `version: 1
renames:
  - from: a
    to: b
    configs: {max.message.bytes: 1000000, message.timestamp.before.max.ms: 86400000, message.timestamp.type: LogAppendTime}
`, snapshot(src))
	f := findings(p.Rename("a"), "config-rejects-history")
	if len(f) != 3 {
		t.Fatalf("findings = %+v", p.Rename("a").Findings)
	}
	joined := f[0].Message + "|" + f[1].Message + "|" + f[2].Message
	for _, want := range []string{"max.message.bytes=1000000 is smaller than the source's 2000000", "message.timestamp.before.max.ms=86400000 ms, but the oldest source record is 72h0m0s old", "LogAppendTime"} {
		if !strings.Contains(joined, want) {
			t.Errorf("findings %q lack %q", joined, want)
		}
	}
}

// TestPlanDefaultTimestampLimit: Kafka's default
// message.timestamp.before.max.ms is Long.MAX_VALUE ms, which takes any
// old record; it must not overflow into a refusal.
func TestPlanDefaultTimestampLimit(t *testing.T) {
	src := topic("a", 1, nil)
	src.Offsets = &admin.TopicOffsets{Earliest: []int64{0}, Latest: []int64{10}, Oldest: testNow.Add(-5 * 365 * 24 * time.Hour)}
	p := build(t, "version: 1\nrenames:\n  - {from: a, to: b}\n", snapshot(src))
	if f := findings(p.Rename("a"), "config-rejects-history"); len(f) != 0 || p.Rename("a").Blocked() {
		t.Errorf("default limit with 5-year-old records: %+v", p.Rename("a").Findings)
	}
}

func TestPlanExistingTarget(t *testing.T) {
	src := topic("a", 3, map[string]string{"retention.ms": "1000"})
	same := topic("b", 3, map[string]string{"retention.ms": "1000"})
	p := build(t, "version: 1\nrenames:\n  - {from: a, to: b}\n", snapshot(src, same))
	if rp := p.Rename("a"); rp.Action != ActionNone || rp.Blocked() || p.Changes() != 0 {
		t.Fatalf("identical target: %+v", rp)
	}
	differs := topic("b", 4, map[string]string{"retention.ms": "2000", "cleanup.policy": "compact"})
	p = build(t, "version: 1\nrenames:\n  - {from: a, to: b}\n", snapshot(src, differs))
	rp := p.Rename("a")
	if rp.Action != ActionBlocked || len(findings(rp, "target-drift")) != 1 {
		t.Fatalf("drifted target: %+v", rp)
	}
	want := []ConfigDiff{{"partitions", "3", "4"}, {"cleanup.policy", "(default)", "compact"}, {"retention.ms", "1000", "2000"}}
	if len(rp.Drift) != len(want) {
		t.Fatalf("drift = %+v, want %+v", rp.Drift, want)
	}
	for i := range want {
		if rp.Drift[i] != want[i] {
			t.Errorf("drift[%d] = %+v, want %+v", i, rp.Drift[i], want[i])
		}
	}
}

func TestPlanGlobalFindings(t *testing.T) {
	snap := snapshot(topic("huleedu.llm_provider.failure.v1", 1, nil), topic("huleedu.cj_assessment.failed.v1", 1, nil), topic("huleedu.batch.x.v1", 1, nil))
	p := build(t, `version: 1
naming: {prefix: huleedu., no_underscores: true}
partition_keys:
  batch: data.batch_id
  llm.provider: data.request_id
renames:
  - {from: huleedu.llm_provider.failure.v1, to: huleedu.llm.provider.failure.v1, strategy: swap}
events:
  A: huleedu.batch.x.v1
  B: ~
`, snap)
	var codes []string
	for _, f := range p.Findings {
		codes = append(codes, f.Code+":"+f.Topic)
	}
	got := strings.Join(codes, ",")
	want := "unmapped-event:,naming:huleedu.cj_assessment.failed.v1,unreachable-contract:llm.provider,no-contract:cj_assessment,no-contract:llm"
	if got != want {
		t.Errorf("global findings = %s\nwant %s", got, want)
	}
	for _, f := range p.Findings {
		if f.Code == "unreachable-contract" && !strings.Contains(f.Message, `the domain of huleedu.llm.provider.failure.v1 is "llm"`) {
			t.Errorf("unreachable contract message = %q", f.Message)
		}
	}
}

func TestPlanID(t *testing.T) {
	src := "version: 1\nrenames:\n  - {from: a, to: b}\n"
	s1 := snapshot(topic("a", 3, nil), topic("other", 1, nil))
	id1 := build(t, src, s1).ID
	s1.Topics["a"].Offsets = &admin.TopicOffsets{Earliest: []int64{0, 0, 0}, Latest: []int64{5, 5, 5}}
	s1.Topics["other"].Configs["retention.ms"] = "5"
	if id := build(t, src, s1).ID; id != id1 {
		t.Errorf("offsets or an uninvolved topic's config changed the id: %s → %s", id1, id)
	}
	s1.Topics["a"].Configs["retention.ms"] = "5"
	if id := build(t, src, s1).ID; id == id1 {
		t.Errorf("a config change of the source kept the id %s", id)
	}
	if id := build(t, src+"# comment\n", snapshot(topic("a", 3, nil), topic("other", 1, nil))); id.ID == id1 {
		t.Errorf("a map change kept the id")
	}
}

func TestBumpVersion(t *testing.T) {
	for in, want := range map[string]string{"a.b.v1": "a.b.v2", "a.v19": "a.v20", "a.b": "", "v3": "v4"} {
		if got := BumpVersion(in); got != want {
			t.Errorf("BumpVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDomain(t *testing.T) {
	m := &RenameMap{Naming: &NamingRules{Prefix: "huleedu."}}
	for in, want := range map[string]string{"huleedu.llm.provider.x.v1": "llm", "huleedu.batch.x.v1": "batch", "other.x.v1": "", "huleedu": ""} {
		if got := m.Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&RenameMap{}).Domain("a.b.c"); got != "b" {
		t.Errorf("no prefix: Domain = %q, want b", got)
	}
}

func TestPlanContractChange(t *testing.T) {
	snap := snapshot(topic("huleedu.batch.x.v1", 3, nil), topic("huleedu.batch.y.v1", 3, nil), topic("huleedu.batch.z.v1", 3, nil))
	p := build(t, `version: 1
naming: {prefix: huleedu.}
partition_keys:
  batch: data.batch_id
  essay: [data.essay_id]
  class: data.batch_id
renames:
  - {from: huleedu.batch.x.v1, to: huleedu.essay.x.v1}
  - {from: huleedu.batch.y.v1, to: huleedu.batch.y.v2}
  - {from: huleedu.batch.z.v1, to: huleedu.class.z.v1}
`, snap)
	f := findings(p.Rename("huleedu.batch.x.v1"), "contract-change")
	if len(f) != 1 || f[0].Severity != Warning ||
		!strings.Contains(f[0].Message, `domain "batch" (keyed by data.batch_id) to "essay" (keyed by data.essay_id)`) {
		t.Errorf("batch → essay: %+v", f)
	}
	if p.Rename("huleedu.batch.x.v1").Action != ActionCreate {
		t.Errorf("a contract change must not block: %s", p.Rename("huleedu.batch.x.v1").Action)
	}
	if f := findings(p.Rename("huleedu.batch.y.v1"), "contract-change"); len(f) != 0 {
		t.Errorf("same domain: %+v", f)
	}
	if f := findings(p.Rename("huleedu.batch.z.v1"), "contract-change"); len(f) != 0 {
		t.Errorf("another domain with the same key: %+v", f)
	}
}
