package output

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode"

	"github.com/mattn/go-runewidth"
)

// LineWrapper writes text to a terminal, wrapping each line wider than the
// terminal with a hanging indent (under the text after the line's leading
// spaces and a short "Label: "); lines that fit, tables from a Printer
// among them, pass unchanged. A Printer writing through it sees the
// terminal behind it. With no width known it writes through.
type LineWrapper struct {
	w     io.Writer
	width int
	tty   bool
	mu    sync.Mutex
	buf   []byte
}

// NewLineWrapper returns a LineWrapper for w.
func NewLineWrapper(w io.Writer) *LineWrapper {
	width, tty := TerminalWidth(w)
	return &LineWrapper{w: w, width: width, tty: tty}
}

// Terminal reports the width and terminal-ness of the writer behind.
func (l *LineWrapper) Terminal() (width int, tty bool) { return l.width, l.tty }

// Write wraps the complete lines of p; a partial line waits for its end
// (or Flush).
func (l *LineWrapper) Write(p []byte) (int, error) {
	if l.width <= 0 {
		return l.w.Write(p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if _, err := io.WriteString(l.w, l.wrap(line)); err != nil {
			return 0, err
		}
	}
}

// Flush writes a pending partial line.
func (l *LineWrapper) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(l.w, strings.TrimSuffix(l.wrap(string(l.buf)), "\n"))
	l.buf = nil
	return err
}

func (l *LineWrapper) wrap(line string) string {
	if runewidth.StringWidth(line) <= l.width {
		return line + "\n"
	}
	hang := hangingIndent(line)
	if hang > l.width/2 {
		hang = 0
	}
	lines := Wrap(line[hang:], l.width-hang)
	lines[0] = line[:hang] + lines[0]
	for i := 1; i < len(lines); i++ {
		lines[i] = strings.Repeat(" ", hang) + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// hangingIndent is where a wrapped line's continuation starts: after its
// leading spaces and, when it starts with one, a short "Label: ".
func hangingIndent(line string) int {
	n := len(line) - len(strings.TrimLeft(line, " "))
	rest := line[n:]
	if i := strings.Index(rest, ": "); i > 0 && i <= 12 && !strings.ContainsFunc(rest[:i], unicode.IsSpace) {
		after := rest[i+1:] // the spaces that align the value
		n += i + 1 + len(after) - len(strings.TrimLeft(after, " "))
	}
	return n
}
