// Package plan reads the rename map and works out what a migration will do:
// it loads and validates the map, applies the naming rules, diffs the map
// against a snapshot of the cluster (collisions, chains, partitions,
// configs, ACLs) and renders lint findings and the event catalog. It reads
// the cluster and never changes it, and it keeps no state: carrying a plan
// out is package lifecycle's job.
package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MapVersion is the rename-map schema version this migrator reads.
const MapVersion = 1

// DefaultWindow is the transition window when the map sets none: 30 days.
const DefaultWindow = 720 * time.Hour

// Strategy is how a rename moves traffic from the old topic to the new one.
type Strategy string

const (
	// StrategyDual keeps both topics alive for the whole window, bridged
	// old → new. It is the default.
	StrategyDual Strategy = "dual"
	// StrategySwap is for names Kafka refuses to run side by side ('.'
	// against '_'): the data moves through a staging topic and the old
	// topic is replaced in one short stop.
	StrategySwap Strategy = "swap"
	// StrategyHop is the other way for colliding names: two dual renames
	// through an interim name that collides with neither, old → interim
	// and, once the old topic is retired, interim → new. Clients move
	// twice; nobody stops. The map's entry becomes two Renames (see Hop).
	StrategyHop Strategy = "hop"
)

// Headers is what the bridge does to a copy's headers.
type Headers string

const (
	// HeadersFaithful copies the source record's headers as they are and
	// adds only X-Migrator-Origin, the provenance offset translation and
	// loop prevention need. It is the default.
	HeadersFaithful Headers = "faithful"
	// HeadersEnrich also adds each of the six standard X-* headers of the
	// HuleEdu contract (correlation id, idempotency key, original
	// timestamp, retry count, max retries, backoff) a record lacks. It
	// costs the bridge about a third of its CPU per record.
	HeadersEnrich Headers = "enrich"
)

// Hop says which leg of a `strategy: hop` entry a Rename is.
type Hop struct {
	// Leg is 1 for Old → Interim, 2 for Interim → New.
	Leg int
	// Old, Interim and New are the entry's from, interim and to topics.
	Old, Interim, New string
	// Window is the entry's hop_window: how long leg 1 keeps the old name
	// before it may be retired; 0 means the map's window.
	Window time.Duration
}

// HopInterimSegment is the segment the planner inserts into the new name
// to name a hop's interim topic (huleedu.a.b.v1 → huleedu.a.b.hop.v1).
const HopInterimSegment = "hop"

// Position is a place in the map file, 1-based.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// RenameMap is a parsed rename-map.yaml.
type RenameMap struct {
	// Path is the file the map was read from, for messages.
	Path string
	// Raw is the file's content, which the plan id hashes.
	Raw     []byte
	Version int
	// Naming holds the rules topic names must follow; nil when the map
	// sets none, and then no naming rule is enforced.
	Naming *NamingRules
	// PartitionKeys are the partition-key contracts, in file order.
	PartitionKeys []PartitionKeyContract
	// Window is how long both names keep working (default 720h).
	Window time.Duration
	// Headers is the renames' header mode when an entry sets none
	// (default faithful).
	Headers Headers
	Renames []Rename
	// Events is the full event → current topic list, in file order; an
	// event without a topic has an empty Topic.
	Events     []Event
	DualEvents []DualEvent
}

// NamingRules are the rules new topic names must follow. A rule left empty
// is not enforced.
type NamingRules struct {
	// Prefix every topic name must start with, e.g. "huleedu.".
	Prefix string
	// VersionSuffix matches the last dot-separated segment, e.g. ^v[0-9]+$.
	VersionSuffix *regexp.Regexp
	// NoUnderscores forbids '_' anywhere in the name.
	NoUnderscores bool
	// CommandPattern is what every command topic (one with a segment
	// "command" or "commands") must match in full.
	CommandPattern *regexp.Regexp
	Pos            Position
}

// PartitionKeyContract says where a domain's events keep their partition
// key: JSON paths into the event envelope, tried in order.
type PartitionKeyContract struct {
	Domain string
	Paths  []string
	Pos    Position
}

// Rename is one old → new topic rename.
type Rename struct {
	Event    string
	From     string
	To       string
	Strategy Strategy
	// Partitions overrides the target's partition count; 0 means "as the
	// source".
	Partitions int
	// Configs are topic config overrides applied on top of the source's.
	Configs map[string]string
	// Start is where the bridge starts copying: "earliest" (default),
	// "latest" or an RFC 3339 timestamp.
	Start string
	// Headers is what the bridge does to the copies' headers: the entry's
	// `headers`, else the map's, else faithful.
	Headers Headers
	// Hop is set on the two legs a `strategy: hop` entry becomes; nil
	// for every other rename.
	Hop *Hop
	Pos Position
}

// Event is one entry of the event catalog.
type Event struct {
	Name  string
	Topic string
	Pos   Position
}

// DualEvent is a thin (state) / rich (data) event pair.
type DualEvent struct {
	Thin    string
	Rich    string
	Purpose string
	Pos     Position
}

// MapError is one problem in a rename map, with where it is.
type MapError struct {
	File string
	Position
	Msg string
}

func (e *MapError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// MapErrors is every problem found in one map, in file order.
type MapErrors []*MapError

func (es MapErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// LoadRenameMap reads and validates the rename map at path.
func LoadRenameMap(path string) (*RenameMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rename map: %w", err)
	}
	return ParseRenameMap(path, data)
}

// ParseRenameMap parses and validates a rename map; name is used in
// messages. All problems are reported at once as MapErrors.
func ParseRenameMap(name string, data []byte) (*RenameMap, error) {
	p := &mapParser{file: name, m: &RenameMap{Path: name, Raw: data, Window: DefaultWindow}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, MapErrors{{File: name, Position: Position{1, 1}, Msg: "the file is empty; a rename map needs at least version and renames"}}
		}
		return nil, MapErrors{{File: name, Position: yamlErrorPosition(err), Msg: "invalid YAML: " + yamlLineRE.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "a rename map is one YAML document; found a second one")
	}
	p.parseRoot(&doc)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.m, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// yamlErrorPosition digs the line out of a yaml.v3 syntax error, which
// carries no column.
func yamlErrorPosition(err error) Position {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			return Position{Line: n, Column: 1}
		}
	}
	return Position{Line: 1, Column: 1}
}

type mapParser struct {
	file string
	m    *RenameMap
	errs MapErrors
}

func pos(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

func (p *mapParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &MapError{File: p.file, Position: pos(n), Msg: fmt.Sprintf(format, args...)})
}

// field is one key of a YAML mapping with its value node.
type field struct {
	key   *yaml.Node
	value *yaml.Node
}

// fields returns the keys of mapping node n in order, reporting keys that
// are not in allowed, repeated keys and keys that are not strings.
func (p *mapParser) fields(n *yaml.Node, what string, allowed ...string) map[string]field {
	out := map[string]field{}
	if !p.isKind(n, yaml.MappingNode, what, "a mapping") {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, "%s: field %q is repeated", what, k.Value)
			continue
		}
		if allowed != nil && !contains(allowed, k.Value) {
			p.errorf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = field{key: k, value: v}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var kindNames = map[yaml.Kind]string{
	yaml.DocumentNode: "a document", yaml.SequenceNode: "a list",
	yaml.MappingNode: "a mapping", yaml.ScalarNode: "a value", yaml.AliasNode: "an alias",
}

func (p *mapParser) isKind(n *yaml.Node, kind yaml.Kind, what, want string) bool {
	if n.Kind == kind {
		return true
	}
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "%s: YAML aliases are not supported in a rename map", what)
		return false
	}
	p.errorf(n, "%s must be %s, not %s", what, want, kindNames[n.Kind])
	return false
}

// str returns the string value of scalar n.
func (p *mapParser) str(n *yaml.Node, what string) (string, bool) {
	if !p.isKind(n, yaml.ScalarNode, what, "a string") {
		return "", false
	}
	if n.Tag == "!!null" {
		p.errorf(n, "%s is empty", what)
		return "", false
	}
	return n.Value, true
}

func (p *mapParser) parseRoot(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errorf(doc, "the file is empty; a rename map needs at least version and renames")
		return
	}
	root := doc.Content[0]
	f := p.fields(root, "rename map", "version", "naming", "partition_keys", "window", "headers", "renames", "events", "dual_events")
	if root.Kind != yaml.MappingNode {
		return
	}
	if v, ok := f["version"]; ok {
		p.parseVersion(v.value)
	} else {
		p.errorf(root, "rename map: field \"version\" is missing (this migrator reads version %d)", MapVersion)
	}
	if v, ok := f["naming"]; ok {
		p.parseNaming(v.value)
	}
	if v, ok := f["partition_keys"]; ok {
		p.parsePartitionKeys(v.value)
	}
	if v, ok := f["window"]; ok {
		p.parseWindow(v.value)
	}
	p.m.Headers = HeadersFaithful
	if v, ok := f["headers"]; ok {
		if h, ok := p.headers(v.value, "headers"); ok {
			p.m.Headers = h
		}
	}
	if v, ok := f["events"]; ok {
		p.parseEvents(v.value)
	}
	if v, ok := f["renames"]; ok {
		p.parseRenames(v.value)
	} else {
		p.errorf(root, "rename map: field \"renames\" is missing")
	}
	if v, ok := f["dual_events"]; ok {
		p.parseDualEvents(v.value)
	}
}

func (p *mapParser) parseVersion(n *yaml.Node) {
	s, ok := p.str(n, "version")
	if !ok {
		return
	}
	v, err := strconv.Atoi(s)
	switch {
	case err != nil:
		p.errorf(n, "version must be a whole number, not %q", s)
	case v != MapVersion:
		p.errorf(n, "version %d is not supported: this migrator reads version %d", v, MapVersion)
	default:
		p.m.Version = v
	}
}

func (p *mapParser) parseNaming(n *yaml.Node) {
	f := p.fields(n, "naming", "prefix", "version_suffix", "no_underscores", "command_pattern")
	if n.Kind != yaml.MappingNode {
		return
	}
	rules := &NamingRules{Pos: pos(n)}
	if v, ok := f["prefix"]; ok {
		if s, ok := p.str(v.value, "naming.prefix"); ok {
			if err := validateNameFragment(s); err != nil {
				p.errorf(v.value, "naming.prefix: %v", err)
			}
			rules.Prefix = s
		}
	}
	if v, ok := f["version_suffix"]; ok {
		rules.VersionSuffix = p.regexp(v.value, "naming.version_suffix")
	}
	if v, ok := f["no_underscores"]; ok {
		rules.NoUnderscores = p.boolean(v.value, "naming.no_underscores")
	}
	if v, ok := f["command_pattern"]; ok {
		rules.CommandPattern = p.regexp(v.value, "naming.command_pattern")
	}
	p.m.Naming = rules
}

// validateNameFragment checks that s could be part of a topic name.
func validateNameFragment(s string) error {
	for i, r := range s {
		if !isTopicRune(r) {
			return fmt.Errorf("%q has %q at position %d; topic names allow only [a-zA-Z0-9._-]", s, r, i+1)
		}
	}
	return nil
}

func (p *mapParser) regexp(n *yaml.Node, what string) *regexp.Regexp {
	s, ok := p.str(n, what)
	if !ok {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		p.errorf(n, "%s: invalid regular expression: %v", what, err)
		return nil
	}
	return re
}

func (p *mapParser) boolean(n *yaml.Node, what string) bool {
	s, ok := p.str(n, what)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.errorf(n, "%s must be true or false, not %q", what, s)
	}
	return b
}

var jsonPathRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

func (p *mapParser) parsePartitionKeys(n *yaml.Node) {
	if !p.isKind(n, yaml.MappingNode, "partition_keys", "a mapping of domain to JSON path") {
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		domain, ok := p.str(k, "partition_keys domain")
		if !ok {
			continue
		}
		if seen[domain] {
			p.errorf(k, "partition_keys: domain %q is listed twice", domain)
			continue
		}
		seen[domain] = true
		if err := validateNameFragment(domain); err != nil || domain == "" {
			p.errorf(k, "partition_keys: domain %q is not a topic name segment", domain)
			continue
		}
		what := fmt.Sprintf("partition_keys.%s", domain)
		var paths []string
		switch v.Kind {
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				p.errorf(v, "%s: the list of JSON paths is empty", what)
			}
			for _, item := range v.Content {
				if s, ok := p.jsonPath(item, what); ok {
					paths = append(paths, s)
				}
			}
		default:
			if s, ok := p.jsonPath(v, what); ok {
				paths = append(paths, s)
			}
		}
		if len(paths) > 0 {
			p.m.PartitionKeys = append(p.m.PartitionKeys, PartitionKeyContract{Domain: domain, Paths: paths, Pos: pos(k)})
		}
	}
}

func (p *mapParser) jsonPath(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	s = strings.TrimPrefix(s, "$.")
	if !jsonPathRE.MatchString(s) {
		p.errorf(n, "%s: %q is not a JSON path such as data.batch_id", what, s)
		return "", false
	}
	return s, true
}

func (p *mapParser) parseWindow(n *yaml.Node) {
	s, ok := p.str(n, "window")
	if !ok {
		return
	}
	d, err := ParseWindow(s)
	if err != nil {
		p.errorf(n, "window: %v", err)
		return
	}
	p.m.Window = d
}

// headers reads a header mode: faithful or enrich.
func (p *mapParser) headers(n *yaml.Node, what string) (Headers, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	switch h := Headers(s); h {
	case HeadersFaithful, HeadersEnrich:
		return h, true
	}
	p.errorf(n, "%s: %q is not a header mode (use faithful: the source's headers plus X-Migrator-Origin; or enrich: also the six standard X-* headers a record lacks)", what, s)
	return "", false
}

// ParseWindow parses a transition window: a Go duration ("720h") or a
// whole number of days ("30d"). It must be positive.
func ParseWindow(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be longer than zero", s)
	}
	return d, nil
}

func (p *mapParser) topicName(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	if err := ValidateTopicName(s); err != nil {
		p.errorf(n, "%s: %v", what, err)
		return "", false
	}
	return s, true
}

func (p *mapParser) parseEvents(n *yaml.Node) {
	if !p.isKind(n, yaml.MappingNode, "events", "a mapping of event name to topic") {
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := p.str(k, "events key")
		if !ok {
			continue
		}
		if seen[name] {
			p.errorf(k, "events: event %q is listed twice", name)
			continue
		}
		seen[name] = true
		ev := Event{Name: name, Pos: pos(k)}
		if !(v.Kind == yaml.ScalarNode && (v.Tag == "!!null" || v.Value == "")) {
			topic, ok := p.topicName(v, "events."+name)
			if !ok {
				continue
			}
			ev.Topic = topic
		}
		p.m.Events = append(p.m.Events, ev)
	}
}

func (p *mapParser) parseRenames(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "renames:" with nothing under it: no renames yet.
	}
	if !p.isKind(n, yaml.SequenceNode, "renames", "a list") {
		return
	}
	events := map[string]Event{}
	for _, e := range p.m.Events {
		events[e.Name] = e
	}
	fromAt := map[string]Position{}
	toAt := map[string]Position{}
	var hops []*yaml.Node // the from node of every hop entry, in order
	for i, item := range n.Content {
		what := fmt.Sprintf("renames[%d]", i)
		f := p.fields(item, what, "event", "from", "to", "strategy", "partitions", "configs", "start", "headers", "interim", "hop_window")
		if item.Kind != yaml.MappingNode {
			continue
		}
		r := Rename{Strategy: StrategyDual, Start: "earliest", Headers: p.m.Headers, Pos: pos(item)}
		ok := true
		for _, req := range []string{"from", "to"} {
			if _, has := f[req]; !has {
				p.errorf(item, "%s: field %q is missing", what, req)
				ok = false
			}
		}
		if v, has := f["from"]; has {
			if r.From, has = p.topicName(v.value, what+".from"); has {
				if at, dup := fromAt[r.From]; dup {
					p.errorf(v.value, "%s.from: topic %q is already renamed at line %d", what, r.From, at.Line)
				}
				fromAt[r.From] = pos(v.value)
			}
		}
		if v, has := f["to"]; has {
			if r.To, has = p.topicName(v.value, what+".to"); has {
				if at, dup := toAt[r.To]; dup {
					p.errorf(v.value, "%s.to: topic %q is already the target of the rename at line %d", what, r.To, at.Line)
				}
				toAt[r.To] = pos(v.value)
				if r.To == r.From {
					p.errorf(v.value, "%s: from and to are the same topic %q", what, r.To)
				}
			}
		}
		if v, has := f["event"]; has {
			if s, has := p.str(v.value, what+".event"); has {
				r.Event = s
				if e, known := events[s]; len(events) > 0 && !known {
					p.errorf(v.value, "%s.event: %q is not in the events list", what, s)
				} else if known && e.Topic != "" && r.From != "" && e.Topic != r.From {
					p.errorf(v.value, "%s.event: events maps %s to %q, but this rename is from %q", what, s, e.Topic, r.From)
				}
			}
		}
		if v, has := f["strategy"]; has {
			if s, has := p.str(v.value, what+".strategy"); has {
				switch Strategy(s) {
				case StrategyDual, StrategySwap, StrategyHop:
					r.Strategy = Strategy(s)
				default:
					p.errorf(v.value, "%s.strategy: %q is not a strategy (use dual, swap or hop)", what, s)
				}
			}
		}
		if v, has := f["partitions"]; has {
			if s, has := p.str(v.value, what+".partitions"); has {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					p.errorf(v.value, "%s.partitions must be a whole number of at least 1, not %q", what, s)
				}
				r.Partitions = n
			}
		}
		if v, has := f["configs"]; has {
			r.Configs = p.parseConfigs(v.value, what+".configs")
		}
		if v, has := f["start"]; has {
			if s, has := p.str(v.value, what+".start"); has {
				if err := ValidateStart(s); err != nil {
					p.errorf(v.value, "%s.start: %v", what, err)
				}
				r.Start = s
			}
		}
		if v, has := f["headers"]; has {
			if h, ok := p.headers(v.value, what+".headers"); ok {
				r.Headers = h
			}
		}
		hop := p.parseHop(f, &r, what)
		if !ok {
			continue
		}
		if hop == nil {
			p.m.Renames = append(p.m.Renames, r)
			continue
		}
		leg1, leg2 := r, r
		h1, h2 := *hop, *hop
		h1.Leg, h2.Leg = 1, 2
		leg1.To, leg1.Hop = hop.Interim, &h1
		leg2.From, leg2.Hop, leg2.Start = hop.Interim, &h2, "earliest"
		p.m.Renames = append(p.m.Renames, leg1, leg2)
		hops = append(hops, f["from"].value)
	}
	p.checkInterims(hops)
}

// parseHop reads the hop fields of a rename entry (interim, hop_window),
// which only `strategy: hop` may have, and returns the hop, nil for
// another strategy.
func (p *mapParser) parseHop(f map[string]field, r *Rename, what string) *Hop {
	if r.Strategy != StrategyHop {
		for _, k := range []string{"interim", "hop_window"} {
			if v, has := f[k]; has {
				p.errorf(v.key, "%s.%s is only for strategy hop", what, k)
			}
		}
		return nil
	}
	h := &Hop{Old: r.From, New: r.To}
	if v, has := f["hop_window"]; has {
		if s, has := p.str(v.value, what+".hop_window"); has {
			d, err := ParseWindow(s)
			switch {
			case err != nil:
				p.errorf(v.value, "%s.hop_window: %v", what, err)
			case d > p.m.Window:
				p.errorf(v.value, "%s.hop_window: %s is longer than the map's window %s; a hop window can only be shorter", what, s, p.m.Window)
			default:
				h.Window = d
			}
		}
	}
	if v, has := f["interim"]; has {
		if s, has := p.topicName(v.value, what+".interim"); has {
			h.Interim = s
			if s == r.From || s == r.To || Collide(s, r.From) || Collide(s, r.To) {
				p.errorf(v.value, "%s.interim: %q must differ from, and not collide with, %s and %s", what, s, r.From, r.To)
			}
		}
	} else if r.To != "" {
		h.Interim = InterimTopic(r.To, p.m.Naming)
	}
	if r.From == "" || r.To == "" || h.Interim == "" {
		return nil
	}
	return h
}

// checkInterims reports interim topics that are also another rename's
// topic or collide with one: the interim must be the hop's own.
func (p *mapParser) checkInterims(at []*yaml.Node) {
	i := 0
	for _, r := range p.m.Renames {
		if r.Hop == nil || r.Hop.Leg != 1 {
			continue
		}
		node := at[i]
		i++
		for _, o := range p.m.Renames {
			if o.Hop != nil && o.Hop.Old == r.Hop.Old {
				continue
			}
			for _, name := range []string{o.From, o.To} {
				if name == r.Hop.Interim || Collide(name, r.Hop.Interim) {
					p.errorf(node, "the interim topic %s of the hop from %s is also (or collides with) %s of another rename; set `interim:` to another name", r.Hop.Interim, r.Hop.Old, name)
				}
			}
		}
	}
}

// InterimTopic is the interim name the planner gives a hop to new: new
// with the segment "hop" inserted before its last segment, or, when the
// naming rules refuse that, before an earlier one (a command topic keeps
// its ".command.vN" end); new + "-hop" when no place passes.
func InterimTopic(to string, rules *NamingRules) string {
	segs := strings.Split(to, ".")
	for i := len(segs) - 1; i >= 1; i-- {
		cand := strings.Join(append(append(slices.Clone(segs[:i]), HopInterimSegment), segs[i:]...), ".")
		if len(cand) <= MaxTopicNameLength && len(rules.Check(cand)) == 0 {
			return cand
		}
	}
	return to + "-" + HopInterimSegment
}

// WindowOf is how long rename r keeps both its names: the hop_window of a
// hop's first leg when set, else the map's window.
func (m *RenameMap) WindowOf(r Rename) time.Duration {
	if r.Hop != nil && r.Hop.Leg == 1 && r.Hop.Window > 0 {
		return r.Hop.Window
	}
	return m.Window
}

// HopLeg returns leg (1 or 2) of the hop whose other leg is r.
func (m *RenameMap) HopLeg(r Rename, leg int) (Rename, bool) {
	if r.Hop == nil {
		return Rename{}, false
	}
	for _, o := range m.Renames {
		if o.Hop != nil && o.Hop.Old == r.Hop.Old && o.Hop.Leg == leg {
			return o, true
		}
	}
	return Rename{}, false
}

// ValidateStart checks a bridge start position: "earliest", "latest" or an
// RFC 3339 timestamp.
func ValidateStart(s string) error {
	if s == "earliest" || s == "latest" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("%q is not earliest, latest or an RFC 3339 time such as 2026-11-01T00:00:00Z", s)
	}
	return nil
}

var configNameRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)

func (p *mapParser) parseConfigs(n *yaml.Node, what string) map[string]string {
	if !p.isKind(n, yaml.MappingNode, what, "a mapping of config name to value") {
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := p.str(k, what+" key")
		if !ok {
			continue
		}
		if !configNameRE.MatchString(name) {
			p.errorf(k, "%s: %q is not a topic config name such as retention.ms", what, name)
			continue
		}
		if _, dup := out[name]; dup {
			p.errorf(k, "%s: config %q is set twice", what, name)
			continue
		}
		if val, ok := p.str(v, what+"."+name); ok {
			out[name] = val
		}
	}
	return out
}

func (p *mapParser) parseDualEvents(n *yaml.Node) {
	if !p.isKind(n, yaml.SequenceNode, "dual_events", "a list") {
		return
	}
	known := map[string]bool{}
	for _, e := range p.m.Events {
		known[e.Name] = true
	}
	for i, item := range n.Content {
		what := fmt.Sprintf("dual_events[%d]", i)
		f := p.fields(item, what, "thin", "rich", "purpose")
		if item.Kind != yaml.MappingNode {
			continue
		}
		d := DualEvent{Pos: pos(item)}
		ok := true
		for _, k := range []string{"thin", "rich"} {
			v, has := f[k]
			if !has {
				p.errorf(item, "%s: field %q is missing", what, k)
				ok = false
				continue
			}
			s, has := p.str(v.value, what+"."+k)
			if !has {
				ok = false
				continue
			}
			if len(known) > 0 && !known[s] {
				p.errorf(v.value, "%s.%s: %q is not in the events list", what, k, s)
			}
			if k == "thin" {
				d.Thin = s
			} else {
				d.Rich = s
			}
		}
		if v, has := f["purpose"]; has {
			d.Purpose, _ = p.str(v.value, what+".purpose")
		}
		if ok {
			p.m.DualEvents = append(p.m.DualEvents, d)
		}
	}
}
