// Package firewalltest provides a recording in-memory firewall backend for
// the tests of packages that drive a firewall.Backend.
package firewalltest

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Call is one call recorded by Fake.
type Call struct {
	Method string           // "Init", "Add", "Remove", "Reassert", "Close"
	Grant  firewall.Grant   // Add and Remove
	Active []firewall.Grant // Reassert
}

// Fake is a recording in-memory backend for tests. It keeps the installed
// rules as a firewall would (one per source and port, refreshed in place)
// and can be told to fail or to lose its rules like a firewall reload.
// It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	calls  []Call
	rules  map[ruleKey]rule
	fail   map[string]error
	closed bool
}

var _ firewall.Backend = (*Fake)(nil)

// ruleKey identifies a rule: a source can have one forward per WAN port,
// so a forward with another target replaces the old one.
type ruleKey struct {
	src  netip.Addr
	fwd  bool
	port l4.Port
}

// rule is one installed rule: one open port or one forward of a grant.
type rule struct {
	key   ruleKey
	fwd   firewall.Forward // forwards only
	door  string
	until time.Time
}

// rules splits a grant into one rule per port or forward, with 4in6
// addresses unmapped as the real backends do.
func rules(g firewall.Grant) []rule {
	src := g.Src.Unmap()
	out := make([]rule, 0, len(g.Spec.Open)+len(g.Spec.Forward))
	for _, p := range g.Spec.Open {
		out = append(out, rule{key: ruleKey{src: src, port: p}, door: g.Door, until: g.Until})
	}
	for _, f := range g.Spec.Forward {
		f.To = netip.AddrPortFrom(f.To.Addr().Unmap(), f.To.Port())
		out = append(out, rule{key: ruleKey{src: src, fwd: true, port: f.Port}, fwd: f, door: g.Door, until: g.Until})
	}
	return out
}

func less(a, b ruleKey) bool {
	if c := a.src.Compare(b.src); c != 0 {
		return c < 0
	}
	if a.fwd != b.fwd {
		return !a.fwd
	}
	if a.port.Proto != b.port.Proto {
		return a.port.Proto.String() < b.port.Proto.String()
	}
	return a.port.Num < b.port.Num
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{rules: map[ruleKey]rule{}, fail: map[string]error{}}
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
	f.rules = map[ruleKey]rule{}
}

// Calls returns the calls recorded so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
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
func (f *Fake) Installed() []firewall.Grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := make([]rule, 0, len(f.rules))
	for _, r := range f.rules {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return less(rs[i].key, rs[j].key) })
	out := make([]firewall.Grant, len(rs))
	for i, r := range rs {
		g := firewall.Grant{Door: r.door, Src: r.key.src, Until: r.until}
		if r.key.fwd {
			g.Spec.Forward = []firewall.Forward{r.fwd}
		} else {
			g.Spec.Open = []l4.Port{r.key.port}
		}
		out[i] = g
	}
	return out
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *Fake) record(c Call) error {
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
	if err := f.record(Call{Method: "Init"}); err != nil {
		return err
	}
	f.rules = map[ruleKey]rule{}
	f.closed = false
	return nil
}

// Add records the call and installs the grant's rules.
func (f *Fake) Add(g firewall.Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Method: "Add", Grant: g}); err != nil {
		return err
	}
	for _, r := range rules(g) {
		f.rules[r.key] = r
	}
	return nil
}

// Remove records the call and uninstalls the grant's rules.
func (f *Fake) Remove(g firewall.Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Method: "Remove", Grant: g}); err != nil {
		return err
	}
	for _, r := range rules(g) {
		delete(f.rules, r.key)
	}
	return nil
}

// Reassert records the call and re-installs missing active rules.
func (f *Fake) Reassert(active []firewall.Grant) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Method: "Reassert", Active: append([]firewall.Grant(nil), active...)}); err != nil {
		return false, err
	}
	repaired := false
	for _, g := range active {
		for _, r := range rules(g) {
			if old, ok := f.rules[r.key]; !ok || old.fwd != r.fwd {
				f.rules[r.key] = r
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
	if err := f.record(Call{Method: "Close"}); err != nil {
		return err
	}
	f.rules = map[ruleKey]rule{}
	f.closed = true
	return nil
}
