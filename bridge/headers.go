package bridge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// HeaderOrigin is the provenance header every copied record carries:
// "<topic>/<partition>/<offset>" of its source record.
const HeaderOrigin = "X-Migrator-Origin"

// Standard headers of the HuleEdu contract. The bridge adds the ones a
// record lacks when its HeaderPolicy enriches.
const (
	// HeaderCorrelationID carries the envelope's correlation_id.
	HeaderCorrelationID = "X-Correlation-Id"
	// HeaderIdempotencyKey is unique per event: the envelope's event_id,
	// or the record's origin when it has none.
	HeaderIdempotencyKey = "X-Idempotency-Key"
	// HeaderOriginalTimestamp is the source record's timestamp, RFC 3339
	// in UTC with milliseconds.
	HeaderOriginalTimestamp = "X-Original-Timestamp"
	// HeaderRetryCount is how often the event was retried: "0" for a copy.
	HeaderRetryCount = "X-Retry-Count"
	// HeaderMaxRetries is how often a consumer may retry the event.
	HeaderMaxRetries = "X-Max-Retries"
	// HeaderBackoffMs is the comma-separated retry backoff in milliseconds.
	HeaderBackoffMs = "X-Backoff-Ms"
)

// AddedHeaders are every header the bridge may add; verify ignores them
// when it compares a copy with its source. Header names are compared ASCII
// case-insensitively.
var AddedHeaders = []string{HeaderOrigin, HeaderCorrelationID, HeaderIdempotencyKey, HeaderOriginalTimestamp, HeaderRetryCount, HeaderMaxRetries, HeaderBackoffMs}

// Defaults of HeaderPolicy.
const (
	defaultMaxRetries = "3"
	defaultBackoffMs  = "1000,5000,15000"
)

// timestampLayout is RFC 3339 with milliseconds; on a UTC time it ends in "Z".
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Limits of an origin's parts.
const (
	maxTopicLen = 249
	// maxOriginLen is the longest legal origin: a 249-character topic, the
	// largest int32 and the largest int64.
	maxOriginLen = maxTopicLen + 1 + 10 + 1 + 19
	// originSlack bounds the bytes an origin adds to its topic: two '/' and
	// two decimal numbers with their signs.
	originSlack = 2 + 11 + 20
)

// Origin is the position of a source record: its topic, partition and
// offset.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// String returns the origin as "topic/partition/offset", the value of the
// X-Migrator-Origin header.
func (o Origin) String() string {
	var b [64]byte
	return string(o.appendTo(b[:0]))
}

// appendTo appends o.String() to b.
func (o Origin) appendTo(b []byte) []byte {
	b = append(b, o.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(o.Partition), 10)
	b = append(b, '/')
	return strconv.AppendInt(b, o.Offset, 10)
}

// Errors of ParseOrigin's number parts.
var (
	errNotDecimal  = errors.New("not a decimal integer >= 0")
	errLeadingZero = errors.New("leading zeros are not allowed")
)

// ParseOrigin parses an X-Migrator-Origin value, "topic/partition/offset".
// It is strict: the topic must be a legal Kafka topic name (1 to 249 of
// [a-zA-Z0-9._-], not "." or ".."), the partition a decimal int32 >= 0 and
// the offset a decimal int64 >= 0, both without sign or leading zeros, so
// that ParseOrigin(v).String() is v.
func ParseOrigin(v []byte) (Origin, error) {
	if len(v) > maxOriginLen {
		return Origin{}, fmt.Errorf("invalid origin: %d bytes, longer than the longest legal origin (%d bytes)", len(v), maxOriginLen)
	}
	first, last, slashes := -1, -1, 0
	for i, c := range v {
		if c == '/' {
			slashes++
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if slashes != 2 {
		return Origin{}, fmt.Errorf("invalid origin %q: want \"<topic>/<partition>/<offset>\"", v)
	}
	topic, partition, offset := v[:first], v[first+1:last], v[last+1:]
	if err := checkTopic(topic); err != nil {
		return Origin{}, fmt.Errorf("invalid origin %q: %w", v, err)
	}
	p, err := parseDecimal(partition, math.MaxInt32)
	if err != nil {
		return Origin{}, fmt.Errorf("invalid origin %q: partition %q: %w", v, partition, err)
	}
	o, err := parseDecimal(offset, math.MaxInt64)
	if err != nil {
		return Origin{}, fmt.Errorf("invalid origin %q: offset %q: %w", v, offset, err)
	}
	return Origin{Topic: string(topic), Partition: int32(p), Offset: o}, nil
}

// checkTopic reports why topic is not a legal Kafka topic name, or nil.
func checkTopic(topic []byte) error {
	switch {
	case len(topic) == 0:
		return errors.New("topic is empty")
	case len(topic) > maxTopicLen:
		return fmt.Errorf("topic is longer than %d characters", maxTopicLen)
	case string(topic) == "." || string(topic) == "..":
		return fmt.Errorf("topic %q is not a legal topic name", topic)
	}
	for i, c := range topic {
		legal := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !legal {
			return fmt.Errorf("topic %q has illegal character %q (legal: a-z A-Z 0-9 . _ -)", topic, topic[i:i+1])
		}
	}
	return nil
}

// parseDecimal parses digits, a canonical decimal integer in [0, max].
func parseDecimal(digits []byte, max int64) (int64, error) {
	if len(digits) == 0 {
		return 0, errNotDecimal
	}
	if digits[0] == '0' && len(digits) > 1 {
		return 0, errLeadingZero
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errNotDecimal
		}
		d := int64(c - '0')
		if n > (max-d)/10 {
			return 0, fmt.Errorf("out of range (max %d)", max)
		}
		n = n*10 + d
	}
	return n, nil
}

// OriginOf returns the origin in the last X-Migrator-Origin header (name
// compared ASCII case-insensitively) that parses, and false when there is
// none.
func OriginOf(headers []kafka.Header) (Origin, bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if !asciiEqualFold(headers[i].Key, HeaderOrigin) {
			continue
		}
		if o, err := ParseOrigin(headers[i].Value); err == nil {
			return o, true
		}
	}
	return Origin{}, false
}

// HeaderPolicy decides the headers of a copy.
type HeaderPolicy struct {
	// Enrich adds the standard headers a record lacks, on every route;
	// a route's own Enrich adds them on that route only.
	Enrich     bool
	MaxRetries string // value of X-Max-Retries, default "3" when empty
	BackoffMs  string // value of X-Backoff-Ms, default "1000,5000,15000" when empty
}

// forRoute is the policy for the copies of route r: p, enriching when
// either p or r says so.
func (p HeaderPolicy) forRoute(r Route) HeaderPolicy {
	p.Enrich = p.Enrich || r.Enrich
	return p
}

// Bits of the standard headers a record already has.
const (
	hasCorrelationID = 1 << iota
	hasIdempotencyKey
	hasOriginalTimestamp
	hasRetryCount
	hasMaxRetries
	hasBackoffMs
)

// standardHeaders lists the standard headers with their bits.
var standardHeaders = [...]struct {
	name string
	bit  uint8
}{
	{HeaderCorrelationID, hasCorrelationID},
	{HeaderIdempotencyKey, hasIdempotencyKey},
	{HeaderOriginalTimestamp, hasOriginalTimestamp},
	{HeaderRetryCount, hasRetryCount},
	{HeaderMaxRetries, hasMaxRetries},
	{HeaderBackoffMs, hasBackoffMs},
}

// standardBit returns the bit of the standard header called name, or 0.
func standardBit(name string) uint8 {
	for _, h := range standardHeaders {
		if asciiEqualFold(name, h.name) {
			return h.bit
		}
	}
	return 0
}

// CopyHeaders returns the headers for the copy of src, which was read at
// origin.
//
// They are every header of src in order, duplicates and binary values kept
// byte for byte, except any X-Migrator-Origin header: the copy's origin is
// this hop's source. Then, when p.Enrich, each standard header that src does
// not have yet (names compared ASCII case-insensitively; an existing one is
// never overwritten nor duplicated):
//
//   - X-Correlation-Id: the envelope's correlation_id, only when the value is
//     a JSON envelope with a non-empty string correlation_id;
//   - X-Idempotency-Key: the envelope's non-empty event_id, else origin;
//   - X-Original-Timestamp: src.Timestamp in UTC, RFC 3339 with milliseconds,
//     e.g. 2026-11-26T12:00:00.123Z; not added when src.Timestamp is zero;
//   - X-Retry-Count "0", X-Max-Retries p.MaxRetries, X-Backoff-Ms p.BackoffMs.
//
// Last comes X-Migrator-Origin with origin.String(). The value is parsed
// only when a header that needs it is missing.
//
// The result never aliases src.Headers' backing array, but the Values of
// src's headers are shared. The added values share one buffer, each capped
// so that appending to one cannot change another.
func (p HeaderPolicy) CopyHeaders(src *kafka.Message, origin Origin) []kafka.Header {
	out, _ := p.appendHeaders(nil, nil, src, origin)
	return out
}

// appendHeaders is CopyHeaders appending to dst[:0], with the added values
// in buf[:0] (grown when short). It returns both for reuse: the bridge
// builds the headers of one copy at a time in the same two buffers,
// because the producer copies them into librdkafka's memory before
// Produce returns.
func (p HeaderPolicy) appendHeaders(dst []kafka.Header, buf []byte, src *kafka.Message, origin Origin) ([]kafka.Header, []byte) {
	var (
		headers []kafka.Header
		value   []byte
		ts      time.Time
	)
	if src != nil {
		headers, value, ts = src.Headers, src.Value, src.Timestamp
	}

	added := 1
	if p.Enrich {
		added += len(standardHeaders)
	}
	out := slices.Grow(dst[:0], len(headers)+added)
	var have uint8
	for _, h := range headers {
		if asciiEqualFold(h.Key, HeaderOrigin) {
			continue
		}
		out = append(out, h)
		if p.Enrich {
			have |= standardBit(h.Key)
		}
	}

	originLen := len(origin.Topic) + originSlack
	if !p.Enrich {
		b := headerBuilder{out: out, buf: slices.Grow(buf[:0], originLen)}
		b.add(HeaderOrigin, origin.appendTo(b.buf))
		return b.out, b.buf
	}

	var env envelopeFields
	if have&(hasCorrelationID|hasIdempotencyKey) != hasCorrelationID|hasIdempotencyKey {
		env, _ = scanEnvelope(value) // the fields stay empty when it is no envelope
	}
	maxRetries, backoffMs := p.MaxRetries, p.BackoffMs
	if maxRetries == "" {
		maxRetries = defaultMaxRetries
	}
	if backoffMs == "" {
		backoffMs = defaultBackoffMs
	}

	// One buffer holds every added value; size is an upper bound.
	size := originLen + len("0") + len(maxRetries) + len(backoffMs)
	if have&hasCorrelationID == 0 {
		size += len(env.correlationID)
	}
	if have&hasIdempotencyKey == 0 {
		size += max(len(env.eventID), originLen)
	}
	if have&hasOriginalTimestamp == 0 {
		size += len(timestampLayout) + 8 // room for years past 9999
	}
	b := headerBuilder{out: out, buf: slices.Grow(buf[:0], size)}

	if have&hasCorrelationID == 0 && len(env.correlationID) > 0 {
		b.add(HeaderCorrelationID, append(b.buf, env.correlationID...))
	}
	if have&hasIdempotencyKey == 0 {
		if len(env.eventID) > 0 {
			b.add(HeaderIdempotencyKey, append(b.buf, env.eventID...))
		} else {
			b.add(HeaderIdempotencyKey, origin.appendTo(b.buf))
		}
	}
	if have&hasOriginalTimestamp == 0 && !ts.IsZero() {
		b.add(HeaderOriginalTimestamp, ts.UTC().AppendFormat(b.buf, timestampLayout))
	}
	if have&hasRetryCount == 0 {
		b.add(HeaderRetryCount, append(b.buf, '0'))
	}
	if have&hasMaxRetries == 0 {
		b.add(HeaderMaxRetries, append(b.buf, maxRetries...))
	}
	if have&hasBackoffMs == 0 {
		b.add(HeaderBackoffMs, append(b.buf, backoffMs...))
	}
	b.add(HeaderOrigin, origin.appendTo(b.buf))
	return b.out, b.buf
}

// headerBuilder appends headers whose values share one buffer.
type headerBuilder struct {
	out []kafka.Header
	buf []byte
}

// add appends the header key whose value is what buf holds past the
// builder's buffer: buf is that buffer with the value appended. The value
// is capped at its end, so appending to it copies instead of overwriting
// the next value.
func (b *headerBuilder) add(key string, buf []byte) {
	start, end := len(b.buf), len(buf)
	b.buf = buf
	b.out = append(b.out, kafka.Header{Key: key, Value: buf[start:end:end]})
}

// asciiEqualFold reports whether a and b are equal under ASCII case
// folding, as header names are compared.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
