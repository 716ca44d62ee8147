package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// envelopeCases are ParseEnvelope's table; they also seed the fuzz test.
var envelopeCases = []struct {
	name  string
	value string
	want  Envelope
	ok    bool
}{
	{"HuleEdu envelope: top-level values only", testEnvelope,
		Envelope{"0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f", "c0ffee00-1111-2222-3333-444455556666"}, true},
	{"nested event_id only", `{"data":{"event_id":"WRONG","correlation_id":"WRONG"},"list":[{"event_id":"WRONG"}]}`, Envelope{}, true},
	{"empty object", `{}`, Envelope{}, true},
	{"whitespace around", " \t\r\n{ \"event_id\" : \"e\" , \"correlation_id\" :\n\"c\" } \n", Envelope{"e", "c"}, true},
	{"numbers for the fields", `{"event_id":1,"correlation_id":-2.5e3}`, Envelope{}, true},
	{"other non-strings for the fields", `{"event_id":null,"correlation_id":{"a":"b"},"x":[true,false]}`, Envelope{}, true},
	{"escaped unicode", `{"event_id":"caf\u00e9","correlation_id":"\ud83d\ude00"}`, Envelope{"café", "😀"}, true},
	{"escaped quote and backslash", `{"event_id":"a\"b\\c\/d\n"}`, Envelope{EventID: "a\"b\\c/d\n"}, true},
	{"lone surrogate becomes U+FFFD", `{"event_id":"\ud800x"}`, Envelope{EventID: "\ufffdx"}, true},
	{"escaped key", `{"event\u005fid":"e"}`, Envelope{EventID: "e"}, true},
	{"keys are case-sensitive", `{"Event_ID":"e","CORRELATION_ID":"c"}`, Envelope{}, true},
	{"duplicate keys: last wins", `{"event_id":"a","event_id":"b"}`, Envelope{EventID: "b"}, true},
	{"duplicate keys: last string wins over a later non-string", `{"event_id":"a","event_id":7,"event_id":null}`, Envelope{EventID: "a"}, true},
	{"empty string wins as last", `{"event_id":"a","event_id":""}`, Envelope{}, true},
	{"raw UTF-8", `{"event_id":"Ünïcödé ✓"}`, Envelope{EventID: "Ünïcödé ✓"}, true},
	{"all number forms", `{"a":[0,-0,1.0,1e5,1E+5,1e-5,-12.34e10]}`, Envelope{}, true},

	{"empty", ``, Envelope{}, false},
	{"whitespace only", " \n\t", Envelope{}, false},
	{"not JSON", `hello`, Envelope{}, false},
	{"array", `[{"event_id":"e"}]`, Envelope{}, false},
	{"string", `"event_id"`, Envelope{}, false},
	{"number", `42`, Envelope{}, false},
	{"null", `null`, Envelope{}, false},
	{"truncated", testEnvelope[:len(testEnvelope)/2], Envelope{}, false},
	{"truncated at the end", testEnvelope[:len(testEnvelope)-1], Envelope{}, false},
	{"unterminated string", `{"event_id":"e`, Envelope{}, false},
	{"invalid UTF-8 in a value", "{\"event_id\":\"\xff\"}", Envelope{}, false},
	{"invalid UTF-8 in a nested value", "{\"data\":{\"x\":\"a\xc3\"}}", Envelope{}, false},
	{"UTF-8 encoded surrogate", "{\"x\":\"\xed\xa0\x80\"}", Envelope{}, false},
	{"invalid UTF-8 outside strings", "{\"x\":1}\xff", Envelope{}, false},
	{"trailing data", `{"event_id":"e"} x`, Envelope{}, false},
	{"two objects", `{}{}`, Envelope{}, false},
	{"trailing comma", `{"event_id":"e",}`, Envelope{}, false},
	{"missing colon", `{"event_id" "e"}`, Envelope{}, false},
	{"missing comma", `{"a":1 "b":2}`, Envelope{}, false},
	{"unquoted key", `{event_id:"e"}`, Envelope{}, false},
	{"single quotes", `{'event_id':'e'}`, Envelope{}, false},
	{"control character in string", "{\"event_id\":\"a\tb\"}", Envelope{}, false},
	{"bad escape", `{"event_id":"\x41"}`, Envelope{}, false},
	{"short unicode escape", `{"event_id":"\u12"}`, Envelope{}, false},
	{"leading zero", `{"a":01}`, Envelope{}, false},
	{"bare minus", `{"a":-}`, Envelope{}, false},
	{"dot without digits", `{"a":1.}`, Envelope{}, false},
	{"exponent without digits", `{"a":1e}`, Envelope{}, false},
	{"plus sign", `{"a":+1}`, Envelope{}, false},
	{"bad literal", `{"a":tru}`, Envelope{}, false},
	{"literal with suffix", `{"a":nullx}`, Envelope{}, false},
	{"unclosed nested", `{"a":{"b":[1,2}}`, Envelope{}, false},
	{"array trailing comma", `{"a":[1,]}`, Envelope{}, false},
	{"NaN", `{"a":NaN}`, Envelope{}, false},
}

func TestParseEnvelope(t *testing.T) {
	for _, tt := range envelopeCases {
		got, ok := ParseEnvelope([]byte(tt.value))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: ParseEnvelope(%q) = %#v, %v; want %#v, %v", tt.name, tt.value, got, ok, tt.want, tt.ok)
		}
		if ok && !json.Valid([]byte(tt.value)) {
			t.Errorf("%s: ok for a value json.Valid refuses", tt.name)
		}
		// The reference implementation agrees.
		if ref, refOK := parseEnvelopeTokens([]byte(tt.value)); ref != got || refOK != ok {
			t.Errorf("%s: reference = %#v, %v; ParseEnvelope = %#v, %v", tt.name, ref, refOK, got, ok)
		}
	}
}

func TestParseEnvelopeDepth(t *testing.T) {
	// encoding/json allows 10000 levels of nesting, the top object included.
	for _, depth := range []int{2, maxJSONDepth - 1, maxJSONDepth, maxJSONDepth + 1, 3 * maxJSONDepth} {
		inner := depth - 1
		v := []byte(`{"a":` + strings.Repeat("[", inner) + strings.Repeat("]", inner) + `,"event_id":"e"}`)
		_, ok := ParseEnvelope(v)
		if want := json.Valid(v); ok != want {
			t.Errorf("depth %d: ok = %v, json.Valid = %v", depth, ok, want)
		}
		if want := depth <= maxJSONDepth; ok != want {
			t.Errorf("depth %d: ok = %v, want %v", depth, ok, want)
		}
	}
}

func TestBenchEnvelopeIsAbout1KiB(t *testing.T) {
	if n := len(benchEnvelope); n < 1000 || n > 1100 {
		t.Fatalf("benchEnvelope has %d bytes, want about 1 KiB", n)
	}
	env, ok := ParseEnvelope(benchEnvelope)
	want := Envelope{"0f8e6c1a-7d3b-4c55-9f0e-2b1a3c4d5e6f", "c0ffee00-1111-2222-3333-444455556666"}
	if !ok || env != want {
		t.Fatalf("ParseEnvelope(benchEnvelope) = %#v, %v", env, ok)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, tt := range envelopeCases {
		f.Add([]byte(tt.value))
	}
	f.Add(benchEnvelope)
	f.Fuzz(func(t *testing.T, value []byte) {
		got, ok := ParseEnvelope(value)
		if !ok {
			if got != (Envelope{}) {
				t.Fatalf("not ok but fields set: %#v", got)
			}
		} else if !json.Valid(value) {
			t.Fatalf("ok for %q, which json.Valid refuses", value)
		}
		// Where encoding/json accepts the value, the Decoder.Token
		// reference must agree.
		if json.Valid(value) && utf8.Valid(value) {
			ref, refOK := parseEnvelopeTokens(value)
			if ref != got || refOK != ok {
				t.Fatalf("%q: ParseEnvelope = %#v, %v; reference = %#v, %v", value, got, ok, ref, refOK)
			}
		}
	})
}

// parseEnvelopeTokens is ParseEnvelope with encoding/json's Decoder.Token:
// the reference of the tests and the alternative the benchmarks compare.
func parseEnvelopeTokens(value []byte) (Envelope, bool) {
	if !utf8.Valid(value) {
		return Envelope{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber() // numbers out of float64's range are still valid
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Envelope{}, false
	}
	var env Envelope
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Envelope{}, false
		}
		key, _ := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return Envelope{}, false
		}
		switch v := tok.(type) {
		case json.Delim:
			for depth := 1; depth > 0; {
				tok, err := dec.Token()
				if err != nil {
					return Envelope{}, false
				}
				switch tok {
				case json.Delim('{'), json.Delim('['):
					depth++
				case json.Delim('}'), json.Delim(']'):
					depth--
				}
			}
		case string:
			switch key {
			case "event_id":
				env.EventID = v
			case "correlation_id":
				env.CorrelationID = v
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Envelope{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return Envelope{}, false
	}
	return env, true
}

func BenchmarkParseEnvelope(b *testing.B) {
	b.SetBytes(int64(len(benchEnvelope)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseEnvelope(benchEnvelope); !ok {
			b.Fatal("not ok")
		}
	}
}

// BenchmarkParseEnvelopeTokenDecoder measures the Decoder.Token
// alternative, to compare with BenchmarkParseEnvelope.
func BenchmarkParseEnvelopeTokenDecoder(b *testing.B) {
	b.SetBytes(int64(len(benchEnvelope)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseEnvelopeTokens(benchEnvelope); !ok {
			b.Fatal("not ok")
		}
	}
}
