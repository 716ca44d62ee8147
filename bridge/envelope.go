package bridge

import (
	"encoding/json"
	"unicode/utf8"
)

// Envelope is what the bridge reads from a HuleEdu EventEnvelope value.
type Envelope struct {
	EventID       string // top-level "event_id"
	CorrelationID string // top-level "correlation_id"
}

// ParseEnvelope reads event_id and correlation_id, top-level string fields,
// from value when value is a JSON object; ok is false for anything else (not
// JSON, not an object, invalid UTF-8, nested deeper than encoding/json
// allows, trailing data ...). Fields with a non-string value are ignored;
// of duplicate keys the last string wins, as with encoding/json. Keys match
// exactly (case-sensitive) after unescaping.
//
// It validates the whole value in one pass without building it in memory.
func ParseEnvelope(value []byte) (Envelope, bool) {
	f, ok := scanEnvelope(value)
	if !ok {
		return Envelope{}, false
	}
	return Envelope{EventID: string(f.eventID), CorrelationID: string(f.correlationID)}, true
}

// envelopeFields are the unescaped fields scanEnvelope found. They alias
// the scanned value unless the JSON string had escapes.
type envelopeFields struct {
	eventID, correlationID []byte
}

// maxJSONDepth is encoding/json's nesting limit: a value nested deeper is
// not valid JSON to json.Valid.
const maxJSONDepth = 10000

// scanEnvelope is ParseEnvelope without copying the fields.
func scanEnvelope(value []byte) (envelopeFields, bool) {
	var f envelopeFields
	s := jsonScanner{data: value, depth: 1}
	s.skipSpace()
	if !s.consume('{') {
		return envelopeFields{}, false
	}
	s.skipSpace()
	if !s.consume('}') {
		for {
			s.skipSpace()
			key, escaped, ok := s.str()
			if !ok {
				return envelopeFields{}, false
			}
			if escaped {
				if key, ok = unquote(key); !ok {
					return envelopeFields{}, false
				}
			} else {
				key = key[1 : len(key)-1]
			}
			s.skipSpace()
			if !s.consume(':') {
				return envelopeFields{}, false
			}
			s.skipSpace()

			var field *[]byte
			switch string(key) {
			case "event_id":
				field = &f.eventID
			case "correlation_id":
				field = &f.correlationID
			}
			if field != nil && s.peek() == '"' {
				v, escaped, ok := s.str()
				if !ok {
					return envelopeFields{}, false
				}
				if escaped {
					if v, ok = unquote(v); !ok {
						return envelopeFields{}, false
					}
				} else {
					v = v[1 : len(v)-1]
				}
				*field = v
			} else if !s.value() {
				return envelopeFields{}, false
			}

			s.skipSpace()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return envelopeFields{}, false
		}
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return envelopeFields{}, false
	}
	return f, true
}

// unquote decodes the JSON string quoted, which has escapes, as
// encoding/json does (bad surrogates become U+FFFD).
func unquote(quoted []byte) ([]byte, bool) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// jsonScanner validates JSON (RFC 8259, UTF-8 only) in place.
type jsonScanner struct {
	data  []byte
	pos   int
	depth int // of the containers the scanner is in
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// consume skips the next byte when it is c and reports whether it was.
func (s *jsonScanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// skipSpace skips JSON whitespace.
func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value skips one JSON value and reports whether it was valid.
func (s *jsonScanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{' || c == '[':
		return s.container(c)
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// container skips an object (open is '{') or an array (open is '[').
func (s *jsonScanner) container(open byte) bool {
	s.depth++
	if s.depth > maxJSONDepth {
		return false
	}
	s.pos++
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	s.skipSpace()
	if s.consume(closing) {
		s.depth--
		return true
	}
	for {
		s.skipSpace()
		if open == '{' {
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.skipSpace()
			if !s.consume(':') {
				return false
			}
			s.skipSpace()
		}
		if !s.value() {
			return false
		}
		s.skipSpace()
		if s.consume(',') {
			continue
		}
		if s.consume(closing) {
			s.depth--
			return true
		}
		return false
	}
}

// plainStringByte tells the bytes that stand for themselves in a JSON
// string: printable ASCII but '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string and returns it with its quotes, and whether it has
// escapes.
func (s *jsonScanner) str() (quoted []byte, escaped, ok bool) {
	start := s.pos
	if !s.consume('"') {
		return nil, false, false
	}
	for {
		// The common bytes first, in a tight loop on a local index.
		data, i := s.data, s.pos
		for i < len(data) && plainStringByte[data[i]] {
			i++
		}
		s.pos = i
		if i == len(data) {
			return nil, false, false // unterminated
		}
		switch c := data[i]; {
		case c == '"':
			s.pos++
			return data[start:s.pos], escaped, true
		case c == '\\':
			escaped = true
			if !s.escape() {
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false // control characters must be escaped
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, false // invalid UTF-8
			}
			s.pos += size
		}
	}
}

// escape skips an escape sequence, at a backslash.
func (s *jsonScanner) escape() bool {
	if s.pos+1 >= len(s.data) {
		return false
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
		if s.pos+6 > len(s.data) {
			return false
		}
		for _, c := range s.data[s.pos+2 : s.pos+6] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
		s.pos += 6
		return true
	}
	return false
}

// number skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
	s.consume('-')
	if !s.consume('0') && !s.digits() {
		return false
	}
	if s.consume('.') && !s.digits() {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		return s.digits()
	}
	return true
}

// digits skips [0-9]+ and reports whether there was one.
func (s *jsonScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// literal skips word (true, false or null).
func (s *jsonScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}
