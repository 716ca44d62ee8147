package bridge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

var (
	dlNow    = time.Date(2026, 11, 26, 13, 0, 1, 500000000, time.FixedZone("CET", 3600))
	dlErr    = errors.New("Broker: Message size too large")
	dlTarget = "huleedu.essay.submitted.v2"
)

// dlMessage is a consumed record of the original topic.
func dlMessage(key, value []byte, headers ...kafka.Header) *kafka.Message {
	topic := "huleedu.essay.submitted.v1"
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 2, Offset: 1234},
		Key:            key,
		Value:          value,
		Timestamp:      time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC),
		Headers:        headers,
	}
}

func newDeadLetter(t *testing.T, src *kafka.Message, maxBytes int) []byte {
	t.Helper()
	out, err := NewDeadLetter(src, dlTarget, dlErr, "MSG_SIZE_TOO_LARGE", 3, "topic-migrator", dlNow, maxBytes)
	if err != nil {
		t.Fatalf("NewDeadLetter: %v", err)
	}
	return out
}

func TestNewDeadLetterExactJSON(t *testing.T) {
	src := dlMessage([]byte("e-1"), []byte(`{"a":"<b>"}`),
		hdr("traceparent", "abc"), kafka.Header{Key: "bin", Value: []byte{0x00, 0xff}}, kafka.Header{Key: "null"})
	got := newDeadLetter(t, src, 0)
	want := `{"original_topic":"huleedu.essay.submitted.v1","target_topic":"huleedu.essay.submitted.v2",` +
		`"original_event":{"partition":2,"offset":1234,"timestamp":"2026-11-26T12:00:00.123Z",` +
		`"key":"e-1","key_encoding":"utf8","value":"{\"a\":\"<b>\"}","value_encoding":"utf8","value_bytes":11,` +
		`"headers":[{"key":"traceparent","value":"abc","encoding":"utf8"},{"key":"bin","value":"AP8=","encoding":"base64"},` +
		`{"key":"null","value":"","encoding":"null"}]},` +
		`"error_message":"Broker: Message size too large","error_type":"MSG_SIZE_TOO_LARGE","retry_count":3,` +
		`"failed_at":"2026-11-26T12:00:01.500Z","failed_by_service":"topic-migrator"}`
	if string(got) != want {
		t.Fatalf("NewDeadLetter\n got %s\nwant %s", got, want)
	}
}

func TestNewDeadLetterNullsAndEmpties(t *testing.T) {
	topicless := &kafka.Message{TopicPartition: kafka.TopicPartition{Partition: 0, Offset: 5}, Key: []byte{}}
	got, err := NewDeadLetter(topicless, "t2", nil, "X", 0, "s", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"original_topic":"","target_topic":"t2","original_event":{"partition":0,"offset":5,"timestamp":"",` +
		`"key":"","key_encoding":"utf8","value":null,"value_encoding":"utf8","value_bytes":0,"headers":[]},` +
		`"error_message":"","error_type":"X","retry_count":0,"failed_at":"","failed_by_service":"s"}`
	if string(got) != want {
		t.Fatalf("NewDeadLetter\n got %s\nwant %s", got, want)
	}
}

func TestDeadLetterRoundTrip(t *testing.T) {
	binary := []byte{0x00, 0xff, 0xfe, 0x80, 'a', '\n'}
	tricky := []byte("quote\" backslash\\ nl\n tab\t ctl\x01\x1f sep\u2028\u2029 html<>& é 😀 \ufffd")
	headers := []kafka.Header{
		hdr("dup", "1"), {Key: "bin", Value: binary}, hdr("dup", "2"), {Key: "null", Value: nil},
		{Key: "empty", Value: []byte{}}, {Key: "tricky", Value: tricky},
	}
	tests := []struct {
		name       string
		key, value []byte
		headers    []kafka.Header
		keyEnc     string
		valueEnc   string
	}{
		{"utf8", []byte("essay-42"), []byte(testEnvelope), headers, "utf8", "utf8"},
		{"binary", binary, append([]byte{0xc3}, testEnvelope...), headers, "base64", "base64"},
		{"null key and tombstone", nil, nil, nil, "utf8", "utf8"},
		{"empty key and value", []byte{}, []byte{}, nil, "utf8", "utf8"},
		{"escapes in text", tricky, tricky, headers, "utf8", "utf8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := dlMessage(tt.key, tt.value, tt.headers...)
			dl, err := DecodeDeadLetter(newDeadLetter(t, src, 0))
			if err != nil {
				t.Fatal(err)
			}
			if dl.OriginalTopic != "huleedu.essay.submitted.v1" || dl.TargetTopic != dlTarget ||
				dl.ErrorMessage != dlErr.Error() || dl.ErrorType != "MSG_SIZE_TOO_LARGE" || dl.RetryCount != 3 ||
				dl.FailedAt != "2026-11-26T12:00:01.500Z" || dl.FailedByService != "topic-migrator" {
				t.Errorf("envelope fields: %+v", dl)
			}
			rec := &dl.OriginalEvent
			if rec.Partition != 2 || rec.Offset != 1234 || rec.Timestamp != "2026-11-26T12:00:00.123Z" {
				t.Errorf("record position: %+v", rec)
			}
			if rec.KeyEncoding != tt.keyEnc || rec.ValueEncoding != tt.valueEnc {
				t.Errorf("encodings %q, %q; want %q, %q", rec.KeyEncoding, rec.ValueEncoding, tt.keyEnc, tt.valueEnc)
			}
			if (rec.Key == nil) != (tt.key == nil) || (rec.Value == nil) != (tt.value == nil) {
				t.Errorf("null key/value not kept: key %v, value %v", rec.Key, rec.Value)
			}
			if rec.ValueBytes != len(tt.value) || rec.ValueTruncated || rec.ValueSHA256 != "" {
				t.Errorf("value_bytes %d, truncated %v, sha256 %q", rec.ValueBytes, rec.ValueTruncated, rec.ValueSHA256)
			}
			key, err := rec.KeyBytes()
			if err != nil || !sameBytes(key, tt.key) {
				t.Errorf("KeyBytes = %q, %v; want %q", key, err, tt.key)
			}
			value, err := rec.ValueBytesDecoded()
			if err != nil || !sameBytes(value, tt.value) {
				t.Errorf("ValueBytesDecoded = %q, %v; want %q", value, err, tt.value)
			}
			if len(rec.Headers) != len(tt.headers) {
				t.Fatalf("%d headers, want %d", len(rec.Headers), len(tt.headers))
			}
			for i, h := range rec.Headers {
				v, err := h.valueBytes()
				if err != nil || h.Key != tt.headers[i].Key || !sameBytes(v, tt.headers[i].Value) {
					t.Errorf("header %d = %q %q %v; want %q %q", i, h.Key, v, err, tt.headers[i].Key, tt.headers[i].Value)
				}
			}
		})
	}
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }

func TestDeadLetterTruncation(t *testing.T) {
	const MiB = 1 << 20
	escapes := strings.Repeat("\"\\\n\x01\u2028é😀<>&a", 2*MiB/24+1)
	tests := []struct {
		name     string
		value    []byte
		maxBytes int
		encoding string
		slack    int // the most the JSON may fall short of maxBytes
	}{
		{"2 MiB text into 1 MiB", bytes.Repeat([]byte("HuleEdu essay text. "), 2*MiB/20), MiB, "utf8", 0},
		{"2 MiB binary into 1 MiB", bytes.Repeat([]byte{0xff, 0x00, 0x7f, 0x80}, 2*MiB/4), MiB, "base64", 3},
		{"escape-heavy text", []byte(escapes), MiB, "utf8", 5},
		{"small limit", []byte(strings.Repeat("x", 5000)), 2000, "utf8", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := newDeadLetter(t, dlMessage([]byte("k"), tt.value, hdr("h", "v")), tt.maxBytes)
			if len(out) > tt.maxBytes || len(out) < tt.maxBytes-tt.slack {
				t.Fatalf("JSON has %d bytes, want %d-%d", len(out), tt.maxBytes-tt.slack, tt.maxBytes)
			}
			dl, err := DecodeDeadLetter(out)
			if err != nil {
				t.Fatal(err)
			}
			rec := &dl.OriginalEvent
			sum := sha256.Sum256(tt.value)
			if !rec.ValueTruncated || rec.ValueBytes != len(tt.value) || rec.ValueSHA256 != hex.EncodeToString(sum[:]) || rec.ValueEncoding != tt.encoding {
				t.Fatalf("truncated %v, value_bytes %d, sha256 %s, encoding %s", rec.ValueTruncated, rec.ValueBytes, rec.ValueSHA256, rec.ValueEncoding)
			}
			prefix, err := decodeBytes(rec.Value, rec.ValueEncoding)
			if err != nil {
				t.Fatal(err)
			}
			if len(prefix) == 0 || !bytes.HasPrefix(tt.value, prefix) {
				t.Fatalf("value is not a non-empty prefix of the original (%d bytes)", len(prefix))
			}
			if tt.encoding == "utf8" && !utf8.Valid(prefix) {
				t.Fatal("truncated text is not valid UTF-8")
			}
			if key, err := rec.KeyBytes(); err != nil || string(key) != "k" {
				t.Fatalf("KeyBytes = %q, %v", key, err)
			}
			_, err = rec.ValueBytesDecoded()
			wantErr := "dead record value: truncated, the original had " + strconv.Itoa(len(tt.value)) + " bytes (sha256 " + rec.ValueSHA256 + ")"
			if err == nil || err.Error() != wantErr {
				t.Fatalf("ValueBytesDecoded error %v, want %s", err, wantErr)
			}
		})
	}
}

func TestDeadLetterLimitBoundary(t *testing.T) {
	src := dlMessage([]byte("k"), []byte(strings.Repeat("v", 3000)))
	full := newDeadLetter(t, src, 0)
	if got := newDeadLetter(t, src, len(full)); !bytes.Equal(got, full) {
		t.Fatalf("a JSON of exactly maxBytes was changed:\n%s", got)
	}
	got := newDeadLetter(t, src, len(full)-1)
	dl, err := DecodeDeadLetter(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > len(full)-1 || !dl.OriginalEvent.ValueTruncated {
		t.Fatalf("one byte less: %d bytes, truncated %v", len(got), dl.OriginalEvent.ValueTruncated)
	}
}

func TestNewDeadLetterErrors(t *testing.T) {
	bigHeader := kafka.Header{Key: "big", Value: bytes.Repeat([]byte("h"), 4000)}
	tests := []struct {
		name     string
		src      *kafka.Message
		maxBytes int
		wantErr  string
	}{
		{"no message", nil, 0, "dead letter: no source message"},
		{"headers too big", dlMessage(nil, []byte("v"), bigHeader), 1000,
			"dead letter of huleedu.essay.submitted.v1 offset 1234: 4596 bytes even with an empty value, more than the 1000 allowed"},
		{"tombstone too big", dlMessage(nil, nil, bigHeader), 1000,
			"dead letter of huleedu.essay.submitted.v1 offset 1234: longer than 1000 bytes without a value to truncate"},
	}
	for _, tt := range tests {
		out, err := NewDeadLetter(tt.src, dlTarget, dlErr, "MSG_SIZE_TOO_LARGE", 3, "topic-migrator", dlNow, tt.maxBytes)
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: NewDeadLetter = %d bytes, error %v; want error %s", tt.name, len(out), err, tt.wantErr)
		}
	}
}

func TestDeadLetterDecodeErrors(t *testing.T) {
	if _, err := DecodeDeadLetter([]byte("nope")); err == nil || !strings.HasPrefix(err.Error(), "decode dead letter: ") {
		t.Errorf("DecodeDeadLetter(nope) error %v", err)
	}
	s := func(v string) *string { return &v }
	tests := []struct {
		name    string
		rec     *DeadRecord
		key     bool // test KeyBytes, else ValueBytesDecoded
		wantErr string
	}{
		{"unknown key encoding", &DeadRecord{Key: s("k"), KeyEncoding: "hex"}, true,
			`dead record key: unknown encoding "hex" (want "utf8" or "base64")`},
		{"bad key base64", &DeadRecord{Key: s("!!"), KeyEncoding: "base64"}, true,
			"dead record key: decode base64: illegal base64 data at input byte 0"},
		{"nil record key", nil, true, "dead record key: no record"},
		{"nil record value", nil, false, "dead record value: no record"},
		{"unknown value encoding", &DeadRecord{Value: s("v"), ValueEncoding: "", ValueBytes: 1}, false,
			`dead record value: unknown encoding "" (want "utf8" or "base64")`},
		{"length mismatch", &DeadRecord{Value: s("abc"), ValueEncoding: "utf8", ValueBytes: 4}, false,
			"dead record value: 3 bytes, value_bytes says 4"},
	}
	for _, tt := range tests {
		var err error
		if tt.key {
			_, err = tt.rec.KeyBytes()
		} else {
			_, err = tt.rec.ValueBytesDecoded()
		}
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.wantErr)
		}
	}
}
