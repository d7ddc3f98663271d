package firewall

import (
	"fmt"
	"sync"
	"time"
)

// FakeCall is one call recorded by Fake.
type FakeCall struct {
	Method string  // "Init", "Add", "Remove", "Reassert", "Close"
	Grant  Grant   // Add and Remove
	Active []Grant // Reassert
}

// Fake is a recording in-memory backend for this package's own tests, which
// cannot import firewalltest (it imports firewall); other packages use
// firewalltest.Fake, which behaves the same. It keeps the installed
// rules as a firewall would (one per source and port, refreshed in place)
// and can be told to fail or to lose its rules like a firewall reload.
// It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	calls  []FakeCall
	rules  map[atomKey]fakeRule
	fail   map[string]error
	closed bool
}

type fakeRule struct {
	a     atom
	door  string
	until time.Time
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{rules: map[atomKey]fakeRule{}, fail: map[string]error{}}
}

// Name returns "fake".
func (f *Fake) Name() string { return "fake" }

// FailWith makes every later call of method ("Init", "Add", "Remove",
// "Reassert", "Close") fail with err; a nil err clears it.
func (f *Fake) FailWith(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, method)
		return
	}
	f.fail[method] = err
}

// Wipe drops every installed rule, as a firewall reload does.
func (f *Fake) Wipe() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = map[atomKey]fakeRule{}
}

// Calls returns the calls recorded so far.
func (f *Fake) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// Count returns how many times method was called.
func (f *Fake) Count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Installed returns the installed rules, one Grant per rule (one port or
// one forward each), in a stable order.
func (f *Fake) Installed() []Grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	as := make([]atom, 0, len(f.rules))
	for _, r := range f.rules {
		as = append(as, r.a)
	}
	sortAtoms(as)
	out := make([]Grant, len(as))
	for i, a := range as {
		r := f.rules[a.key()]
		out[i] = Grant{Door: r.door, Src: a.src, Spec: specOf([]atom{a}), Until: r.until}
	}
	return out
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *Fake) record(c FakeCall) error {
	f.calls = append(f.calls, c)
	if err := f.fail[c.Method]; err != nil {
		return fmt.Errorf("fake %s: %w", c.Method, err)
	}
	return nil
}

// Init records the call and drops all rules (leftovers).
func (f *Fake) Init() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(FakeCall{Method: "Init"}); err != nil {
		return err
	}
	f.rules = map[atomKey]fakeRule{}
	f.closed = false
	return nil
}

// Add records the call and installs the grant's rules.
func (f *Fake) Add(g Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(FakeCall{Method: "Add", Grant: g}); err != nil {
		return err
	}
	for _, a := range atoms(g.Src, g.Spec) {
		f.rules[a.key()] = fakeRule{a: a, door: g.Door, until: g.Until}
	}
	return nil
}

// Remove records the call and uninstalls the grant's rules.
func (f *Fake) Remove(g Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(FakeCall{Method: "Remove", Grant: g}); err != nil {
		return err
	}
	for _, a := range atoms(g.Src, g.Spec) {
		delete(f.rules, a.key())
	}
	return nil
}

// Reassert records the call and re-installs missing active rules.
func (f *Fake) Reassert(active []Grant) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(FakeCall{Method: "Reassert", Active: append([]Grant(nil), active...)}); err != nil {
		return false, err
	}
	repaired := false
	for _, g := range active {
		for _, a := range atoms(g.Src, g.Spec) {
			if r, ok := f.rules[a.key()]; !ok || r.a != a {
				f.rules[a.key()] = fakeRule{a: a, door: g.Door, until: g.Until}
				repaired = true
			}
		}
	}
	return repaired, nil
}

// Close records the call and drops all rules.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(FakeCall{Method: "Close"}); err != nil {
		return err
	}
	f.rules = map[atomKey]fakeRule{}
	f.closed = true
	return nil
}
