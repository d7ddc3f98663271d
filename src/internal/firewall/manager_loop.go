package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// The Manager's loop: expiries, periodic re-assertion, close.

// Run removes grants when they expire and periodically re-asserts the
// active ones, until ctx is cancelled or the Manager is closed. It returns
// nil then.
func (m *Manager) Run(ctx context.Context) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil
		}
		now := m.opt.Now()
		wait := m.nextWake(now)
		m.mu.Unlock()

		var fire <-chan time.Time
		if m.opt.At != nil {
			fire = m.opt.At(now.Add(wait))
		} else {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.done:
			return nil
		case <-m.wake:
			if timer != nil && !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-fire:
			m.tick()
		}
	}
}

// minExtension is the least extension of an active grant that is made in
// the firewall; a shorter one leaves the grant as it is.
const minExtension = time.Second

// idleWait is how long Run sleeps with nothing to do; a new grant wakes it.
const idleWait = time.Hour

// nextWake returns how long to sleep until the next expiry, removal retry
// or reassert. m.mu is held.
func (m *Manager) nextWake(now time.Time) time.Duration {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, st := range m.atoms {
		if st.removing {
			consider(st.retryAt)
		} else {
			consider(st.until)
		}
	}
	for _, g := range m.grants {
		consider(g.Until)
	}
	if len(m.atoms) > 0 && m.opt.ReassertEvery > 0 {
		consider(m.nextReassert)
	}
	if next.IsZero() {
		return idleWait
	}
	if d := next.Sub(now); d > 0 {
		return d
	}
	return 0
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// tick expires what is due and re-asserts when its period has passed.
func (m *Manager) tick() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	now := m.opt.Now()
	expired := m.sweep(now)
	if m.opt.ReassertEvery > 0 && !now.Before(m.nextReassert) {
		m.reassert()
		m.nextReassert = now.Add(m.opt.ReassertEvery)
	}
	m.mu.Unlock()
	if m.opt.OnExpire != nil {
		for _, g := range expired {
			m.opt.OnExpire(g)
		}
	}
}

// sweep removes expired atoms from the firewall and expired grants from
// the table, returning the latter. m.mu is held.
func (m *Manager) sweep(now time.Time) []Grant {
	type group struct {
		door string
		src  netip.Addr
	}
	due := map[group][]*atomState{}
	for _, st := range m.atoms {
		if st.removing && now.Before(st.retryAt) {
			continue
		}
		if !st.removing && st.until.After(now) {
			continue
		}
		k := group{st.door, st.a.src}
		due[k] = append(due[k], st)
	}
	keys := make([]group, 0, len(due))
	for k := range due {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := keys[i].src.Compare(keys[j].src); c != 0 {
			return c < 0
		}
		return keys[i].door < keys[j].door
	})
	for _, k := range keys {
		sts := due[k]
		as := make([]atom, len(sts))
		for i, st := range sts {
			as[i] = st.a
		}
		sortAtoms(as)
		err := m.b.Remove(Grant{Door: k.door, Src: k.src, Spec: specOf(as)})
		for _, st := range sts {
			if err == nil {
				delete(m.atoms, st.a.key())
				continue
			}
			st.removing = true
			if st.backoff == 0 {
				st.backoff = time.Second
			} else if st.backoff < time.Minute {
				st.backoff *= 2
			}
			st.retryAt = now.Add(st.backoff)
		}
		if err != nil {
			m.opt.Log.Printf("firewall: %s: removing expired grant of %s (door %s) failed, retrying: %v",
				m.b.Name(), k.src, k.door, err)
		}
	}
	var expired []Grant
	for k, g := range m.grants {
		if !g.Until.After(now) {
			expired = append(expired, *g)
			delete(m.grants, k)
		}
	}
	sort.Slice(expired, func(i, j int) bool { return expired[i].Until.Before(expired[j].Until) })
	return expired
}

// activeLocked returns the installed atoms that have not ended yet as
// grants, one per door, source and expiry. m.mu is held.
func (m *Manager) activeLocked() []Grant {
	type group struct {
		door  string
		src   netip.Addr
		until time.Time
	}
	now := m.opt.Now()
	by := map[group][]atom{}
	for _, st := range m.atoms {
		if st.removing || !st.until.After(now) {
			continue
		}
		k := group{st.door, st.a.src, st.until}
		by[k] = append(by[k], st.a)
	}
	out := make([]Grant, 0, len(by))
	for k, as := range by {
		sortAtoms(as)
		out = append(out, Grant{Door: k.door, Src: k.src, Spec: specOf(as), Until: k.until})
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Src.Compare(out[j].Src); c != 0 {
			return c < 0
		}
		if out[i].Door != out[j].Door {
			return out[i].Door < out[j].Door
		}
		return out[i].Until.Before(out[j].Until)
	})
	return out
}

// reassert asks the backend to check and restore the active grants,
// logging repairs and changes of error. m.mu is held.
func (m *Manager) reassert() {
	active := m.activeLocked()
	if len(active) == 0 {
		return
	}
	repaired, err := m.b.Reassert(active)
	switch {
	case err != nil:
		if msg := err.Error(); msg != m.lastErr {
			m.lastErr = msg
			m.opt.Log.Printf("firewall: %s: reassert failed: %v", m.b.Name(), err)
		}
	case repaired:
		m.lastErr = ""
		m.opt.Log.Printf("firewall: %s: restored %d active grant(s) after a firewall reload", m.b.Name(), len(active))
	case m.lastErr != "":
		m.lastErr = ""
		m.opt.Log.Printf("firewall: %s: reassert works again", m.b.Name())
	}
}

// Reassert runs the reassert check now (e.g. on SIGHUP or after a
// firewall-reload hook), whatever the period.
func (m *Manager) Reassert() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.reassert()
	m.nextReassert = m.opt.Now().Add(m.opt.ReassertEvery)
}

// Ensure makes the backend ready without removing anything: the backend's
// Ensure when it has one (fw4: creates missing sets and rules; its Init
// would also empty sets that grants were added to meanwhile), else Init.
// It is serialised with the Manager's other firewall calls; for a
// firewall that starts after the daemon.
func (m *Manager) Ensure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if e, ok := m.b.(interface{ Ensure() error }); ok {
		return e.Ensure()
	}
	return m.b.Init()
}

// Close revokes every grant (Backend.Close) within the close timeout and
// stops Run. Later grants fail with ErrClosed. Closing twice is a no-op.
func (m *Manager) Close() error {
	first := false
	m.close.Do(func() { first = true })
	if !first {
		return nil
	}
	m.mu.Lock()
	m.closed = true
	m.grants = map[grantKey]*Grant{}
	m.atoms = map[atomKey]*atomState{}
	close(m.done)
	m.mu.Unlock()

	res := make(chan error, 1)
	go func() { res <- m.b.Close() }()
	t := time.NewTimer(m.opt.CloseTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		if err != nil {
			return fmt.Errorf("%s: close: %w", m.b.Name(), err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%s: close: timed out after %v", m.b.Name(), m.opt.CloseTimeout)
	}
}
