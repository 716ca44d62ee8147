package plan

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Check returns every way topic breaks the naming rules, one sentence
// each; nil when it follows them. A nil *NamingRules enforces nothing.
func (r *NamingRules) Check(topic string) []string {
	if r == nil {
		return nil
	}
	var out []string
	if r.Prefix != "" && !strings.HasPrefix(topic, r.Prefix) {
		out = append(out, fmt.Sprintf("does not start with %q", r.Prefix))
	}
	segments := strings.Split(topic, ".")
	if r.NoUnderscores {
		for _, s := range segments {
			if strings.Contains(s, "_") {
				out = append(out, fmt.Sprintf("segment %q has '_' (segments are separated by '.')", s))
			}
		}
	}
	if r.VersionSuffix != nil && !r.VersionSuffix.MatchString(segments[len(segments)-1]) {
		out = append(out, fmt.Sprintf("last segment %q is not a version (%s)", segments[len(segments)-1], r.VersionSuffix))
	}
	if r.CommandPattern != nil && IsCommandTopic(topic) && !r.CommandPattern.MatchString(topic) {
		out = append(out, fmt.Sprintf("is a command topic but does not match the command pattern %s", r.CommandPattern))
	}
	return out
}

// IsCommandTopic reports whether topic carries commands: one of its
// segments is "command" or "commands".
func IsCommandTopic(topic string) bool {
	for _, s := range strings.Split(topic, ".") {
		if s == "command" || s == "commands" {
			return true
		}
	}
	return false
}

// Domain returns the domain of topic: the one segment after the naming
// prefix (after the first segment when the map sets no prefix), as the
// seed's topic.split(".")[1]. It is "" when the topic has no such segment.
func (m *RenameMap) Domain(topic string) string {
	rest := topic
	if m.Naming != nil && m.Naming.Prefix != "" {
		if !strings.HasPrefix(topic, m.Naming.Prefix) {
			return ""
		}
		rest = strings.TrimPrefix(topic, m.Naming.Prefix)
		if !strings.HasSuffix(m.Naming.Prefix, ".") {
			_, rest, _ = strings.Cut(rest, ".")
		}
	} else {
		var ok bool
		if _, rest, ok = strings.Cut(topic, "."); !ok {
			return ""
		}
	}
	domain, _, _ := strings.Cut(rest, ".")
	return domain
}

// Contract returns the partition-key contract of a domain.
func (m *RenameMap) Contract(domain string) (PartitionKeyContract, bool) {
	for _, c := range m.PartitionKeys {
		if c.Domain == domain {
			return c, true
		}
	}
	return PartitionKeyContract{}, false
}

var versionSegmentRE = regexp.MustCompile(`^v(\d+)$`)

// BumpVersion returns topic with its version suffix raised by one
// (huleedu.x.v1 → huleedu.x.v2), or "" when it ends in no version.
func BumpVersion(topic string) string {
	i := strings.LastIndexByte(topic, '.')
	m := versionSegmentRE.FindStringSubmatch(topic[i+1:])
	if m == nil {
		return ""
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return ""
	}
	return topic[:i+1] + "v" + strconv.Itoa(n+1)
}

// StagingPrefix starts the name of every swap staging topic.
const StagingPrefix = "migrator.staging."

// StagingTopic is the deterministic name of the staging topic a swap copies
// through: "migrator.staging." + the new name. No HuleEdu topic starts with
// "migrator" so it collides with nothing; plan checks that anyway.
func StagingTopic(to string) string { return StagingPrefix + to }

// DLQTopic is where the bridge puts records the target refuses for good:
// the seed's "<topic>.dlq.v1".
func DLQTopic(to string) string { return to + ".dlq.v1" }
