package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/huleedu/topic-migrator/admin"
)

// Severity says whether a finding stops a rename.
type Severity string

const (
	// Error blocks the rename it concerns.
	Error Severity = "error"
	// Warning is worth reading; it blocks nothing.
	Warning Severity = "warning"
	// Info explains what will happen.
	Info Severity = "info"
)

// Finding is one thing plan noticed.
type Finding struct {
	Severity Severity `json:"severity"`
	// Code names the kind of finding, stable for scripts: source-missing,
	// target-drift, collision, chain, cycle, naming, partitions,
	// config-rejects-history, no-contract, unreachable-contract,
	// contract-change, ...
	Code    string `json:"code"`
	Topic   string `json:"topic,omitempty"`
	Message string `json:"message"`
	// Fix says how to get past it, when there is a way.
	Fix string `json:"fix,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s [%s] %s", f.Severity, f.Code, f.Message)
	if f.Fix != "" {
		s += " Fix: " + f.Fix
	}
	return s
}

// Action is what apply will do for a rename.
type Action string

const (
	// ActionCreate creates the target topic.
	ActionCreate Action = "create"
	// ActionCreateStaging creates a swap's staging topic.
	ActionCreateStaging Action = "create-staging"
	// ActionNone: the target (or staging topic) is already right.
	ActionNone Action = "none"
	// ActionBlocked: an error finding stops the rename.
	ActionBlocked Action = "blocked"
	// ActionWait: the second leg of a hop, which waits until the first
	// has retired the old topic (Kafka refuses the new name until then).
	ActionWait Action = "wait"
)

// ConfigDiff is one config that differs between what apply wants and
// what the cluster has.
type ConfigDiff struct {
	Key  string `json:"key"`
	Want string `json:"want"`
	Have string `json:"have"`
}

// RenamePlan is what apply would do for one rename, and why not.
type RenamePlan struct {
	Event    string   `json:"event,omitempty"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Strategy Strategy `json:"strategy"`
	Action   Action   `json:"action"`
	// Create is the topic apply creates (the target, or for a swap the
	// staging topic); nil when the source is missing.
	Create *admin.TopicSpec `json:"create,omitempty"`
	// ACLs are the source's literal ACLs, to be copied to the new topic.
	ACLs []admin.ACL `json:"acls,omitempty"`
	// Drift lists the differences of an existing target.
	Drift []ConfigDiff `json:"drift,omitempty"`
	// SourceRecords is the source's retained offset span.
	SourceRecords int64 `json:"source_records"`
	// Groups are the consumer groups with committed offsets on the source.
	Groups   []string  `json:"groups,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
	// Stop forecasts a swap's stop, when it was estimated.
	Stop *StopEstimate `json:"stop,omitempty"`
	// Hop is the leg (1 or 2) of a `strategy: hop` entry; 0 for others.
	Hop int `json:"hop,omitempty"`
}

// StopEstimate forecasts the stop of a swap: the bytes its staging → new
// copy moves divided by the copy throughput measured on the cluster.
type StopEstimate struct {
	Records int64 `json:"records"`
	// Bytes is Records times the average record size of a sample.
	Bytes int64 `json:"bytes"`
	// CopyBytesPerSecond is the measured copy throughput; 0 when not
	// measured.
	CopyBytesPerSecond float64 `json:"copy_bytes_per_second,omitempty"`
	// Copy is Bytes / CopyBytesPerSecond.
	Copy time.Duration `json:"copy_ns,omitempty"`
	// VerifyBytesPerSecond is the measured throughput of verifying the
	// probe copy against its source, in bytes of the topic per second;
	// 0 when not measured.
	VerifyBytesPerSecond float64 `json:"verify_bytes_per_second,omitempty"`
	// Verify is the verify inside the stop (staging against old; new is
	// verified against staging after the stop): Bytes /
	// VerifyBytesPerSecond.
	Verify time.Duration `json:"verify_ns,omitempty"`
	// VerifyRecords is how many records of the old topic that verify
	// compares: all of them, or, once a verify during the window
	// recorded staging's verified prefix (and its proofs still hold),
	// only those after it. VerifyFrom says which.
	VerifyRecords int64  `json:"verify_records"`
	VerifyFrom    string `json:"verify_from,omitempty"`
	// Fixed is what the stop's other steps take: the quiet check, the
	// drain of the bridge's lag (at the copy throughput), and the fence,
	// the old topic's delete, the new topic's create and the groups'
	// commits (three times the probe topic's create, timed just now).
	Fixed time.Duration `json:"fixed_ns,omitempty"`
	// Total is the expected stop: Copy + Verify + Fixed.
	Total time.Duration `json:"total_ns,omitempty"`
	// Measured says how the throughput was measured.
	Measured string `json:"measured"`
}

// Blocked reports whether an error finding stops the rename.
func (r *RenamePlan) Blocked() bool {
	for _, f := range r.Findings {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Plan is the whole migration as plan sees it.
type Plan struct {
	// ID is a hash of the map and of the cluster facts the plan used; a
	// saved plan whose ID no longer matches is refused by apply.
	ID      string       `json:"id"`
	MapPath string       `json:"map"`
	MadeAt  time.Time    `json:"made_at"`
	Renames []RenamePlan `json:"renames"`
	// Findings are the ones about the map and cluster as a whole: naming
	// of untouched topics, partition-key contracts, events without topics.
	Findings []Finding `json:"findings,omitempty"`
}

// Changes counts renames apply would change something for.
func (p *Plan) Changes() int {
	n := 0
	for _, r := range p.Renames {
		if r.Action == ActionCreate || r.Action == ActionCreateStaging {
			n++
		}
	}
	return n
}

// Waiting counts renames that wait for another (hop 2 of a hop).
func (p *Plan) Waiting() int {
	n := 0
	for _, r := range p.Renames {
		if r.Action == ActionWait {
			n++
		}
	}
	return n
}

// BlockedCount counts renames stopped by an error finding.
func (p *Plan) BlockedCount() int {
	n := 0
	for i := range p.Renames {
		if p.Renames[i].Blocked() {
			n++
		}
	}
	return n
}

// Rename returns the plan of the rename from a topic.
func (p *Plan) Rename(from string) *RenamePlan {
	for i := range p.Renames {
		if p.Renames[i].From == from {
			return &p.Renames[i]
		}
	}
	return nil
}

// Save writes the plan as JSON.
func (p *Plan) Save(path string) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}

// LoadPlan reads a plan saved by Save.
func LoadPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read saved plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("saved plan %s is not a plan: %w", path, err)
	}
	if p.ID == "" {
		return nil, fmt.Errorf("saved plan %s has no id", path)
	}
	return &p, nil
}

// Config keys plan checks.
const (
	cfgMaxMessageBytes   = "max.message.bytes"
	cfgTimestampBefore   = "message.timestamp.before.max.ms"
	cfgTimestampDiffMax  = "message.timestamp.difference.max.ms"
	cfgTimestampType     = "message.timestamp.type"
	cfgCleanupPolicy     = "cleanup.policy"
	cfgRetentionMs       = "retention.ms"
	logAppendTime        = "LogAppendTime"
	stagingNameMaxLength = MaxTopicNameLength
)

// Make describes the cluster (with the sources' offsets and every
// consumer group) and builds the plan.
func Make(ctx context.Context, cl *admin.Client, m *RenameMap) (*Plan, *admin.Snapshot, error) {
	var sources []string
	for _, r := range m.Renames {
		sources = append(sources, r.From)
	}
	snap, err := cl.Describe(ctx, admin.DescribeOptions{Deep: sources, Groups: true})
	if err != nil {
		return nil, nil, fmt.Errorf("describe cluster: %w", err)
	}
	return Build(m, snap, time.Now()), snap, nil
}

// Build works out what applying m to the cluster in snap would do. It
// reads nothing else and changes nothing. now is the time record ages are
// measured against.
func Build(m *RenameMap, snap *admin.Snapshot, now time.Time) *Plan {
	b := &builder{m: m, snap: snap, now: now, sources: map[string]int{}, targets: map[string]int{}}
	for i, r := range m.Renames {
		b.sources[r.From] = i
		b.targets[r.To] = i
	}
	p := &Plan{MapPath: m.Path, MadeAt: now.UTC()}
	for _, r := range m.Renames {
		p.Renames = append(p.Renames, b.rename(r))
	}
	p.Findings = b.global()
	p.ID = planID(m, snap)
	return p
}

type builder struct {
	m       *RenameMap
	snap    *admin.Snapshot
	now     time.Time
	sources map[string]int // from → index in m.Renames
	targets map[string]int // to → index
}

func (b *builder) rename(r Rename) RenamePlan {
	rp := RenamePlan{Event: r.Event, From: r.From, To: r.To, Strategy: r.Strategy}
	add := func(sev Severity, code, topic, fix, format string, args ...any) {
		rp.Findings = append(rp.Findings, Finding{Severity: sev, Code: code, Topic: topic, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	src := b.snap.Topics[r.From]
	dst := b.snap.Topics[r.To]
	if r.Hop != nil {
		rp.Hop = r.Hop.Leg
	}

	b.checkChains(r, add)
	for _, v := range b.m.Naming.Check(r.To) {
		add(Error, "naming", r.To, "choose a name that follows the map's naming rules", "target %s %s.", r.To, v)
	}
	newName := r.To
	if r.Strategy == StrategySwap {
		newName = StagingTopic(r.To)
		if len(newName) > stagingNameMaxLength {
			add(Error, "staging-name", newName, "shorten the target name", "the swap staging topic name %s is longer than Kafka's %d characters.", newName, MaxTopicNameLength)
		}
	}
	b.checkCollisions(r, add)

	if r.Hop != nil {
		if done := b.hopFindings(r, add); done {
			rp.Action = ActionNone
			if r.Hop.Leg == 2 && b.snap.Topics[r.Hop.Old] != nil {
				rp.Action = ActionWait
			}
			return rp
		}
	}
	switch {
	case src == nil && dst != nil:
		add(Info, "done", r.To, "", "%s is gone and %s exists: nothing left to create.", r.From, r.To)
		rp.Action = ActionNone
		return rp
	case src == nil:
		add(Error, "source-missing", r.From, "check the name in the map, or remove the rename if the topic was deleted", "source topic %s does not exist.", r.From)
		rp.Action = ActionBlocked
		return rp
	}

	spec := &admin.TopicSpec{Name: newName, Partitions: src.Partitions, ReplicationFactor: src.ReplicationFactor, Configs: map[string]string{}}
	for k, v := range src.Configs {
		spec.Configs[k] = v
	}
	for k, v := range r.Configs {
		spec.Configs[k] = v
	}
	if r.Partitions > 0 {
		spec.Partitions = r.Partitions
	}
	rp.Create = spec
	rp.ACLs = src.ACLs
	if src.Offsets != nil {
		rp.SourceRecords = src.Offsets.Records()
	}
	for _, g := range b.snap.Groups {
		if len(g.Offsets[r.From]) > 0 {
			rp.Groups = append(rp.Groups, g.ID)
		}
	}
	b.checkPartitions(r, src, spec, add)
	b.checkContractChange(r, add)
	b.checkHistoryFits(src, spec, add)
	b.checkPrefixedACLs(r, add)

	existing := b.snap.Topics[newName]
	if existing != nil {
		rp.Drift = drift(spec, existing)
		if len(rp.Drift) > 0 {
			var keys []string
			for _, d := range rp.Drift {
				keys = append(keys, fmt.Sprintf("%s: want %s, have %s", d.Key, d.Want, d.Have))
			}
			add(Error, "target-drift", newName, "align the existing topic with the source (kafka-configs --alter) or delete it", "%s already exists but differs from what apply would create: %s.", newName, strings.Join(keys, "; "))
		}
	}
	switch {
	case rp.Blocked():
		rp.Action = ActionBlocked
	case existing != nil:
		rp.Action = ActionNone
		add(Info, "exists", newName, "", "%s already exists with the same partitions and configs: nothing to create.", newName)
	case r.Strategy == StrategySwap:
		rp.Action = ActionCreateStaging
		add(Info, "swap", newName, "", "swap: apply creates staging topic %s; mirror copies %s into it; `migrator cutover swap` then replaces %s by %s in one short stop.", newName, r.From, r.From, r.To)
	default:
		rp.Action = ActionCreate
	}
	return rp
}

type addFunc func(sev Severity, code, topic, fix, format string, args ...any)

// hopFindings explains a leg of a hop and reports whether it has nothing
// to plan: its second leg waits while the old topic exists, and a leg
// whose source is gone after the hop moved past it is done.
func (b *builder) hopFindings(r Rename, add addFunc) bool {
	h := r.Hop
	old, interim, nu := b.snap.Topics[h.Old], b.snap.Topics[h.Interim], b.snap.Topics[h.New]
	if h.Leg == 1 {
		window := "the map's window"
		if h.Window > 0 {
			window = "hop_window " + h.Window.String()
			if h.Window%(24*time.Hour) == 0 {
				window = fmt.Sprintf("hop_window %dd", h.Window/(24*time.Hour))
			}
		}
		add(Info, "hop", r.To, "", "hop 1 of 2: apply creates interim topic %s; mirror copies %s into it; consumers, then producers, move to it with exact offsets; retire deletes %s once %s allows (no stop). Hop 2 then moves them again, %s → %s.",
			h.Interim, h.Old, h.Old, window, h.Interim, h.New)
		if old == nil && (interim != nil || nu != nil) {
			add(Info, "done", h.Old, "", "%s is gone: hop 1 is done.", h.Old)
			return true
		}
		return false
	}
	switch {
	case old != nil:
		add(Info, "hop", r.To, "", "hop 2 of 2: waits until hop 1 has moved every client to %s and retired %s, since Kafka refuses %s while %s exists; then apply creates %s and the clients move a second time.",
			h.Interim, h.Old, h.New, h.Old, h.New)
		return true
	case interim == nil && nu != nil:
		add(Info, "done", h.New, "", "%s and %s are gone and %s exists: the hop is done.", h.Old, h.Interim, h.New)
		return true
	}
	add(Info, "hop", r.To, "", "hop 2 of 2: %s is gone; apply creates %s; mirror copies %s into it; clients move %s → %s with exact offsets; retire deletes %s at the end.",
		h.Old, h.New, h.Interim, h.Interim, h.New, h.Interim)
	return false
}

// checkChains finds a→b, b→c chains and cycles.
func (b *builder) checkChains(r Rename, add addFunc) {
	if r.Hop != nil && r.Hop.Leg == 1 {
		return // old → interim → new is the hop's own chain.
	}
	if j, ok := b.sources[r.To]; ok {
		next := b.m.Renames[j]
		// Follow the chain to see whether it comes back.
		seen := map[string]bool{r.From: true}
		cur := r.To
		for {
			k, ok := b.sources[cur]
			if !ok {
				break
			}
			if seen[cur] {
				add(Error, "cycle", r.To, "renames cannot go round in a circle; drop one of them", "renames form a cycle through %s.", cur)
				return
			}
			seen[cur] = true
			cur = b.m.Renames[k].To
		}
		if cur == r.From {
			add(Error, "cycle", r.To, "renames cannot go round in a circle; drop one of them", "renames form a cycle: %s → %s → … → %s.", r.From, r.To, r.From)
			return
		}
		add(Error, "chain", r.To, fmt.Sprintf("rename %s straight to %s, or finish this migration before starting the next", r.From, next.To), "%s is the target of this rename and the source of another (%s → %s).", r.To, next.From, next.To)
	}
}

// checkCollisions finds names Kafka will not let coexist with the new
// topic: any existing topic and any other target of the map.
func (b *builder) checkCollisions(r Rename, add addFunc) {
	for _, name := range b.snap.TopicNames() {
		if !Collide(name, r.To) {
			continue
		}
		if name == r.From && r.Strategy == StrategySwap {
			add(Info, "collision", r.To, "", "%s collides with its source %s ('.' and '_' are the same to Kafka); strategy swap handles it.", r.To, r.From)
			continue
		}
		if r.Hop != nil && r.Hop.Leg == 2 && name == r.Hop.Old {
			add(Info, "collision", r.To, "", "%s collides with %s ('.' and '_' are the same to Kafka); strategy hop handles it: hop 2 creates %s once hop 1 retired %s.", r.To, name, r.To, name)
			continue
		}
		fix := "give the target a name that collides with nothing"
		if bumped := BumpVersion(r.To); bumped != "" && !b.collidesWithAny(bumped) {
			fix = fmt.Sprintf("rename to a non-colliding name such as %s", bumped)
		}
		if name == r.From {
			fix += ", or set `strategy: swap` to replace the old topic in one short stop, or `strategy: hop` to move through an interim name without a stop"
		}
		if r.Hop != nil && r.Hop.Leg == 1 {
			fix = "set `interim:` in the map to a name that collides with nothing"
		}
		add(Error, "collision", r.To, fix+".", "Kafka refuses to create %s while %s exists: the names differ only in '.' against '_'.", r.To, name)
	}
	for _, other := range b.m.Renames {
		if other.To != r.To && Collide(other.To, r.To) {
			add(Error, "collision", r.To, "give one of them another name.", "targets %s and %s differ only in '.' against '_': Kafka cannot hold both.", r.To, other.To)
		}
	}
	if r.Strategy == StrategySwap {
		staging := StagingTopic(r.To)
		for _, name := range b.snap.TopicNames() {
			if Collide(name, staging) {
				add(Error, "collision", staging, "rename or delete that topic.", "the swap staging topic %s collides with existing topic %s.", staging, name)
			}
		}
	}
}

func (b *builder) collidesWithAny(name string) bool {
	if b.snap.Topics[name] != nil {
		return true
	}
	for _, t := range b.snap.TopicNames() {
		if Collide(t, name) {
			return true
		}
	}
	return false
}

func (b *builder) checkPartitions(r Rename, src *admin.Topic, spec *admin.TopicSpec, add addFunc) {
	switch {
	case spec.Partitions < src.Partitions:
		add(Error, "partitions", r.To, fmt.Sprintf("give the target at least %d partitions", src.Partitions),
			"the target would have %d partitions, fewer than the source's %d: partition p of the source could not be copied to partition p.", spec.Partitions, src.Partitions)
	case spec.Partitions > src.Partitions:
		add(Warning, "partitions", r.To, "make sure producers of the new topic use the same partitioner as the bridge (murmur2_random, as Java clients)",
			"the target would have %d partitions, more than the source's %d: the bridge must re-partition by key, so per-key order holds only if producers use the bridge's partitioner.", spec.Partitions, src.Partitions)
	}
}

// checkContractChange finds a rename into a domain whose partition-key
// contract differs from the source domain's: the bridge keeps every record
// in its source partition, so the copies stay partitioned by the old key
// while the new topic's producers partition by the new one.
func (b *builder) checkContractChange(r Rename, add addFunc) {
	fromDomain, toDomain := b.m.Domain(r.From), b.m.Domain(r.To)
	if fromDomain == toDomain {
		return
	}
	old, okOld := b.m.Contract(fromDomain)
	nu, okNew := b.m.Contract(toDomain)
	if !okOld || !okNew || slices.Equal(old.Paths, nu.Paths) {
		return
	}
	add(Warning, "contract-change", r.To,
		fmt.Sprintf("keep the rename in domain %q, or make sure no consumer of %s relies on one key's records sharing a partition across the cutover", fromDomain, r.To),
		"%s moves from domain %q (keyed by %s) to %q (keyed by %s): the copies keep the old key's partitioning, records produced to %s after the cutover follow the new key, so per-key order holds only within each.",
		r.From, fromDomain, strings.Join(old.Paths, ", "), toDomain, strings.Join(nu.Paths, ", "), r.To)
}

// checkHistoryFits finds target configs that would reject records already
// in the source.
func (b *builder) checkHistoryFits(src *admin.Topic, spec *admin.TopicSpec, add addFunc) {
	effective := func(key string) string {
		if v, ok := spec.Configs[key]; ok {
			return v
		}
		return src.Effective[key]
	}
	if want, have := parseInt(effective(cfgMaxMessageBytes)), parseInt(src.Effective[cfgMaxMessageBytes]); want >= 0 && have >= 0 && want < have {
		add(Error, "config-rejects-history", spec.Name, fmt.Sprintf("set %s to at least %d", cfgMaxMessageBytes, have),
			"%s %s=%d is smaller than the source's %d: large records would be refused (and sent to the DLQ).", spec.Name, cfgMaxMessageBytes, want, have)
	}
	if src.Offsets != nil && !src.Offsets.Oldest.IsZero() {
		age := b.now.Sub(src.Offsets.Oldest)
		for _, key := range []string{cfgTimestampBefore, cfgTimestampDiffMax} {
			limit := parseInt(effective(key))
			if limit >= 0 && limit < age.Milliseconds() { // In ms: Kafka's default, Long.MAX_VALUE, overflows a Duration.
				add(Error, "config-rejects-history", spec.Name, fmt.Sprintf("raise %s above %d ms, or start the bridge later (`start:` in the map)", key, age.Milliseconds()),
					"%s %s=%d ms, but the oldest source record is %s old: the broker would refuse to take it.", spec.Name, key, limit, age.Round(time.Second))
			}
		}
	}
	if effective(cfgTimestampType) == logAppendTime && src.Effective[cfgTimestampType] != logAppendTime {
		add(Error, "config-rejects-history", spec.Name, fmt.Sprintf("keep %s=CreateTime on the target", cfgTimestampType),
			"%s %s=LogAppendTime would replace every source timestamp with the copy time.", spec.Name, cfgTimestampType)
	}
	if want, have := effective(cfgCleanupPolicy), src.Effective[cfgCleanupPolicy]; have != "" && want != have {
		add(Warning, "config-change", spec.Name, "", "%s %s=%s differs from the source's %s.", spec.Name, cfgCleanupPolicy, want, have)
	}
}

// checkPrefixedACLs warns about prefixed ACLs that grant on the source's
// name but not on the target's: apply copies only literal ACLs.
func (b *builder) checkPrefixedACLs(r Rename, add addFunc) {
	for _, a := range b.snap.PrefixedACLs {
		if strings.HasPrefix(r.From, a.Resource) && !strings.HasPrefix(r.To, a.Resource) {
			add(Warning, "prefixed-acl", r.To, fmt.Sprintf("add a matching ACL for the new name (prefix %q does not cover it)", a.Resource),
				"prefixed ACL %s %s %s on %q covers %s but not %s; apply copies literal ACLs only.", a.Permission, a.Principal, a.Operation, a.Resource, r.From, r.To)
		}
	}
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// drift compares an existing topic with the one apply would create.
func drift(want *admin.TopicSpec, have *admin.Topic) []ConfigDiff {
	var out []ConfigDiff
	if want.Partitions != have.Partitions {
		out = append(out, ConfigDiff{Key: "partitions", Want: strconv.Itoa(want.Partitions), Have: strconv.Itoa(have.Partitions)})
	}
	if want.ReplicationFactor != have.ReplicationFactor {
		out = append(out, ConfigDiff{Key: "replication.factor", Want: strconv.Itoa(want.ReplicationFactor), Have: strconv.Itoa(have.ReplicationFactor)})
	}
	keys := map[string]bool{}
	for k := range want.Configs {
		keys[k] = true
	}
	for k := range have.Configs {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		w, wok := want.Configs[k]
		h := have.Effective[k]
		if !wok {
			// Set on the target only: it differs unless it equals the
			// value the target would inherit anyway.
			w = "(default)"
		}
		if w != h {
			out = append(out, ConfigDiff{Key: k, Want: w, Have: h})
		}
	}
	return out
}

// global finds what concerns the map and cluster as a whole, about the
// topics that stay as they are: in the cluster or the events list, neither
// renamed nor the migrator's own.
func (b *builder) global() []Finding {
	untouched := map[string]bool{}
	for name := range b.snap.Topics {
		untouched[name] = true
	}
	for _, e := range b.m.Events {
		if e.Topic != "" {
			untouched[e.Topic] = true
		}
	}
	for _, r := range b.m.Renames {
		delete(untouched, r.From)
		delete(untouched, r.To)
	}
	names := make([]string, 0, len(untouched))
	for n := range untouched {
		names = append(names, n)
	}
	var targets []string
	for _, r := range b.m.Renames {
		targets = append(targets, r.To)
	}
	return lint(b.m, names, targets)
}

// planID hashes the map and the cluster facts a plan depends on: every
// topic name (collisions), and the partitions, replication, own configs
// and ACLs of every topic the renames touch. Offsets and groups are left
// out: they move with live traffic without changing what apply does.
func planID(m *RenameMap, snap *admin.Snapshot) string {
	h := sha256.New()
	h.Write(m.Raw)
	h.Write([]byte{0})
	involved := map[string]bool{}
	for _, r := range m.Renames {
		involved[r.From] = true
		involved[r.To] = true
		involved[StagingTopic(r.To)] = true
	}
	type fact struct {
		Name  string
		Topic *admin.Topic `json:",omitempty"`
	}
	var facts []fact
	for _, name := range snap.TopicNames() {
		f := fact{Name: name}
		if involved[name] {
			t := *snap.Topics[name]
			t.Offsets = nil
			f.Topic = &t
		}
		facts = append(facts, f)
	}
	data, _ := json.Marshal(facts) // Maps marshal with sorted keys.
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
