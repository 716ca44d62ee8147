package plan

import (
	"fmt"
	"sort"
	"strings"
)

// Lint checks the seed's event contracts over the topics HuleEdu will have
// once the map's renames are done: every event has a topic, every name
// follows the naming rules (command pattern included), and every domain
// has a reachable partition-key contract; and the map's own errors
// (CheckMap: cycles, chains, colliding targets). topics are live topic
// names to check as well (lint --cluster); nil checks the map alone.
func Lint(m *RenameMap, topics []string) []Finding {
	final := map[string]bool{}
	if topics == nil {
		for _, e := range m.Events {
			if e.Topic != "" {
				final[m.NewName(e.Topic)] = true
			}
		}
		for _, r := range m.Renames {
			if r.Hop == nil || r.Hop.Leg == 2 {
				final[r.To] = true
			}
		}
	}
	for _, t := range topics {
		final[t] = true
	}
	names := make([]string, 0, len(final))
	for n := range final {
		names = append(names, n)
	}
	return append(CheckMap(m), lint(m, names, nil)...)
}

// NewName returns the name topic has after the map's renames.
func (m *RenameMap) NewName(topic string) string {
	for _, r := range m.Renames {
		if r.From == topic {
			if r.Hop != nil {
				return r.Hop.New
			}
			return r.To
		}
	}
	return topic
}

// isMigratorTopic reports whether the migrator itself made the topic: a
// swap staging topic or a target's dead-letter topic.
func (m *RenameMap) isMigratorTopic(topic string) bool {
	if strings.HasPrefix(topic, StagingPrefix) {
		return true
	}
	for _, r := range m.Renames {
		if topic == DLQTopic(r.To) || r.Hop != nil && topic == r.Hop.Interim {
			return true
		}
	}
	return false
}

// lint checks names against the naming rules and names plus extra (names
// checked elsewhere) against the partition-key contracts, and reports
// events without a topic.
func lint(m *RenameMap, names, extra []string) []Finding {
	var out []Finding
	for _, e := range m.Events {
		if e.Topic == "" {
			out = append(out, Finding{Severity: Warning, Code: "unmapped-event", Message: fmt.Sprintf("event %s has no topic.", e.Name), Fix: "give it a topic or delete it from the enum"})
		}
	}
	var kept []string
	for _, n := range names {
		if !m.isMigratorTopic(n) {
			kept = append(kept, n)
		}
	}
	sort.Strings(kept)
	for _, n := range kept {
		for _, v := range m.Naming.Check(n) {
			out = append(out, Finding{Severity: Warning, Code: "naming", Topic: n, Message: fmt.Sprintf("%s %s.", n, v), Fix: "add a rename for it to the map"})
		}
	}
	return append(out, contracts(m, append(kept, extra...))...)
}

// contracts checks the partition-key contracts against topics.
func contracts(m *RenameMap, topics []string) []Finding {
	if len(m.PartitionKeys) == 0 {
		return nil
	}
	var out []Finding
	byDomain := map[string][]string{}
	for _, t := range topics {
		if d := m.Domain(t); d != "" {
			byDomain[d] = append(byDomain[d], t)
		}
	}
	for _, c := range m.PartitionKeys {
		if !strings.Contains(c.Domain, ".") {
			continue
		}
		first, _, _ := strings.Cut(c.Domain, ".")
		example := ""
		if ts := byDomain[first]; len(ts) > 0 {
			sort.Strings(ts)
			example = fmt.Sprintf(" (the domain of %s is %q)", ts[0], first)
		}
		out = append(out, Finding{Severity: Warning, Code: "unreachable-contract", Topic: c.Domain,
			Message: fmt.Sprintf("the partition-key contract for %q can never apply: a domain is the one segment after the prefix%s.", c.Domain, example),
			Fix:     fmt.Sprintf("key the contract by %q", first)})
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		if _, ok := m.Contract(d); ok {
			continue
		}
		ts := byDomain[d]
		sort.Strings(ts)
		out = append(out, Finding{Severity: Warning, Code: "no-contract", Topic: d,
			Message: fmt.Sprintf("domain %q has no partition-key contract (%d topics, e.g. %s).", d, len(ts), ts[0]),
			Fix:     "add it under partition_keys"})
	}
	return out
}
