package apphost

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/safetext"
)

// MaxLogSize bounds an app's log file: when a line would take it past this, the oldest half
// is dropped.
const MaxLogSize = 256 << 10

// appLog is an app's log, applogs/<component_id>.log: the app's stdout and stderr, its log
// calls and the host's notes about it, one timestamped line each.
type appLog struct {
	mu   sync.Mutex
	path string
	max  int64
	now  func() time.Time
	f    *os.File
	size int64
}

func newAppLog(path string, now func() time.Time) *appLog {
	return &appLog{path: path, max: MaxLogSize, now: now}
}

// line appends "TIME SOURCE: text" for each line of text. Errors are dropped: an app must not
// stop because its log cannot be written.
func (l *appLog) line(source, text string) {
	text = strings.TrimRight(text, "\n")
	var b bytes.Buffer
	ts := l.now().UTC().Format(time.RFC3339Nano)
	for _, ln := range strings.Split(text, "\n") {
		b.WriteString(ts)
		b.WriteByte(' ')
		b.WriteString(source)
		b.WriteString(": ")
		b.WriteString(ln)
		b.WriteByte('\n')
	}
	l.write(b.Bytes())
}

func (l *appLog) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if int64(len(p)) > l.max/2 {
		p = p[int64(len(p))-l.max/2:]
	}
	if l.f == nil && !l.open() {
		return
	}
	if l.size+int64(len(p)) > l.max {
		l.trim()
		if l.f == nil {
			return
		}
	}
	n, _ := l.f.Write(p)
	l.size += int64(n)
}

func (l *appLog) open() bool {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return false
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	l.f, l.size = f, fi.Size()
	return true
}

// trim keeps the newest half of the file, from a line start.
func (l *appLog) trim() {
	l.f.Close()
	l.f = nil
	b, err := state.ReadFile(l.path, 2*l.max)
	if err != nil {
		b = nil
	}
	if len(b) > int(l.max/2) {
		b = b[len(b)-int(l.max/2):]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	b = append([]byte(nil), b...)
	if err := state.WriteFile(l.path, b, 0o600); err != nil {
		os.Remove(l.path)
	}
	l.open()
}

func (l *appLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// stream is an io.Writer for the app's stdout or stderr: it cuts what the app writes into
// lines for the log, and remembers the first line that reports a Go panic or fatal error.
type stream struct {
	log    *appLog
	source string
	mu     sync.Mutex
	buf    []byte
	panic  string
}

const maxLine = 4096

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 && len(s.buf) < maxLine {
			break
		}
		if i < 0 || i > maxLine {
			i = min(len(s.buf), maxLine)
			s.emit(s.buf[:i])
			s.buf = s.buf[i:]
			continue
		}
		s.emit(s.buf[:i])
		s.buf = s.buf[i+1:]
	}
	s.buf = append([]byte(nil), s.buf...)
	return len(p), nil
}

func (s *stream) emit(b []byte) {
	ln := safetext.Block(string(b), 0)
	if s.panic == "" && (strings.HasPrefix(ln, "panic: ") || strings.HasPrefix(ln, "fatal error: ")) {
		s.panic = ln
	}
	s.log.line(s.source, ln)
}

// flush logs a last unterminated line and returns the panic line, if any.
func (s *stream) flush() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		s.emit(s.buf)
		s.buf = nil
	}
	return s.panic
}
