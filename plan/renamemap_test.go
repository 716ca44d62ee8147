package plan

import (
	"bufio"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRenameMapMinimal(t *testing.T) {
	m, err := ParseRenameMap("min.yaml", []byte("version: 1\nrenames:\n  - from: a_b\n    to: a.b.v2\n"))
	if err != nil {
		t.Fatalf("minimal map: %v", err)
	}
	if m.Naming != nil || len(m.PartitionKeys) != 0 || len(m.Events) != 0 {
		t.Errorf("minimal map configured rules it did not state: %+v", m)
	}
	if m.Window != DefaultWindow {
		t.Errorf("window = %v, want default %v", m.Window, DefaultWindow)
	}
	want := Rename{From: "a_b", To: "a.b.v2", Strategy: StrategyDual, Start: "earliest", Pos: Position{3, 5}}
	if len(m.Renames) != 1 || m.Renames[0].From != want.From || m.Renames[0].To != want.To ||
		m.Renames[0].Strategy != want.Strategy || m.Renames[0].Start != want.Start || m.Renames[0].Pos != want.Pos {
		t.Errorf("renames = %+v, want [%+v]", m.Renames, want)
	}
}

func TestParseRenameMapFull(t *testing.T) {
	src := `version: 1
naming:
  prefix: huleedu.
  version_suffix: '^v[0-9]+$'
  no_underscores: true
  command_pattern: '^huleedu\..*\.command\.v[0-9]+$'
partition_keys:
  batch: data.batch_id
  essay: [data.essay_id, metadata.essay_id]
window: 30d
renames:
  - event: E1
    from: huleedu.x_y.v1
    to: huleedu.x.y.v1
    strategy: swap
    partitions: 6
    configs:
      retention.ms: 604800000
      cleanup.policy: compact
    start: "2026-11-01T00:00:00Z"
events:
  E1: huleedu.x_y.v1
  E2: ~
dual_events:
  - {thin: E1, rich: E2, purpose: demo}
`
	m, err := ParseRenameMap("full.yaml", []byte(src))
	if err != nil {
		t.Fatalf("full map: %v", err)
	}
	if m.Window != 30*24*time.Hour {
		t.Errorf("window = %v, want 720h", m.Window)
	}
	if m.Naming == nil || m.Naming.Prefix != "huleedu." || !m.Naming.NoUnderscores ||
		!m.Naming.VersionSuffix.MatchString("v12") || !m.Naming.CommandPattern.MatchString("huleedu.batch.go.command.v1") {
		t.Errorf("naming = %+v", m.Naming)
	}
	if len(m.PartitionKeys) != 2 || m.PartitionKeys[1].Domain != "essay" ||
		strings.Join(m.PartitionKeys[1].Paths, ",") != "data.essay_id,metadata.essay_id" {
		t.Errorf("partition keys = %+v", m.PartitionKeys)
	}
	r := m.Renames[0]
	if r.Strategy != StrategySwap || r.Partitions != 6 || r.Configs["retention.ms"] != "604800000" ||
		r.Configs["cleanup.policy"] != "compact" || r.Start != "2026-11-01T00:00:00Z" || r.Event != "E1" {
		t.Errorf("rename = %+v", r)
	}
	if len(m.Events) != 2 || m.Events[1].Name != "E2" || m.Events[1].Topic != "" {
		t.Errorf("events = %+v", m.Events)
	}
	if len(m.DualEvents) != 1 || m.DualEvents[0].Thin != "E1" || m.DualEvents[0].Rich != "E2" || m.DualEvents[0].Purpose != "demo" {
		t.Errorf("dual events = %+v", m.DualEvents)
	}
}

func TestParseRenameMapErrors(t *testing.T) {
	const head = "version: 1\nrenames:\n"
	cases := []struct {
		name string
		src  string
		want string // file:line:col: message, or a part of it
	}{
		{"empty file", "", "bad.yaml:1:1: the file is empty"},
		{"syntax error", "version: 1\nrenames: [\n", "bad.yaml:2:1: invalid YAML: did not find expected node content"},
		{"root not a mapping", "- a\n- b\n", "bad.yaml:1:1: rename map must be a mapping, not a list"},
		{"missing version", "renames: []\n", `bad.yaml:1:1: rename map: field "version" is missing`},
		{"newer version", "version: 2\nrenames: []\n", "bad.yaml:1:10: version 2 is not supported"},
		{"unknown top-level field", "version: 1\nrenames: []\nrenamez: []\n", `bad.yaml:3:1: rename map: unknown field "renamez"`},
		{"unknown rename field", head + "  - from: a\n    to: b\n    partition: 3\n", `bad.yaml:5:5: renames[0]: unknown field "partition"`},
		{"missing to", head + "  - from: a\n", `bad.yaml:3:5: renames[0]: field "to" is missing`},
		{"illegal character", head + "  - from: a\n    to: huleedu/x\n", `bad.yaml:4:9: renames[0].to: topic name "huleedu/x" has '/' at position 8`},
		{"name too long", head + "  - from: a\n    to: " + strings.Repeat("x", 250) + "\n", "bad.yaml:4:9: renames[0].to: topic name is 250 characters long, Kafka allows at most 249"},
		{"dot-dot name", head + "  - from: ..\n    to: b\n", `bad.yaml:3:11: renames[0].from: topic name ".." is not allowed by Kafka`},
		{"duplicate from", head + "  - from: a\n    to: b\n  - from: a\n    to: c\n", `bad.yaml:5:11: renames[1].from: topic "a" is already renamed at line 3`},
		{"duplicate to", head + "  - from: a\n    to: c\n  - from: b\n    to: c\n", `bad.yaml:6:9: renames[1].to: topic "c" is already the target of the rename at line 4`},
		{"same from and to", head + "  - from: a\n    to: a\n", `bad.yaml:4:9: renames[0]: from and to are the same topic "a"`},
		{"bad strategy", head + "  - from: a\n    to: b\n    strategy: rename\n", `bad.yaml:5:15: renames[0].strategy: "rename" is not a strategy (use dual, swap or hop)`},
		{"bad partitions", head + "  - from: a\n    to: b\n    partitions: 0\n", `bad.yaml:5:17: renames[0].partitions must be a whole number of at least 1, not "0"`},
		{"bad start", head + "  - from: a\n    to: b\n    start: yesterday\n", `bad.yaml:5:12: renames[0].start: "yesterday" is not earliest, latest or an RFC 3339 time`},
		{"bad window", "version: 1\nwindow: a month\nrenames: []\n", `bad.yaml:2:9: window: "a month" is not a duration such as 720h or 30d`},
		{"negative window", "version: 1\nwindow: -1h\nrenames: []\n", `bad.yaml:2:9: window: "-1h" must be longer than zero`},
		{"bad regexp", "version: 1\nnaming:\n  command_pattern: '(['\nrenames: []\n", "bad.yaml:3:20: naming.command_pattern: invalid regular expression"},
		{"bad json path", "version: 1\npartition_keys:\n  batch: 'data..x'\nrenames: []\n", `bad.yaml:3:10: partition_keys.batch: "data..x" is not a JSON path`},
		{"repeated key", "version: 1\nversion: 1\nrenames: []\n", `bad.yaml:2:1: rename map: field "version" is repeated`},
		{"unknown event", "version: 1\nevents:\n  E1: a\nrenames:\n  - {event: E9, from: a, to: b}\n", `bad.yaml:5:13: renames[0].event: "E9" is not in the events list`},
		{"event on another topic", "version: 1\nevents:\n  E1: x\nrenames:\n  - {event: E1, from: a, to: b}\n", `bad.yaml:5:13: renames[0].event: events maps E1 to "x", but this rename is from "a"`},
		{"dual event unknown", "version: 1\nevents:\n  E1: a\nrenames: []\ndual_events:\n  - {thin: E1, rich: E7}\n", `bad.yaml:6:22: dual_events[0].rich: "E7" is not in the events list`},
		{"bad config name", head + "  - from: a\n    to: b\n    configs: {'Retention MS': 1}\n", `bad.yaml:5:15: renames[0].configs: "Retention MS" is not a topic config name`},
		{"bad header mode", head + "  - from: a\n    to: b\n    headers: all\n", `bad.yaml:5:14: renames[0].headers: "all" is not a header mode (use faithful`},
		{"bad map header mode", "version: 1\nheaders: rich\nrenames: []\n", `bad.yaml:2:10: headers: "rich" is not a header mode`},
		{"two documents", "version: 1\nrenames: []\n---\nversion: 1\n", "bad.yaml:3:1: a rename map is one YAML document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRenameMap("bad.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			var merrs MapErrors
			if !errors.As(err, &merrs) {
				t.Fatalf("error %T is not MapErrors: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

// TestParseRenameMapHeaders: copies are faithful unless the map or the
// entry asks for enrich; an entry's mode wins over the map's; both legs of
// a hop inherit the entry's.
func TestParseRenameMapHeaders(t *testing.T) {
	modes := func(src string) []Headers {
		t.Helper()
		m, err := ParseRenameMap("h.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var out []Headers
		for _, r := range m.Renames {
			out = append(out, r.Headers)
		}
		return out
	}
	entries := "renames:\n  - {from: a, to: b}\n  - {from: c, to: d, headers: enrich}\n  - {from: e, to: f, headers: faithful}\n  - {from: g_h.v1, to: g.h.v1, strategy: hop, headers: enrich}\n"
	for _, tc := range []struct {
		top  string
		want []Headers
	}{
		{"", []Headers{HeadersFaithful, HeadersEnrich, HeadersFaithful, HeadersEnrich, HeadersEnrich}},
		{"headers: faithful\n", []Headers{HeadersFaithful, HeadersEnrich, HeadersFaithful, HeadersEnrich, HeadersEnrich}},
		{"headers: enrich\n", []Headers{HeadersEnrich, HeadersEnrich, HeadersFaithful, HeadersEnrich, HeadersEnrich}},
	} {
		got := modes("version: 1\n" + tc.top + entries)
		if !slices.Equal(got, tc.want) {
			t.Errorf("map with %q: modes %v, want %v", tc.top, got, tc.want)
		}
	}
}

func TestParseRenameMapReportsEveryProblem(t *testing.T) {
	src := "version: 1\nrenames:\n  - from: a b\n    to: c\n  - from: d\n    to: 'e?'\n"
	_, err := ParseRenameMap("m.yaml", []byte(src))
	var merrs MapErrors
	if !errors.As(err, &merrs) || len(merrs) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if merrs[0].Line != 3 || merrs[1].Line != 6 {
		t.Errorf("lines = %d, %d; want 3, 6", merrs[0].Line, merrs[1].Line)
	}
}

func TestLoadRenameMapMissingFile(t *testing.T) {
	_, err := LoadRenameMap("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error naming the file", err)
	}
}

// TestShippedRenameMap checks the map the repository ships against the
// fixture of HuleEdu's real topics and the seed's renames.
func TestShippedRenameMap(t *testing.T) {
	m, err := LoadRenameMap("../rename-map.yaml")
	if err != nil {
		t.Fatalf("shipped map: %v", err)
	}
	fixture := readTopicFixture(t)
	if len(fixture) != 69 {
		t.Fatalf("fixture has %d events, want 69", len(fixture))
	}
	if len(m.Events) != 71 {
		t.Errorf("map lists %d events, want all 71 of the enum", len(m.Events))
	}
	var withoutTopic []string
	for _, e := range m.Events {
		if e.Topic == "" {
			withoutTopic = append(withoutTopic, e.Name)
			continue
		}
		if fixture[e.Name] != e.Topic {
			t.Errorf("event %s: map says %q, fixture says %q", e.Name, e.Topic, fixture[e.Name])
		}
	}
	if strings.Join(withoutTopic, ",") != "ESSAY_AIFEEDBACK_COMPLETED,ESSAY_EDITOR_REVISION_COMPLETED" {
		t.Errorf("events without topic = %v", withoutTopic)
	}
	if len(m.Renames) != 11 {
		t.Errorf("map has %d renames, want the seed's 11", len(m.Renames))
	}
	colliding := 0
	for _, r := range m.Renames {
		if fixture[r.Event] != r.From {
			t.Errorf("rename %s: from %q is not the event's topic %q", r.Event, r.From, fixture[r.Event])
		}
		if Collide(r.From, r.To) {
			colliding++
			if r.Strategy != StrategySwap {
				t.Errorf("rename %s → %s collides but uses strategy %s", r.From, r.To, r.Strategy)
			}
		}
	}
	if colliding != 9 {
		t.Errorf("%d renames collide, want the 9 of the seed", colliding)
	}
	if m.Naming == nil || m.Naming.Prefix != "huleedu." || !m.Naming.NoUnderscores || m.Naming.CommandPattern == nil || m.Naming.VersionSuffix == nil {
		t.Errorf("naming rules = %+v", m.Naming)
	}
	if len(m.PartitionKeys) == 0 || m.PartitionKeys[0].Paths[0] != "data.batch_id" {
		t.Errorf("partition keys = %+v", m.PartitionKeys)
	}
}

func readTopicFixture(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../testdata/huleedu-topics.tsv")
	if err != nil {
		t.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "event\t") || line == "" {
			continue
		}
		ev, topic, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("fixture line %q has no tab", line)
		}
		out[ev] = topic
	}
	return out
}

func TestCollide(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"huleedu.email.delivery_failed.v1", "huleedu.email.delivery.failed.v1", true},
		{"a.b.c", "a.b_c", true},
		{"a.b.c", "a.b.c", false},
		{"a.b.c", "a.b.d", false},
		{"huleedu.llm_provider.request_started.v1", "huleedu.llm.provider.request.started.v1", true},
	}
	for _, c := range cases {
		if got := Collide(c.a, c.b); got != c.want {
			t.Errorf("Collide(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func FuzzParseRenameMap(f *testing.F) {
	if data, err := os.ReadFile("../rename-map.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("version: 1\nrenames:\n  - from: a\n    to: b\n"))
	f.Add([]byte("version: 1\nnaming: {prefix: x., version_suffix: '^v[0-9]+$'}\npartition_keys: {a: [b.c]}\nrenames: []\nevents: {E: ~}\ndual_events: [{thin: E, rich: E}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *RenameMap
		var err error
		done := make(chan struct{})
		go func() { m, err = ParseRenameMap("fuzz.yaml", data); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("ParseRenameMap hangs on %q", data)
		}
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
		if err != nil {
			var merrs MapErrors
			if !errors.As(err, &merrs) || len(merrs) == 0 {
				t.Fatalf("error is not a non-empty MapErrors: %v", err)
			}
		}
	})
}
