package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	topicmigrator "github.com/huleedu/topic-migrator"
	"github.com/huleedu/topic-migrator/bridge"
	"github.com/huleedu/topic-migrator/plan"
)

// Envelope is HuleEdu's EventEnvelope as services serialize it.
type Envelope struct {
	EventID        string         `json:"event_id"`
	EventType      string         `json:"event_type"`
	EventTimestamp string         `json:"event_timestamp"`
	SourceService  string         `json:"source_service"`
	SchemaVersion  int            `json:"schema_version"`
	CorrelationID  string         `json:"correlation_id"`
	Data           map[string]any `json:"data"`
	Metadata       map[string]any `json:"metadata,omitempty"`
}

// Record is one event ready to produce. A nil Key means the topic's domain
// has no partition-key contract.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kafka.Header
}

// Generator makes HuleEdu event envelopes. Its ids come from small pools
// (batches with their essays, classes, users, subscriptions, LLM
// requests), so keys repeat as real batches and essays do and per-key
// order means something.
type Generator struct {
	m       *plan.RenameMap
	rng     *rand.Rand
	batches []batch
	classes []string
	users   []string
	subs    []string
	llmReqs []string
}

type batch struct {
	id     string
	essays []string
	class  string
}

// NewGenerator returns a generator whose partition keys follow m's
// partition-key contracts; seed makes its ids reproducible.
func NewGenerator(m *plan.RenameMap, seed uint64) *Generator {
	g := &Generator{m: m, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for range 6 {
		g.classes = append(g.classes, g.uuid())
	}
	for range 48 {
		b := batch{id: g.uuid(), class: g.pick(g.classes)}
		for range 4 {
			b.essays = append(b.essays, g.uuid())
		}
		g.batches = append(g.batches, b)
	}
	for range 12 {
		g.users = append(g.users, g.uuid())
	}
	for range 6 {
		g.subs = append(g.subs, g.uuid())
	}
	for range 16 {
		g.llmReqs = append(g.llmReqs, g.uuid())
	}
	return g
}

// uuid returns a random version 4 UUID from the generator's source.
func (g *Generator) uuid() string {
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

func (g *Generator) pick(from []string) string { return from[g.rng.IntN(len(from))] }

// Record builds an envelope of event et written to topic (et.Topic, or its
// new name once producers moved), keyed by the partition-key contract of
// topic's domain, with HuleEdu's standard headers.
func (g *Generator) Record(et topicmigrator.EventTopic, topic string, now time.Time) (Record, error) {
	env := Envelope{
		EventID:        g.uuid(),
		EventType:      topic,
		EventTimestamp: now.UTC().Format(time.RFC3339Nano),
		SourceService:  sourceService(g.m.Domain(et.Topic), et.Event),
		SchemaVersion:  1,
		CorrelationID:  g.uuid(),
		Data:           g.data(et.Event),
	}
	value, err := json.Marshal(env)
	if err != nil {
		return Record{}, fmt.Errorf("encode %s envelope: %w", et.Event, err)
	}
	key, err := g.key(topic, value)
	if err != nil {
		return Record{}, fmt.Errorf("%s on %s: %w", et.Event, topic, err)
	}
	return Record{Topic: topic, Key: key, Value: value, Headers: []kafka.Header{
		{Key: bridge.HeaderCorrelationID, Value: []byte(env.CorrelationID)},
		// The event id, not the seed's topic:key:version, which repeats.
		{Key: bridge.HeaderIdempotencyKey, Value: []byte(env.EventID)},
		{Key: bridge.HeaderOriginalTimestamp, Value: []byte(now.UTC().Format("2006-01-02T15:04:05.000Z07:00"))},
		{Key: bridge.HeaderRetryCount, Value: []byte("0")},
		{Key: bridge.HeaderMaxRetries, Value: []byte("3")},
		{Key: bridge.HeaderBackoffMs, Value: []byte("1000,5000,15000")},
	}}, nil
}

// KeyPaths returns the partition-key contract that applies to topic: that
// of its domain or, for an old name whose domain has none (the
// huleedu.llm_provider.* topics), that of its new name, so that keys do not
// change when producers move. nil when neither domain has a contract.
func KeyPaths(m *plan.RenameMap, topic string) []string {
	for _, t := range []string{topic, m.NewName(topic)} {
		if c, ok := m.Contract(m.Domain(t)); ok {
			return c.Paths
		}
	}
	return nil
}

// key resolves the partition key of an encoded envelope: the first of the
// contract's JSON paths that holds a string.
func (g *Generator) key(topic string, value []byte) ([]byte, error) {
	paths := KeyPaths(g.m, topic)
	if paths == nil {
		return nil, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(value, &doc); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	for _, p := range paths {
		if s, ok := lookup(doc, p); ok {
			return []byte(s), nil
		}
	}
	return nil, fmt.Errorf("the envelope has none of the partition-key paths %s", strings.Join(paths, ", "))
}

// lookup follows a dotted JSON path (data.batch_id) to a string.
func lookup(doc map[string]any, path string) (string, bool) {
	var cur any = doc
	for _, seg := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = obj[seg]; !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok && s != ""
}

// sourceService names the HuleEdu service that publishes on a domain.
func sourceService(domain, event string) string {
	switch {
	case strings.Contains(event, "SPELLCHECK_COMPLETED"), event == "SPELLCHECK_RESULTS":
		return "spellchecker_service"
	case strings.HasPrefix(event, "ESSAY_NLP"), strings.HasPrefix(event, "BATCH_NLP_ANALYSIS"):
		return "nlp_service"
	}
	switch domain {
	case "batch", "pipeline":
		return "batch_orchestrator_service"
	case "essay", "els":
		return "essay_lifecycle_service"
	case "file":
		return "file_service"
	case "class", "notification":
		return "class_management_service"
	case "cj_assessment", "resource":
		return "cj_assessment_service"
	case "ras", "assessment":
		return "result_aggregator_service"
	case "llm_provider", "llm":
		return "llm_provider_service"
	case "commands":
		return "api_gateway_service"
	case "identity":
		return "identity_service"
	case "email":
		return "email_service"
	case "entitlements":
		return "entitlements_service"
	}
	return domain + "_service"
}

// data is the event's payload: snake_case fields as HuleEdu's event models
// have them, always with the id its domain is keyed by.
func (g *Generator) data(event string) map[string]any {
	b := g.batches[g.rng.IntN(len(g.batches))]
	essay := g.pick(b.essays)
	d := map[string]any{}
	switch {
	case strings.HasPrefix(event, "LLM_"):
		d["request_id"] = g.pick(g.llmReqs)
		d["provider"] = []string{"anthropic", "openai", "google"}[g.rng.IntN(3)]
		d["model"] = "claude-sonnet-4"
		d["batch_id"] = b.id
		d["prompt_tokens"] = 800 + g.rng.IntN(1200)
		d["completion_tokens"] = 40 + g.rng.IntN(200)
	case strings.HasPrefix(event, "IDENTITY_"):
		u := g.pick(g.users)
		d["user_id"] = u
		d["email"] = "teacher-" + u[:8] + "@school.example"
	case strings.HasPrefix(event, "EMAIL_"):
		d["message_id"] = g.uuid()
		d["template_id"] = "verification"
		d["to"] = "teacher-" + g.pick(g.users)[:8] + "@school.example"
		d["user_id"] = g.pick(g.users)
		if strings.HasSuffix(event, "FAILED") {
			d["reason"] = "mailbox unavailable"
		}
	case strings.HasPrefix(event, "ENTITLEMENTS_"):
		d["subscription_id"] = g.pick(g.subs)
		d["user_id"] = g.pick(g.users)
		d["plan"] = "school"
		d["credits"] = g.rng.IntN(500)
	case strings.HasPrefix(event, "CLASS_"), strings.HasPrefix(event, "STUDENT_"), event == "ESSAY_STUDENT_ASSOCIATION_UPDATED", event == "VALIDATION_TIMEOUT_PROCESSED":
		d["class_id"] = b.class
		d["course_code"] = []string{"ENG5", "ENG6", "SV1", "SV2"}[g.rng.IntN(4)]
		d["batch_id"] = b.id
		if strings.HasPrefix(event, "STUDENT_") || strings.HasPrefix(event, "ESSAY_") {
			d["student_id"] = g.uuid()
			d["essay_id"] = essay
		}
	case event == "TEACHER_NOTIFICATION_REQUESTED":
		d["teacher_id"] = g.pick(g.users)
		d["notification_type"] = "batch_processing_completed"
		d["batch_id"] = b.id
	default:
		// The batch pipeline: batches, essays, files, phases, results.
		d["batch_id"] = b.id
		if strings.Contains(event, "ESSAY") && !strings.HasPrefix(event, "BATCH_ESSAYS") || strings.Contains(event, "SPELLCHECK_RE") || strings.Contains(event, "SLOT") || event == "SPELLCHECK_RESULTS" {
			d["essay_id"] = essay
		}
		if strings.Contains(event, "FILE") || strings.Contains(event, "CONTENT_PROVISIONED") {
			d["file_upload_id"] = g.uuid()
			d["original_file_name"] = fmt.Sprintf("essay_%02d.docx", 1+g.rng.IntN(30))
		}
		if strings.Contains(event, "PIPELINE") || strings.Contains(event, "PHASE") || strings.HasSuffix(event, "COMMAND") {
			d["requested_pipeline"] = []string{"spellcheck", "nlp", "cj_assessment", "ai_feedback"}[g.rng.IntN(4)]
			d["essay_count"] = len(b.essays)
		}
	}
	switch {
	case strings.HasSuffix(event, "FAILED"), strings.HasSuffix(event, "FAILURE"), strings.HasSuffix(event, "ERRORS"), strings.HasSuffix(event, "DENIED"):
		d["status"] = "failed"
	case strings.HasSuffix(event, "COMPLETED"), strings.HasSuffix(event, "READY"), strings.HasSuffix(event, "PUBLISHED"):
		d["status"] = "completed"
	}
	return d
}
