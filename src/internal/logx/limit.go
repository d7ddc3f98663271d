package logx

import (
	"sync"
	"time"
)

// Limiter bounds lines an outsider can cause at will, per key (a door
// name, or a kind of line): a burst passes, then Rate lines a second; the
// lines held back are counted and reported in one line, "KEY: N log lines
// suppressed", at most once a second per key. A key with nothing held back
// costs no timer. Safe for concurrent use.
type Limiter struct {
	log *Logger
	// A key's budget is time's worth of lines: each line costs every,
	// and at most full is saved up (burst lines). Integers: the first
	// knocks of a flood each take from a budget, and on 32-bit MIPS a
	// float's or a 64-bit division's arithmetic is a call into the
	// runtime's software routines (a third of the daemon's CPU at 200
	// first knocks a second on a 24Kc, when the budget was in float
	// lines).
	every, full time.Duration
	now         func() time.Time
	after       func(time.Duration, func()) // time.AfterFunc in production

	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	_          [0]func()     // not comparable: no equality function in the binary
	credit     time.Duration // saved up, at most full
	last       time.Time
	suppressed int
	armed      bool // a report of the suppressed count is scheduled
}

// maxKeys bounds the table: keys are door names and a few kinds of line,
// but a caller passing outsider-chosen keys must not grow it forever.
const maxKeys = 4096

// NewLimiter returns a limiter logging through l: burst lines at once, then
// rate lines a second, per key. now is the clock (time.Now when nil).
func NewLimiter(l *Logger, rate float64, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	every := time.Duration(float64(time.Second) / rate)
	return &Limiter{log: l, every: every, full: time.Duration(burst) * every, now: now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, keys: map[string]*bucket{}}
}

// Printf logs the line if key's budget allows it, else counts it.
func (m *Limiter) Printf(key, format string, args ...any) {
	if m.Allow(key) {
		m.log.Printf(format, args...)
	}
}

// DeferfAt logs as Logger.Deferf does, stamped at, when key's budget
// allows a line at that time.
func (m *Limiter) DeferfAt(key string, at time.Time, format string, args ...any) {
	if m.AllowAt(key, at) {
		m.log.Deferf(at, format, args...)
	}
}

// Allow takes one line from key's budget. When it returns false the line
// is counted as suppressed and must not be logged.
func (m *Limiter) Allow(key string) bool {
	return m.AllowAt(key, m.now())
}

// AllowAt is Allow for a caller that has read the clock already: now is
// the time of the line.
func (m *Limiter) AllowAt(key string, now time.Time) bool {
	m.mu.Lock()
	b := m.keys[key]
	if b == nil {
		if len(m.keys) >= maxKeys {
			m.keys = map[string]*bucket{}
		}
		b = &bucket{credit: m.full, last: now}
		m.keys[key] = b
	}
	return m.take(key, b, now)
}

// Budget is one key's budget, for a caller that takes from it often: no
// look-up of the key per line (hashing a string is a few hundred
// instructions on a 32-bit router's CPU, and a flood of first knocks
// takes two lines' worth a packet).
type Budget struct {
	m   *Limiter
	key string
	b   *bucket
}

// Budget returns key's budget. It is kept apart from the keys of Allow
// and Printf, with the same rate and burst.
func (m *Limiter) Budget(key string) *Budget {
	return &Budget{m: m, key: key, b: &bucket{credit: m.full, last: m.now()}}
}

// AllowAt takes one line from the budget at now, as Limiter.AllowAt.
func (g *Budget) AllowAt(now time.Time) bool {
	g.m.mu.Lock()
	return g.m.take(g.key, g.b, now)
}

// take takes a line from key's bucket b at now; m.mu is held, and
// unlocked on return.
func (m *Limiter) take(key string, b *bucket, now time.Time) bool {
	if dt := now.Sub(b.last); dt > 0 {
		if dt >= m.full-b.credit {
			b.credit = m.full
		} else {
			b.credit += dt
		}
	}
	b.last = now
	if b.credit >= m.every {
		b.credit -= m.every
		m.mu.Unlock()
		return true
	}
	b.suppressed++
	arm := !b.armed
	b.armed = true
	m.mu.Unlock()
	if arm {
		m.after(time.Second, func() { m.report(key, b) })
	}
	return false
}

// report logs the count suppressed from key's bucket b, and keeps
// reporting once a second while lines are still being held back.
func (m *Limiter) report(key string, b *bucket) {
	m.mu.Lock()
	n := b.suppressed
	b.suppressed = 0
	b.armed = n > 0
	m.mu.Unlock()
	if n == 0 {
		return
	}
	m.log.Printf("%s: %d log lines suppressed", key, n)
	m.after(time.Second, func() { m.report(key, b) })
}
