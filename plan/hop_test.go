package plan

import (
	"strings"
	"testing"
	"time"
)

const hopMap = `version: 1
naming:
  prefix: huleedu.
  version_suffix: '^v[0-9]+$'
  no_underscores: true
  command_pattern: '^huleedu\.[a-z0-9]+(\.[a-z0-9]+)*\.command\.v[0-9]+$'
window: 30d
renames:
  - from: huleedu.email.delivery_failed.v1
    to: huleedu.email.delivery.failed.v1
    strategy: hop
    hop_window: 7d
  - from: huleedu.x_y.command.v1
    to: huleedu.x.y.command.v1
    strategy: hop
    interim: huleedu.x.y.moving.command.v1
  - from: huleedu.a.v1
    to: huleedu.b.v1
`

// TestHopMapEntryBecomesTwoLegs: a hop entry is two dual renames chained
// through the planner's interim name (or the map's), the first leg with
// the hop_window, the second copying the interim from its first record.
func TestHopMapEntryBecomesTwoLegs(t *testing.T) {
	m := mustMap(t, hopMap)
	type leg struct{ from, to, start string }
	var got []leg
	for _, r := range m.Renames {
		got = append(got, leg{r.From, r.To, r.Start})
	}
	want := []leg{
		{"huleedu.email.delivery_failed.v1", "huleedu.email.delivery.failed.hop.v1", "earliest"},
		{"huleedu.email.delivery.failed.hop.v1", "huleedu.email.delivery.failed.v1", "earliest"},
		{"huleedu.x_y.command.v1", "huleedu.x.y.moving.command.v1", "earliest"},
		{"huleedu.x.y.moving.command.v1", "huleedu.x.y.command.v1", "earliest"},
		{"huleedu.a.v1", "huleedu.b.v1", "earliest"},
	}
	if len(got) != len(want) {
		t.Fatalf("renames %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rename %d: %v, want %v", i, got[i], want[i])
		}
	}
	first, second := m.Renames[0], m.Renames[1]
	if first.Hop == nil || first.Hop.Leg != 1 || second.Hop == nil || second.Hop.Leg != 2 || m.Renames[4].Hop != nil {
		t.Fatalf("hop legs: %+v %+v %+v", first.Hop, second.Hop, m.Renames[4].Hop)
	}
	if first.Strategy != StrategyHop || second.Strategy != StrategyHop {
		t.Errorf("strategies %s %s, want hop", first.Strategy, second.Strategy)
	}
	if w := m.WindowOf(first); w != 7*24*time.Hour {
		t.Errorf("hop 1 window %s, want the hop_window 168h", w)
	}
	if w := m.WindowOf(second); w != 30*24*time.Hour {
		t.Errorf("hop 2 window %s, want the map's 720h", w)
	}
	if other, ok := m.HopLeg(first, 2); !ok || other.From != second.From {
		t.Errorf("HopLeg(first, 2) = %v %v", other.From, ok)
	}
	if got := m.NewName("huleedu.email.delivery_failed.v1"); got != "huleedu.email.delivery.failed.v1" {
		t.Errorf("NewName of a hop's old topic = %s, want its final name", got)
	}
}

// TestInterimTopic: the planner's interim names follow the naming rules,
// a command topic's included.
func TestInterimTopic(t *testing.T) {
	rules := mustMap(t, hopMap).Naming
	for to, want := range map[string]string{
		"huleedu.llm.provider.cost.alert.v1":           "huleedu.llm.provider.cost.alert.hop.v1",
		"huleedu.batch.spellcheck.initiate.command.v1": "huleedu.batch.spellcheck.initiate.hop.command.v1",
	} {
		if got := InterimTopic(to, rules); got != want {
			t.Errorf("InterimTopic(%s) = %s, want %s", to, got, want)
		}
		if v := rules.Check(InterimTopic(to, rules)); v != nil {
			t.Errorf("interim of %s breaks the rules: %v", to, v)
		}
	}
	if got := InterimTopic("a_b", nil); got != "a_b-hop" {
		t.Errorf("InterimTopic without rules = %s", got)
	}
}

func TestHopMapErrors(t *testing.T) {
	for _, tc := range []struct{ entry, want string }{
		{"    to: huleedu.b.v1\n    interim: huleedu.c.v1\n", `renames[0].interim is only for strategy hop`},
		{"    to: huleedu.b.v1\n    hop_window: 1d\n", `renames[0].hop_window is only for strategy hop`},
		{"    to: huleedu.b.v1\n    strategy: hop\n    hop_window: 40d\n", `hop_window: 40d is longer than the map's window`},
		{"    to: huleedu.b.v1\n    strategy: hop\n    interim: huleedu_b.v1\n", `must differ from, and not collide with`},
		{"    to: huleedu.b.v1\n    strategy: hop\n    interim: huleedu.z.v1\n  - from: huleedu.z.v1\n    to: huleedu.zz.v1\n", `the interim topic huleedu.z.v1 of the hop from huleedu.a.v1 is also`},
		{"    to: huleedu.b.v1\n    strategy: hops\n", `"hops" is not a strategy (use dual, swap or hop)`},
	} {
		_, err := ParseRenameMap("m.yaml", []byte("version: 1\nwindow: 30d\nrenames:\n  - from: huleedu.a.v1\n"+tc.entry))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.entry, err, tc.want)
		}
	}
}

// TestPlanHop: before hop 1 the plan creates the interim and hop 2 waits
// (its collision with the old topic is the hop's to handle); once the old
// topic is gone, hop 1 is done and hop 2 creates the new topic; an interim
// that collides with a topic of the cluster blocks hop 1.
func TestPlanHop(t *testing.T) {
	const src = "version: 1\nrenames:\n  - from: huleedu.a_b.v1\n    to: huleedu.a.b.v1\n    strategy: hop\n"
	const old, interim, nu = "huleedu.a_b.v1", "huleedu.a.b.hop.v1", "huleedu.a.b.v1"

	p := build(t, src, snapshot(topic(old, 3, nil)))
	if len(p.Renames) != 2 {
		t.Fatalf("%d renames planned, want 2", len(p.Renames))
	}
	h1, h2 := &p.Renames[0], &p.Renames[1]
	if f := findings(h1, "hop"); len(f) != 1 || !strings.Contains(f[0].Message, "once the map's window allows") {
		t.Errorf("hop 1's hop finding: %v", f)
	}
	if h1.Action != ActionCreate || h1.Create.Name != interim || h1.Hop != 1 || h1.Blocked() {
		t.Errorf("hop 1: action %s, create %+v, hop %d, findings %v", h1.Action, h1.Create, h1.Hop, h1.Findings)
	}
	if len(findings(h1, "chain")) > 0 {
		t.Errorf("hop 1 reported as a chain: %v", h1.Findings)
	}
	if h2.Action != ActionWait || h2.Blocked() || h2.Hop != 2 {
		t.Errorf("hop 2: action %s, hop %d, findings %v; want wait", h2.Action, h2.Hop, h2.Findings)
	}
	if c := findings(h2, "collision"); len(c) != 1 || c[0].Severity != Info || !strings.Contains(c[0].Message, "strategy hop handles it") {
		t.Errorf("hop 2 collision findings: %v", c)
	}

	windowed := build(t, strings.Replace(src, "strategy: hop\n", "strategy: hop\n    hop_window: 7d\n", 1), snapshot(topic(old, 3, nil)))
	if f := findings(&windowed.Renames[0], "hop"); len(f) != 1 || !strings.Contains(f[0].Message, "once hop_window 7d allows") {
		t.Errorf("hop 1's hop finding with a hop_window: %v", f)
	}

	p = build(t, src, snapshot(topic(interim, 3, nil)))
	h1, h2 = &p.Renames[0], &p.Renames[1]
	if h1.Action != ActionNone || len(findings(h1, "done")) != 1 {
		t.Errorf("hop 1 after the old topic went: %s %v", h1.Action, h1.Findings)
	}
	if h2.Action != ActionCreate || h2.Create.Name != nu || h2.Blocked() {
		t.Errorf("hop 2 after the old topic went: %s %+v %v", h2.Action, h2.Create, h2.Findings)
	}

	p = build(t, src, snapshot(topic(nu, 3, nil)))
	if p.Renames[0].Action != ActionNone || p.Renames[1].Action != ActionNone || p.BlockedCount() > 0 {
		t.Errorf("a finished hop: %+v", p.Renames)
	}

	p = build(t, src, snapshot(topic(old, 3, nil), topic("huleedu.a.b_hop.v1", 1, nil)))
	if c := findings(&p.Renames[0], "collision"); !p.Renames[0].Blocked() || len(c) != 1 || !strings.Contains(c[0].Fix, "set `interim:`") {
		t.Errorf("an interim colliding with a topic: %v", p.Renames[0].Findings)
	}
}
