// Package clientconfig turns the migrator's connection flags and a
// Java-style client properties file (--command-config) into librdkafka
// configuration, and keeps the secrets in it out of logs and errors.
package clientconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Properties are client settings read from a Java-style properties file,
// in the order they were written.
type Properties struct {
	keys   []string
	values map[string]string
	// lines records where each key was set, for messages.
	lines map[string]int
	path  string
}

// Get returns the value of key and whether it is set.
func (p *Properties) Get(key string) (string, bool) {
	if p == nil {
		return "", false
	}
	v, ok := p.values[key]
	return v, ok
}

// Keys returns the keys in file order.
func (p *Properties) Keys() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.keys...)
}

// Set sets key to value, keeping the first position of a repeated key.
func (p *Properties) Set(key, value string) {
	if p.values == nil {
		p.values = map[string]string{}
		p.lines = map[string]int{}
	}
	if _, ok := p.values[key]; !ok {
		p.keys = append(p.keys, key)
	}
	p.values[key] = value
}

// LoadProperties reads a Java-style properties file such as Kafka's
// client.properties.
func LoadProperties(path string) (*Properties, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read command config: %w", err)
	}
	p, err := ParseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("command config %s: %w", path, err)
	}
	p.path = path
	return p, nil
}

// ParseProperties parses the java.util.Properties text format: "key=value",
// "key: value" or "key value" lines, '#' and '!' comments, '\' line
// continuations and the usual escapes (\t, \n, \uXXXX, ...).
func ParseProperties(data []byte) (*Properties, error) {
	p := &Properties{values: map[string]string{}, lines: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		start := lineNo
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for endsWithContinuation(line) && sc.Scan() {
			lineNo++
			line = line[:len(line)-1] + strings.TrimLeft(sc.Text(), " \t\f")
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		if key == "" {
			return nil, fmt.Errorf("line %d: a property has no name", start)
		}
		p.Set(key, value)
		p.lines[key] = start
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// endsWithContinuation reports whether line ends in an odd number of
// backslashes, which joins it with the next line.
func endsWithContinuation(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line into its unescaped key and value.
func splitProperty(line string) (string, string, error) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(line) {
		i = len(line)
	}
	rawKey, rest := line[:i], line[i:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	key, err := unescape(rawKey)
	if err != nil {
		return "", "", err
	}
	value, err := unescape(rest)
	if err != nil {
		return "", "", fmt.Errorf("property %q: %w", key, err)
	}
	return key, value, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\u escape")
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", fmt.Errorf("malformed \\u escape %q", s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
