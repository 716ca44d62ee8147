package bridge

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestOriginRoundTrip(t *testing.T) {
	long := strings.Repeat("a", 249)
	tests := []struct {
		origin Origin
		want   string
	}{
		{Origin{"huleedu.essay.submitted.v1", 3, 42}, "huleedu.essay.submitted.v1/3/42"},
		{Origin{"t", 0, 0}, "t/0/0"},
		{Origin{"Az09._-", math.MaxInt32, math.MaxInt64}, "Az09._-/2147483647/9223372036854775807"},
		{Origin{"...", 1, 2}, ".../1/2"},
		{Origin{long, 7, 8}, long + "/7/8"},
	}
	for _, tt := range tests {
		if got := tt.origin.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.origin, got, tt.want)
		}
		got, err := ParseOrigin([]byte(tt.want))
		if err != nil {
			t.Errorf("ParseOrigin(%q): %v", tt.want, err)
			continue
		}
		if got != tt.origin {
			t.Errorf("ParseOrigin(%q) = %#v, want %#v", tt.want, got, tt.origin)
		}
	}
}

func TestParseOriginRefusesMalformed(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		in, wantErr string
	}{
		{"", `invalid origin "": want "<topic>/<partition>/<offset>"`},
		{"t", `invalid origin "t": want "<topic>/<partition>/<offset>"`},
		{"t/1", `invalid origin "t/1": want "<topic>/<partition>/<offset>"`},
		{"t/1/2/3", `invalid origin "t/1/2/3": want "<topic>/<partition>/<offset>"`},
		{"a/b/1/2", `invalid origin "a/b/1/2": want "<topic>/<partition>/<offset>"`},
		{"//", `invalid origin "//": topic is empty`},
		{"/1/2", `invalid origin "/1/2": topic is empty`},
		{"./1/2", `invalid origin "./1/2": topic "." is not a legal topic name`},
		{"../1/2", `invalid origin "../1/2": topic ".." is not a legal topic name`},
		{"a b/1/2", `invalid origin "a b/1/2": topic "a b" has illegal character " " (legal: a-z A-Z 0-9 . _ -)`},
		{"t:x/1/2", `invalid origin "t:x/1/2": topic "t:x" has illegal character ":" (legal: a-z A-Z 0-9 . _ -)`},
		{"t\xff/1/2", `invalid origin "t\xff/1/2": topic "t\xff" has illegal character "\xff" (legal: a-z A-Z 0-9 . _ -)`},
		{long + "/1/2", `invalid origin "` + long + `/1/2": topic is longer than 249 characters`},
		{"t//2", `invalid origin "t//2": partition "": not a decimal integer >= 0`},
		{"t/1/", `invalid origin "t/1/": offset "": not a decimal integer >= 0`},
		{"t/-1/2", `invalid origin "t/-1/2": partition "-1": not a decimal integer >= 0`},
		{"t/+1/2", `invalid origin "t/+1/2": partition "+1": not a decimal integer >= 0`},
		{"t/1/-2", `invalid origin "t/1/-2": offset "-2": not a decimal integer >= 0`},
		{"t/x/2", `invalid origin "t/x/2": partition "x": not a decimal integer >= 0`},
		{"t/1/2x", `invalid origin "t/1/2x": offset "2x": not a decimal integer >= 0`},
		{"t/1/ 2", `invalid origin "t/1/ 2": offset " 2": not a decimal integer >= 0`},
		{"t/1/2\n", `invalid origin "t/1/2\n": offset "2\n": not a decimal integer >= 0`},
		{"t/1.5/2", `invalid origin "t/1.5/2": partition "1.5": not a decimal integer >= 0`},
		{"t/01/2", `invalid origin "t/01/2": partition "01": leading zeros are not allowed`},
		{"t/1/00", `invalid origin "t/1/00": offset "00": leading zeros are not allowed`},
		{"t/2147483648/0", `invalid origin "t/2147483648/0": partition "2147483648": out of range (max 2147483647)`},
		{"t/0/9223372036854775808", `invalid origin "t/0/9223372036854775808": offset "9223372036854775808": out of range (max 9223372036854775807)`},
		{"t/0/99999999999999999999", `invalid origin "t/0/99999999999999999999": offset "99999999999999999999": out of range (max 9223372036854775807)`},
		{strings.Repeat("a", 281), `invalid origin: 281 bytes, longer than the longest legal origin (280 bytes)`},
	}
	for _, tt := range tests {
		got, err := ParseOrigin([]byte(tt.in))
		if err == nil {
			t.Errorf("ParseOrigin(%q) = %#v, want error %q", tt.in, got, tt.wantErr)
			continue
		}
		if err.Error() != tt.wantErr {
			t.Errorf("ParseOrigin(%q) error\n got %s\nwant %s", tt.in, err, tt.wantErr)
		}
	}
}

func TestParseOriginLongestLegal(t *testing.T) {
	o := Origin{strings.Repeat("z", 249), math.MaxInt32, math.MaxInt64}
	s := o.String()
	if len(s) != maxOriginLen {
		t.Fatalf("longest origin has %d bytes, maxOriginLen is %d", len(s), maxOriginLen)
	}
	if got, err := ParseOrigin([]byte(s)); err != nil || got != o {
		t.Fatalf("ParseOrigin(longest) = %#v, %v", got, err)
	}
}

func TestOriginOf(t *testing.T) {
	tests := []struct {
		name    string
		headers []kafka.Header
		want    Origin
		wantOK  bool
	}{
		{"none", nil, Origin{}, false},
		{"other headers only", []kafka.Header{{Key: "a", Value: []byte("t/1/2")}}, Origin{}, false},
		{"one", []kafka.Header{{Key: HeaderOrigin, Value: []byte("t/1/2")}}, Origin{"t", 1, 2}, true},
		{"last wins", []kafka.Header{
			{Key: HeaderOrigin, Value: []byte("a/1/2")},
			{Key: HeaderOrigin, Value: []byte("b/3/4")},
		}, Origin{"b", 3, 4}, true},
		{"last that parses", []kafka.Header{
			{Key: HeaderOrigin, Value: []byte("a/1/2")},
			{Key: HeaderOrigin, Value: []byte("garbage")},
			{Key: HeaderOrigin, Value: nil},
		}, Origin{"a", 1, 2}, true},
		{"name in other case", []kafka.Header{{Key: "x-migrator-origin", Value: []byte("t/5/6")}}, Origin{"t", 5, 6}, true},
		{"only malformed", []kafka.Header{{Key: HeaderOrigin, Value: []byte("t/-1/2")}}, Origin{}, false},
	}
	for _, tt := range tests {
		got, ok := OriginOf(tt.headers)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: OriginOf = %#v, %v; want %#v, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestAddedHeaders(t *testing.T) {
	want := []string{"X-Migrator-Origin", "X-Correlation-Id", "X-Idempotency-Key", "X-Original-Timestamp", "X-Retry-Count", "X-Max-Retries", "X-Backoff-Ms"}
	if !reflect.DeepEqual(AddedHeaders, want) {
		t.Fatalf("AddedHeaders = %q, want %q", AddedHeaders, want)
	}
}

// hdr is a header for tables.
func hdr(key, value string) kafka.Header { return kafka.Header{Key: key, Value: []byte(value)} }

const testEnvelope = `{"event_id":"0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f","event_type":"huleedu.essay.spellcheck.completed.v1",` +
	`"event_timestamp":"2026-11-26T12:00:00Z","source_service":"spellchecker_service",` +
	`"correlation_id":"c0ffee00-1111-2222-3333-444455556666","data":{"batch_id":"b1","nested":{"event_id":"WRONG"}},"metadata":{}}`

func TestCopyHeaders(t *testing.T) {
	origin := Origin{"huleedu.essay.submitted.v1", 2, 1234}
	originHdr := hdr(HeaderOrigin, "huleedu.essay.submitted.v1/2/1234")
	ts := time.Date(2026, 11, 26, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	enrich := HeaderPolicy{Enrich: true}
	defaults := []kafka.Header{hdr(HeaderRetryCount, "0"), hdr(HeaderMaxRetries, "3"), hdr(HeaderBackoffMs, "1000,5000,15000")}
	binary := []byte{0x00, 0xff, 0xfe, '\n', 0x80}

	// with builds the expected headers from parts.
	with := func(parts ...any) []kafka.Header {
		var out []kafka.Header
		for _, p := range parts {
			switch p := p.(type) {
			case kafka.Header:
				out = append(out, p)
			case []kafka.Header:
				out = append(out, p...)
			}
		}
		return out
	}

	tests := []struct {
		name   string
		policy HeaderPolicy
		msg    kafka.Message
		want   []kafka.Header
	}{
		{
			name:   "no enrichment: headers in order, duplicates and binary kept, origin added",
			policy: HeaderPolicy{},
			msg: kafka.Message{Value: []byte(testEnvelope), Timestamp: ts, Headers: []kafka.Header{
				hdr("b", "1"), {Key: "bin", Value: binary}, hdr("b", "2"), {Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}, hdr("a", "3"),
			}},
			want: with(hdr("b", "1"), kafka.Header{Key: "bin", Value: binary}, hdr("b", "2"), kafka.Header{Key: "null"}, kafka.Header{Key: "empty", Value: []byte{}}, hdr("a", "3"), originHdr),
		},
		{
			name:   "no enrichment, no headers",
			policy: HeaderPolicy{},
			msg:    kafka.Message{},
			want:   with(originHdr),
		},
		{
			name:   "old origin replaced by the new one at the end",
			policy: HeaderPolicy{},
			msg: kafka.Message{Headers: []kafka.Header{
				hdr(HeaderOrigin, "older.v1/0/1"), hdr("k", "v"), hdr("x-migrator-origin", "old.v1/1/9"),
			}},
			want: with(hdr("k", "v"), originHdr),
		},
		{
			name:   "envelope: event_id and correlation_id used",
			policy: enrich,
			msg:    kafka.Message{Value: []byte(testEnvelope), Timestamp: ts, Headers: []kafka.Header{hdr("k", "v")}},
			want: with(hdr("k", "v"),
				hdr(HeaderCorrelationID, "c0ffee00-1111-2222-3333-444455556666"),
				hdr(HeaderIdempotencyKey, "0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f"),
				hdr(HeaderOriginalTimestamp, "2026-11-26T12:00:00.123Z"),
				defaults, originHdr),
		},
		{
			name:   "not JSON: idempotency key is the origin, no correlation id",
			policy: enrich,
			msg:    kafka.Message{Value: binary, Timestamp: ts},
			want: with(hdr(HeaderIdempotencyKey, "huleedu.essay.submitted.v1/2/1234"),
				hdr(HeaderOriginalTimestamp, "2026-11-26T12:00:00.123Z"), defaults, originHdr),
		},
		{
			name:   "tombstone without timestamp",
			policy: enrich,
			msg:    kafka.Message{},
			want:   with(hdr(HeaderIdempotencyKey, "huleedu.essay.submitted.v1/2/1234"), defaults, originHdr),
		},
		{
			name:   "envelope with empty and non-string ids",
			policy: enrich,
			msg:    kafka.Message{Value: []byte(`{"event_id":"","correlation_id":42}`)},
			want:   with(hdr(HeaderIdempotencyKey, "huleedu.essay.submitted.v1/2/1234"), defaults, originHdr),
		},
		{
			name:   "escaped ids are decoded",
			policy: enrich,
			msg:    kafka.Message{Value: []byte(`{"correlation_id":"caf\u00e9","event_id":"a\"b"}`)},
			want: with(hdr(HeaderCorrelationID, "café"), hdr(HeaderIdempotencyKey, `a"b`),
				defaults, originHdr),
		},
		{
			name:   "existing standard headers, in other case too, never overwritten nor duplicated",
			policy: HeaderPolicy{Enrich: true, MaxRetries: "9", BackoffMs: "1"},
			msg: kafka.Message{Value: []byte(testEnvelope), Timestamp: ts, Headers: []kafka.Header{
				hdr("x-correlation-id", "mine"), hdr("X-IDEMPOTENCY-KEY", "k1"), hdr(HeaderOriginalTimestamp, "t0"),
				hdr("x-retry-count", "2"), hdr(HeaderMaxRetries, "5"), hdr("X-Backoff-MS", "10"),
			}},
			want: with(hdr("x-correlation-id", "mine"), hdr("X-IDEMPOTENCY-KEY", "k1"), hdr(HeaderOriginalTimestamp, "t0"),
				hdr("x-retry-count", "2"), hdr(HeaderMaxRetries, "5"), hdr("X-Backoff-MS", "10"), originHdr),
		},
		{
			name:   "some existing: only the missing ones added, policy values used",
			policy: HeaderPolicy{Enrich: true, MaxRetries: "5", BackoffMs: "100,200"},
			msg: kafka.Message{Value: []byte(testEnvelope), Headers: []kafka.Header{
				hdr("X-Correlation-ID", "mine"), hdr("x-retry-count", "1"),
			}},
			want: with(hdr("X-Correlation-ID", "mine"), hdr("x-retry-count", "1"),
				hdr(HeaderIdempotencyKey, "0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f"),
				hdr(HeaderMaxRetries, "5"), hdr(HeaderBackoffMs, "100,200"), originHdr),
		},
		{
			name:   "a name that only folds with Unicode rules is not a standard header",
			policy: enrich,
			msg:    kafka.Message{Headers: []kafka.Header{hdr("X-Bac\u212aoff-Ms", "x")}},
			want: with(hdr("X-Bac\u212aoff-Ms", "x"), hdr(HeaderIdempotencyKey, "huleedu.essay.submitted.v1/2/1234"),
				defaults, originHdr),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneHeaders(tt.msg.Headers)
			got := tt.policy.CopyHeaders(&tt.msg, origin)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CopyHeaders\n got %s\nwant %s", fmtHeaders(got), fmtHeaders(tt.want))
			}
			if !reflect.DeepEqual(tt.msg.Headers, before) {
				t.Errorf("src headers changed:\n got %s\nwant %s", fmtHeaders(tt.msg.Headers), fmtHeaders(before))
			}
		})
	}
}

func TestCopyHeadersDoesNotAlias(t *testing.T) {
	headers := make([]kafka.Header, 2, 16) // room to append in place
	headers[0], headers[1] = hdr("a", "1"), hdr("b", "2")
	src := &kafka.Message{Value: []byte(testEnvelope), Timestamp: time.Unix(1, 0), Headers: headers}
	before := cloneHeaders(src.Headers)

	for _, p := range []HeaderPolicy{{}, {Enrich: true}} {
		got := p.CopyHeaders(src, Origin{"t", 0, 1})
		got = append(got, hdr("appended", "x"))
		got[0] = hdr("changed", "y")
		if !reflect.DeepEqual(src.Headers, before) || !reflect.DeepEqual(src.Headers[:cap(src.Headers)][2], kafka.Header{}) {
			t.Fatalf("enrich=%v: src.Headers changed through the result: %s", p.Enrich, fmtHeaders(src.Headers[:3]))
		}
	}

	// Added values share a buffer: appending to one must not change the next.
	got := HeaderPolicy{Enrich: true}.CopyHeaders(src, Origin{"t", 0, 1})
	want := cloneHeaders(got)
	for i := range got {
		_ = append(got[i].Value, "XXXXXXXXXXXXXXXXXXXX"...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("appending to a value changed another:\n got %s\nwant %s", fmtHeaders(got), fmtHeaders(want))
	}
}

func TestCopyHeadersNilMessage(t *testing.T) {
	got := HeaderPolicy{Enrich: true}.CopyHeaders(nil, Origin{"t", 1, 2})
	want := []kafka.Header{hdr(HeaderIdempotencyKey, "t/1/2"), hdr(HeaderRetryCount, "0"), hdr(HeaderMaxRetries, "3"),
		hdr(HeaderBackoffMs, "1000,5000,15000"), hdr(HeaderOrigin, "t/1/2")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CopyHeaders(nil)\n got %s\nwant %s", fmtHeaders(got), fmtHeaders(want))
	}
}

func TestCopyHeadersTimestampFormat(t *testing.T) {
	tests := []struct {
		ts   time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 12, 0, 0, 123000000, time.UTC), "2026-11-26T12:00:00.123Z"},
		{time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), "2026-11-26T12:00:00.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), "2026-01-02T03:04:05.999Z"},
		{time.Date(2026, 11, 27, 1, 0, 0, 5000000, time.FixedZone("X", 14*3600)), "2026-11-26T11:00:00.005Z"},
		{time.UnixMilli(1764158400123), "2025-11-26T12:00:00.123Z"},
		{time.Unix(0, 0), "1970-01-01T00:00:00.000Z"},
	}
	for _, tt := range tests {
		got := HeaderPolicy{Enrich: true}.CopyHeaders(&kafka.Message{Timestamp: tt.ts}, Origin{"t", 0, 0})
		var v []byte
		for _, h := range got {
			if h.Key == HeaderOriginalTimestamp {
				v = h.Value
			}
		}
		if string(v) != tt.want {
			t.Errorf("timestamp %v: header %q, want %q", tt.ts, v, tt.want)
		}
	}
}

func TestASCIIEqualFold(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"X-Retry-Count", "x-retry-count", true},
		{"X-RETRY-COUNT", "x-retry-count", true},
		{"X-Retry-Count", "X-Retry-Coun", false},
		{"X-Retry-Count", "X-Retry-Counu", false},
		{"a@", "A`", false}, // '@' and '`' are not letters
		{"[", "{", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := asciiEqualFold(tt.a, tt.b); got != tt.want {
			t.Errorf("asciiEqualFold(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func cloneHeaders(hs []kafka.Header) []kafka.Header {
	if hs == nil {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key}
		if h.Value != nil {
			out[i].Value = bytes.Clone(h.Value)
		}
	}
	return out
}

func fmtHeaders(hs []kafka.Header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		if h.Value == nil {
			parts[i] = fmt.Sprintf("%s=<nil>", h.Key)
		} else {
			parts[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// benchEnvelope is a HuleEdu-like envelope of about 1 KiB.
var benchEnvelope = []byte(`{"event_id":"0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f",` +
	`"event_type":"huleedu.essay.spellcheck.completed.v1","event_timestamp":"2026-11-26T12:00:00.123456Z",` +
	`"source_service":"spellchecker_service","correlation_id":"c0ffee00-1111-2222-3333-444455556666",` +
	`"data":{"batch_id":"b-7f3e2a10","essay_id":"e-0042","entity_ref":{"entity_id":"e-0042","entity_type":"essay","parent_id":"b-7f3e2a10"},` +
	`"status":"spellchecked_success","system_metadata":{"entity":{"entity_id":"e-0042","entity_type":"essay"},` +
	`"timestamp":"2026-11-26T12:00:00.1Z","processing_stage":"completed","event":"spellcheck.completed"},` +
	`"original_text_storage_id":"st-8c1d3e5f7a9b","storage_metadata":{"references":{"corrected_text":{"default":` +
	`{"storage_id":"st-1a2b3c4d5e6f","path":"essays/b-7f3e2a10/e-0042/corrected.txt"}}}},"corrections_made":17,` +
	`"metrics":{"total_words":512,"unique_words":287,"misspelled":17,"ratio":0.0332,"languages":["en","sv"]},` +
	`"notes":"Spell-checked; \"proper nouns\" kept.",` +
	`"flags":[true,false,null],"scores":[1.5,-2e3,0,42]},"metadata":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}`)

func BenchmarkCopyHeaders(b *testing.B) {
	src := &kafka.Message{
		Value:     benchEnvelope,
		Key:       []byte("e-0042"),
		Timestamp: time.UnixMilli(1764158400123),
		Headers:   []kafka.Header{hdr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), hdr("content-type", "application/json"), hdr("schema-version", "1")},
	}
	p := HeaderPolicy{Enrich: true}
	origin := Origin{"huleedu.essay.spellcheck.completed.v1", 5, 123456789}
	b.SetBytes(int64(len(benchEnvelope)))
	b.ReportAllocs()
	for b.Loop() {
		p.CopyHeaders(src, origin)
	}
}

func BenchmarkCopyHeadersNoEnrich(b *testing.B) {
	src := &kafka.Message{
		Value:   benchEnvelope,
		Headers: []kafka.Header{hdr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), hdr("content-type", "application/json"), hdr("schema-version", "1")},
	}
	origin := Origin{"huleedu.essay.spellcheck.completed.v1", 5, 123456789}
	b.ReportAllocs()
	for b.Loop() {
		HeaderPolicy{}.CopyHeaders(src, origin)
	}
}
