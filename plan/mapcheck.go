package plan

import (
	"fmt"

	"github.com/huleedu/topic-migrator/admin"
)

// CheckMap finds what is wrong with the map by itself, without a cluster:
// renames that form a cycle or a chain (a→b, b→c), and targets Kafka could
// not hold beside another target or beside one of the map's sources
// ('.' against '_'; a swap's own source excepted). The sources are taken
// to exist. Every finding is an error; plan finds the same ones, and more,
// against the live cluster.
func CheckMap(m *RenameMap) []Finding {
	snap := &admin.Snapshot{Topics: map[string]*admin.Topic{}}
	b := &builder{m: m, snap: snap, sources: map[string]int{}, targets: map[string]int{}}
	for i, r := range m.Renames {
		b.sources[r.From] = i
		b.targets[r.To] = i
		snap.Topics[r.From] = &admin.Topic{Name: r.From}
	}
	var out []Finding
	for _, r := range m.Renames {
		add := func(sev Severity, code, topic, fix, format string, args ...any) {
			if sev != Error {
				return
			}
			out = append(out, Finding{Severity: sev, Code: code, Topic: topic, Message: fmt.Sprintf("%s → %s: ", r.From, r.To) + fmt.Sprintf(format, args...), Fix: fix})
		}
		b.checkChains(r, add)
		b.checkCollisions(r, add)
	}
	return out
}
