// Package logxtest provides a logger that keeps its lines, for tests.
package logxtest

import (
	"strings"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// Recorder is a sink that keeps every line, for tests: logx.New(logx.Options{Verbose:
// rec}) or NewRecorder. Safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	lines []string
	part  string
}

// NewRecorder returns a logger whose messages (and debug lines, when debug
// is true) are kept by the returned Recorder.
func NewRecorder(debug bool) (*logx.Logger, *Recorder) {
	r := &Recorder{}
	o := logx.Options{Verbose: r}
	if debug {
		o.Debug = r
	}
	l, _ := logx.New(o)
	return l, r
}

// Write appends the lines of p.
func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.part + string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		r.lines = append(r.lines, s[:i])
		s = s[i+1:]
	}
	r.part = s
	return len(p), nil
}

// Lines returns a copy of the lines so far.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// String returns every line, each ended by a newline.
func (r *Recorder) String() string {
	var b strings.Builder
	for _, l := range r.Lines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Count returns how many lines contain s.
func (r *Recorder) Count(s string) int {
	n := 0
	for _, l := range r.Lines() {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// Has reports whether a line contains s.
func (r *Recorder) Has(s string) bool { return r.Count(s) > 0 }

// Wait waits until a line contains s, at most limit.
func (r *Recorder) Wait(s string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !r.Has(s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
