package plan

import (
	"strings"
	"testing"
)

func TestCheckMap(t *testing.T) {
	m, err := ParseRenameMap("m.yaml", []byte(`version: 1
renames:
  - {from: a.x.v1, to: a.y.v1}
  - {from: a.y.v1, to: a.z.v1}
  - {from: p.one.v1, to: p.two.v1}
  - {from: p.two.v1, to: p.one.v1}
  - {from: c.first.v1, to: c.same_name.v1}
  - {from: c.second.v1, to: c.same.name.v1}
  - {from: s.delivery_failed.v1, to: s.delivery.failed.v1, strategy: swap}
  - {from: d.order_placed.v1, to: d.order.placed.v1}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range CheckMap(m) {
		if f.Severity != Error {
			t.Errorf("finding %+v is not an error", f)
		}
		got = append(got, f.Code+": "+f.Message)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"chain: a.x.v1 → a.y.v1: a.y.v1 is the target of this rename and the source of another (a.y.v1 → a.z.v1).",
		"cycle: p.one.v1 → p.two.v1: renames form a cycle",
		"cycle: p.two.v1 → p.one.v1: renames form a cycle",
		"collision: c.first.v1 → c.same_name.v1: targets c.same_name.v1 and c.same.name.v1 differ only in '.' against '_'",
		"collision: d.order_placed.v1 → d.order.placed.v1: Kafka refuses to create d.order.placed.v1 while d.order_placed.v1 exists",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("CheckMap lacks %q; it found:\n%s", want, all)
		}
	}
	if strings.Contains(all, "s.delivery") {
		t.Errorf("a swap's collision with its own source is no error:\n%s", all)
	}
	if len(got) != 6 {
		t.Errorf("%d findings, want 6 (chain, 2 cycles, 2 target collisions, 1 source collision):\n%s", len(got), all)
	}
	shipped, err := LoadRenameMap("../rename-map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if fs := CheckMap(shipped); len(fs) > 0 {
		t.Errorf("the shipped map has problems: %+v", fs)
	}
}
