package bridge

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Encodings of the bytes in a DeadRecord.
const (
	encodingUTF8   = "utf8"   // the bytes are valid UTF-8, stored as text
	encodingBase64 = "base64" // standard base64 with padding
	encodingNull   = "null"   // a header's null value (DeadHeader only)
)

// DeadLetter is the seed's DLQ envelope for a record the target refused for
// good.
type DeadLetter struct {
	OriginalTopic   string     `json:"original_topic"`
	TargetTopic     string     `json:"target_topic"`
	OriginalEvent   DeadRecord `json:"original_event"`
	ErrorMessage    string     `json:"error_message"`
	ErrorType       string     `json:"error_type"`
	RetryCount      int        `json:"retry_count"`
	FailedAt        string     `json:"failed_at"` // RFC 3339 UTC with ms
	FailedByService string     `json:"failed_by_service"`
}

// DeadRecord is the refused source record in a DeadLetter.
type DeadRecord struct {
	Partition      int32        `json:"partition"`
	Offset         int64        `json:"offset"`
	Timestamp      string       `json:"timestamp"`                 // RFC 3339 UTC with ms; "" when the record has none
	Key            *string      `json:"key"`                       // null for a null key
	KeyEncoding    string       `json:"key_encoding"`              // "utf8" or "base64"
	Value          *string      `json:"value"`                     // null for a null value (tombstone)
	ValueEncoding  string       `json:"value_encoding"`            // "utf8" or "base64"
	ValueBytes     int          `json:"value_bytes"`               // original length
	ValueTruncated bool         `json:"value_truncated,omitempty"` // Value holds a prefix only
	ValueSHA256    string       `json:"value_sha256,omitempty"`    // hex, set when truncated
	Headers        []DeadHeader `json:"headers"`                   // in order, duplicates kept
}

// DeadHeader is a header of a DeadRecord. Encoding is "utf8", "base64", or
// "null" for a null value (Value is then empty).
type DeadHeader struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Encoding string `json:"encoding"`
}

// NewDeadLetter builds the DLQ record value for src, consumed from its
// original topic and refused by target with err. errType is a short stable
// name (e.g. "MSG_SIZE_TOO_LARGE"). Bytes that are valid UTF-8 are stored as
// text ("utf8"), others in standard base64 ("base64").
//
// When maxBytes > 0 and the JSON would be longer, the value is cut to a
// prefix (still validly encoded) so that the whole JSON fits, and
// value_truncated and value_sha256 (of the full value) are set; value_bytes
// is always the full length. It is an error only when even an empty value
// does not fit (huge key or headers): a dead letter is never dropped
// silently.
func NewDeadLetter(src *kafka.Message, target string, err error, errType string, retryCount int, service string, now time.Time, maxBytes int) ([]byte, error) {
	if src == nil {
		return nil, errors.New("dead letter: no source message")
	}
	var topic, errMsg string
	if src.TopicPartition.Topic != nil {
		topic = *src.TopicPartition.Topic
	}
	if err != nil {
		errMsg = err.Error()
	}
	dl := DeadLetter{
		OriginalTopic: topic,
		TargetTopic:   target,
		OriginalEvent: DeadRecord{
			Partition:  src.TopicPartition.Partition,
			Offset:     int64(src.TopicPartition.Offset),
			Timestamp:  formatTimestamp(src.Timestamp),
			ValueBytes: len(src.Value),
			Headers:    make([]DeadHeader, 0, len(src.Headers)),
		},
		ErrorMessage:    errMsg,
		ErrorType:       errType,
		RetryCount:      retryCount,
		FailedAt:        formatTimestamp(now),
		FailedByService: service,
	}
	rec := &dl.OriginalEvent
	rec.Key, rec.KeyEncoding = encodeBytes(src.Key)
	rec.Value, rec.ValueEncoding = encodeBytes(src.Value)
	for _, h := range src.Headers {
		dh := DeadHeader{Key: h.Key, Encoding: encodingNull}
		if h.Value != nil {
			var v *string
			v, dh.Encoding = encodeBytes(h.Value)
			dh.Value = *v
		}
		rec.Headers = append(rec.Headers, dh)
	}

	// Encoding never makes bytes shorter: a value longer than maxBytes
	// cannot fit whole.
	if maxBytes <= 0 || len(src.Value) <= maxBytes {
		out, err := encodeDeadLetter(&dl)
		if err != nil || maxBytes <= 0 || len(out) <= maxBytes {
			return out, err
		}
	}
	return truncateDeadLetter(&dl, src.Value, maxBytes)
}

// truncateDeadLetter encodes dl with a prefix of value, the record's value,
// that makes it fit in maxBytes.
func truncateDeadLetter(dl *DeadLetter, value []byte, maxBytes int) ([]byte, error) {
	rec := &dl.OriginalEvent
	if rec.Value == nil {
		return nil, fmt.Errorf("dead letter of %s offset %d: longer than %d bytes without a value to truncate", dl.OriginalTopic, rec.Offset, maxBytes)
	}
	sum := sha256.Sum256(value)
	rec.ValueTruncated = true
	rec.ValueSHA256 = hex.EncodeToString(sum[:])
	empty := ""
	rec.Value = &empty
	base, err := encodeDeadLetter(dl)
	if err != nil {
		return nil, err
	}
	if len(base) > maxBytes {
		return nil, fmt.Errorf("dead letter of %s offset %d: %d bytes even with an empty value, more than the %d allowed", dl.OriginalTopic, rec.Offset, len(base), maxBytes)
	}
	// budget is the room for the encoded value. jsonStringLen predicts the
	// encoding exactly; should it not, shrink by the excess and try again
	// (budget 0 gives base, which fits).
	budget := maxBytes - len(base)
	for {
		v := valuePrefix(value, rec.ValueEncoding, budget)
		rec.Value = &v
		out, err := encodeDeadLetter(dl)
		if err != nil {
			return nil, err
		}
		if len(out) <= maxBytes {
			return out, nil
		}
		budget = max(0, budget-(len(out)-maxBytes))
	}
}

// valuePrefix returns the longest prefix of value, encoded as encoding,
// whose JSON string takes at most budget bytes between its quotes.
func valuePrefix(value []byte, encoding string, budget int) string {
	if encoding == encodingBase64 {
		n := min(len(value), budget/4*3)
		return base64.StdEncoding.EncodeToString(value[:n])
	}
	n, used := 0, 0
	for n < len(value) {
		r, size := utf8.DecodeRune(value[n:])
		used += jsonRuneLen(r, size)
		if used > budget {
			break
		}
		n += size
	}
	return string(value[:n])
}

// jsonRuneLen is the length of rune r, size bytes of valid UTF-8, inside a
// JSON string written by encoding/json without HTML escaping.
func jsonRuneLen(r rune, size int) int {
	switch {
	case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '\u2028' || r == '\u2029':
		return 6
	}
	return size
}

// encodeBytes returns b as stored in a DeadRecord: nil for nil, text when
// it is valid UTF-8, else base64.
func encodeBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, encodingUTF8
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, encodingUTF8
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, encodingBase64
}

// decodeBytes reverses encodeBytes.
func decodeBytes(s *string, encoding string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	switch encoding {
	case encodingUTF8:
		return []byte(*s), nil
	case encodingBase64:
		b, err := base64.StdEncoding.DecodeString(*s)
		if err != nil {
			return nil, fmt.Errorf("decode base64: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown encoding %q (want %q or %q)", encoding, encodingUTF8, encodingBase64)
}

// encodeDeadLetter returns dl as JSON without HTML escaping, so that text
// stays readable in the DLQ.
func encodeDeadLetter(dl *DeadLetter) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dl); err != nil {
		return nil, fmt.Errorf("encode dead letter: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// formatTimestamp returns t in UTC, RFC 3339 with milliseconds, or "" for
// the zero time.
func formatTimestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timestampLayout)
}

// DecodeDeadLetter parses a DLQ record value written by NewDeadLetter.
func DecodeDeadLetter(value []byte) (*DeadLetter, error) {
	var dl DeadLetter
	if err := json.Unmarshal(value, &dl); err != nil {
		return nil, fmt.Errorf("decode dead letter: %w", err)
	}
	return &dl, nil
}

// KeyBytes returns the original key bytes, nil for a null key.
func (r *DeadRecord) KeyBytes() ([]byte, error) {
	if r == nil {
		return nil, errors.New("dead record key: no record")
	}
	b, err := decodeBytes(r.Key, r.KeyEncoding)
	if err != nil {
		return nil, fmt.Errorf("dead record key: %w", err)
	}
	return b, nil
}

// ValueBytesDecoded returns the original value bytes, nil for a null value.
// It is an error when the value was truncated or does not have value_bytes
// bytes.
func (r *DeadRecord) ValueBytesDecoded() ([]byte, error) {
	if r == nil {
		return nil, errors.New("dead record value: no record")
	}
	if r.ValueTruncated {
		return nil, fmt.Errorf("dead record value: truncated, the original had %d bytes (sha256 %s)", r.ValueBytes, r.ValueSHA256)
	}
	b, err := decodeBytes(r.Value, r.ValueEncoding)
	if err != nil {
		return nil, fmt.Errorf("dead record value: %w", err)
	}
	if len(b) != r.ValueBytes {
		return nil, fmt.Errorf("dead record value: %d bytes, value_bytes says %d", len(b), r.ValueBytes)
	}
	return b, nil
}

// valueBytes returns the header's original value bytes, nil for a null value.
func (h DeadHeader) valueBytes() ([]byte, error) {
	if h.Encoding == encodingNull {
		return nil, nil
	}
	b, err := decodeBytes(&h.Value, h.Encoding)
	if err != nil {
		return nil, fmt.Errorf("dead header %q: %w", h.Key, err)
	}
	return b, nil
}
