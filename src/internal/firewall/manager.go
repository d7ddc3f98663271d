package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// ManagerOptions configure a Manager. Zero values mean the defaults.
type ManagerOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// At returns a channel that fires once the clock reaches t (default:
	// a real timer). Tests pass a fake clock's At; an absolute time, unlike
	// a duration, cannot go stale if the fake clock moves between the
	// reading of Now and the arming of the timer.
	At func(t time.Time) <-chan time.Time
	// Log receives one line per notable event (reassert repairs, errors);
	// nil discards them.
	Log *logx.Logger
	// OnExpire is called, outside the Manager's lock, for each grant that
	// expired. It must not block for long.
	OnExpire func(Grant)
	// ReassertEvery is the period of the reassert check while grants are
	// active (default 5 s; negative disables it).
	ReassertEvery time.Duration
	// CloseTimeout bounds Close (default 10 s).
	CloseTimeout time.Duration
	// MaxGrants bounds the number of active grants (default 1024); further
	// grants fail with ErrTooMany.
	MaxGrants int
}

// Manager owns the active grants of one backend: it merges and extends
// them, removes them when they expire, re-asserts them after firewall
// reloads and revokes them on Close. It is safe for concurrent use.
type Manager struct {
	b     Backend
	opt   ManagerOptions
	wake  chan struct{}
	done  chan struct{}
	close sync.Once

	mu           sync.Mutex
	closed       bool
	grants       map[grantKey]*Grant
	atoms        map[atomKey]*atomState
	nextReassert time.Time
	lastErr      string
}

type grantKey struct {
	door string
	src  netip.Addr
}

type atomState struct {
	_        [0]func() // not comparable: no equality function in the binary
	a        atom
	door     string
	until    time.Time
	removing bool      // expired, removal failed, retrying
	retryAt  time.Time // next removal attempt
	backoff  time.Duration
}

// NewManager returns a Manager driving b, which must already be
// initialised (Backend.Init).
func NewManager(b Backend, opt ManagerOptions) *Manager {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ReassertEvery == 0 {
		opt.ReassertEvery = 5 * time.Second
	}
	if opt.CloseTimeout <= 0 {
		opt.CloseTimeout = 10 * time.Second
	}
	if opt.MaxGrants <= 0 {
		opt.MaxGrants = 1024
	}
	return &Manager{
		b:      b,
		opt:    opt,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		grants: make(map[grantKey]*Grant),
		atoms:  make(map[atomKey]*atomState),
	}
}

// Grant gives src what s opens for d, on behalf of door. A grant repeated
// while active (same door and source) is extended; firewall rules are
// never duplicated, also when several doors open the same port.
//
// Forwards to a LAN host of another address family than src cannot be
// made; they are skipped and reported with an error wrapping ErrFamily
// while the rest of the grant is made. When the backend fails otherwise,
// the error is returned but the grant is kept: the periodic reassert
// retries it. until is the zero time when nothing was granted.
//
// Grant is long because its steps (what to add, what to extend, the
// backend call, the bookkeeping after it) run under one hold of m.mu and
// share its state: split, each part would need that state and the rule
// that m.mu is held.
func (m *Manager) Grant(door string, src netip.Addr, s Spec, d time.Duration) (until time.Time, err error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("grant %s for %v: duration must be positive", src, d)
	}
	if err := s.Validate(); err != nil {
		return time.Time{}, err
	}
	src = src.Unmap()
	if !src.IsValid() || src.Zone() != "" {
		return time.Time{}, fmt.Errorf("grant: invalid source address %q", src)
	}
	var errs []error
	var want []atom
	for _, a := range atoms(src, s) {
		if a.fwd && a.to.Addr().Is4() != src.Is4() {
			errs = append(errs, fmt.Errorf("door %s: skipped forward %s to %s for %s: %w",
				door, a.port, a.to, src, ErrFamily))
			continue
		}
		want = append(want, a)
	}
	if len(want) == 0 {
		return time.Time{}, errors.Join(errs...)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return time.Time{}, ErrClosed
	}
	gk := grantKey{door, src}
	if _, ok := m.grants[gk]; !ok && len(m.grants) >= m.opt.MaxGrants {
		return time.Time{}, fmt.Errorf("grant %s for door %s: %w (%d)", src, door, ErrTooMany, m.opt.MaxGrants)
	}
	now := m.opt.Now()
	until = now.Add(d)
	wasIdle := len(m.atoms) == 0

	var add, stale []atom
	for _, a := range want {
		st := m.atoms[a.key()]
		switch {
		case st == nil || st.removing:
			add = append(add, a)
		case st.a != a:
			stale = append(stale, st.a)
			add = append(add, a)
		case until.Sub(st.until) >= minExtension:
			// A repeated knock extends the grant; extensions shorter than
			// minExtension are not worth a firewall call (a replayed
			// knock storm would make one per knock otherwise).
			add = append(add, a)
		}
	}
	if len(stale) > 0 {
		if err := m.b.Remove(Grant{Door: door, Src: src, Spec: specOf(stale)}); err != nil {
			errs = append(errs, fmt.Errorf("replace %s: %w", src, err))
		}
	}
	if len(add) > 0 {
		err := m.b.Add(Grant{Door: door, Src: src, Spec: specOf(add), Until: until})
		if errors.Is(err, ErrFamily) {
			return time.Time{}, errors.Join(append(errs, err)...)
		}
		if err != nil {
			errs = append(errs, err)
		}
		for _, a := range add {
			m.atoms[a.key()] = &atomState{a: a, door: door, until: until}
		}
	}
	g := m.grants[gk]
	if g == nil {
		g = &Grant{Door: door, Src: src}
		m.grants[gk] = g
	}
	g.Spec = specOf(want)
	// The grant lasts as long as its longest-lived atom.
	for _, a := range want {
		if st := m.atoms[a.key()]; st != nil && st.until.After(g.Until) {
			g.Until = st.until
		}
	}
	if wasIdle {
		// First grant after an idle period: next check one period away.
		m.nextReassert = now.Add(m.opt.ReassertEvery)
	}
	m.poke()
	return g.Until, errors.Join(errs...)
}

// Revoke closes the grant of door for src now (its rules removed, as at
// expiry); it returns how many grants it closed.
func (m *Manager) Revoke(door string, src netip.Addr) (int, error) {
	src = src.Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	g := m.grants[grantKey{door, src}]
	if g == nil {
		return 0, nil
	}
	delete(m.grants, grantKey{door, src})
	var as []atom
	for k, st := range m.atoms {
		if st.door == door && st.a.src == src {
			as = append(as, st.a)
			delete(m.atoms, k)
		}
	}
	if len(as) == 0 {
		return 1, nil
	}
	sortAtoms(as)
	if err := m.b.Remove(Grant{Door: door, Src: src, Spec: specOf(as)}); err != nil {
		// Keep retrying the removal as for an expired grant.
		now := m.opt.Now()
		for _, a := range as {
			m.atoms[a.key()] = &atomState{a: a, door: door, until: now, removing: true, retryAt: now.Add(time.Second), backoff: time.Second}
		}
		m.poke()
		return 1, fmt.Errorf("%s: revoke %s of door %s: %w", m.b.Name(), src, door, err)
	}
	return 1, nil
}

// Active returns the active grants, ordered by expiry.
func (m *Manager) Active() []Grant {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opt.Now()
	out := make([]Grant, 0, len(m.grants))
	for _, g := range m.grants {
		if g.Until.After(now) {
			out = append(out, *g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Until.Equal(out[j].Until) {
			return out[i].Until.Before(out[j].Until)
		}
		if out[i].Door != out[j].Door {
			return out[i].Door < out[j].Door
		}
		return out[i].Src.Less(out[j].Src)
	})
	return out
}
