//go:build !knockd_noiptables

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The iptables backend keeps every rule in its own chains, one per hook,
// jumped to from position 1 of the built-in chain:
//
//	filter INPUT       -> KNOCKD_INPUT        ACCEPT (open)
//	filter FORWARD     -> KNOCKD_FORWARD      ACCEPT (forward, after DNAT)
//	nat    PREROUTING  -> KNOCKD_PREROUTING   DNAT (forward)
//	nat    POSTROUTING -> KNOCKD_POSTROUTING  MASQUERADE (forward with masquerade)
//
// Every rule matches -s SRC and carries the comment
// "knockd-go door=NAME until=UNIXTIME". Init flushes the chains (crash
// leftovers), Close deletes them. IPv6 goes through ip6tables with the
// same chains; forwarding an IPv6 source needs an IPv6 LAN host and
// ip6tables' nat table (Linux ≥ 3.7); without it, IPv6 forwards fail and
// IPv6 opens still work.
//
// Replies of forwarded connections are left to the router's usual
// "ESTABLISHED,RELATED -j ACCEPT" rule in FORWARD, which every router
// firewall has.

// hook is one of the backend's chains and the built-in chain jumping to it.
type hook struct {
	table, builtin, own string
}

var hooks = [...]hook{
	{"filter", "INPUT", "KNOCKD_INPUT"},
	{"filter", "FORWARD", "KNOCKD_FORWARD"},
	{"nat", "PREROUTING", "KNOCKD_PREROUTING"},
	{"nat", "POSTROUTING", "KNOCKD_POSTROUTING"},
}

// Indexes into hooks, also the role of a rule.
const (
	hInput = iota
	hForward
	hDNAT
	hMasq
)

// ipt is the part of go-iptables the backend uses (fakes in unit tests).
type ipt interface {
	Append(table, chain string, rulespec ...string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	List(table, chain string) ([]string, error)
	ClearChain(table, chain string) error
	ClearAndDeleteChain(table, chain string) error
}

// ruleKey identifies one installed rule: an atom's rule in one hook.
type ruleKey struct {
	k atomKey
	h int
}

// ipFamily is the state of one of iptables / ip6tables.
type ipFamily struct {
	name      string // "iptables" or "ip6tables"
	v6        bool
	ipt       ipt
	natErr    error // the nat table is unusable: forwards fail with it
	noComment bool  // the comment match is missing: rules go uncommented
	rules     map[ruleKey][]string
}

// Iptables is the iptables / ip6tables backend.
type Iptables struct {
	comment string
	fams    []*ipFamily // [0] IPv4, [1] IPv6 when enabled
	v6Err   error       // why IPv6 is not available, when asked for
}

func newIptables(o Options) (*Iptables, error) {
	v4, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Path(o.IptablesPath),
		iptables.Timeout(timeoutSeconds(o)))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	var v6 ipt
	var v6Err error
	if o.IPv6 {
		// Many iptables firmwares have no ip6tables: IPv6 grants then fail
		// with ErrFamily, IPv4 works.
		p, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv6), iptables.Path(o.Ip6tablesPath),
			iptables.Timeout(timeoutSeconds(o)))
		if err == nil {
			v6 = p
		} else {
			v6Err = err
		}
	}
	b := newIptablesWith(o.Comment, v4, v6)
	b.v6Err = v6Err
	return b, nil
}

func timeoutSeconds(o Options) int {
	s := int(o.Timeout.Seconds())
	if s < 1 {
		s = 1
	}
	return s
}

// newIptablesWith builds the backend on given iptables runners (v6 may be
// nil: no IPv6).
func newIptablesWith(comment string, v4, v6 ipt) *Iptables {
	b := &Iptables{comment: comment}
	b.fams = append(b.fams, &ipFamily{name: "iptables", ipt: v4, rules: map[ruleKey][]string{}})
	if v6 != nil {
		b.fams = append(b.fams, &ipFamily{name: "ip6tables", v6: true, ipt: v6, rules: map[ruleKey][]string{}})
	}
	return b
}

// Name returns "iptables".
func (b *Iptables) Name() string { return "iptables" }

func (b *Iptables) family(src netip.Addr) (*ipFamily, error) {
	for _, f := range b.fams {
		if f.v6 == src.Is6() {
			return f, nil
		}
	}
	if b.v6Err != nil {
		return nil, fmt.Errorf("iptables: %s: no ip6tables (%v): %w", src, b.v6Err, ErrFamily)
	}
	return nil, fmt.Errorf("iptables: %s: IPv6 not enabled: %w", src, ErrFamily)
}

// Init creates (or flushes) the backend's chains and puts the jumps at
// position 1. A missing nat table only disables forwards.
func (b *Iptables) Init() error {
	var errs []error
	for _, f := range b.fams {
		f.rules = map[ruleKey][]string{}
		f.natErr = nil
		for i, h := range hooks {
			if err := f.ipt.ClearChain(h.table, h.own); err != nil {
				if h.table == "nat" {
					f.natErr = fmt.Errorf("%s: nat table unusable, no forwards: %w", f.name, err)
					continue
				}
				errs = append(errs, fmt.Errorf("%s: create chain %s: %w", f.name, h.own, err))
				continue
			}
			if err := f.ensureJump(i); err != nil {
				errs = append(errs, err)
			}
			if i == hInput {
				f.probeComment(b.comment)
			}
		}
	}
	return errors.Join(errs...)
}

// probeComment checks that the comment match works (some small firmware
// builds lack xt_comment); without it rules are added uncommented.
func (f *ipFamily) probeComment(comment string) {
	h := hooks[hInput]
	probe := []string{"-m", "comment", "--comment", comment + " probe", "-j", "RETURN"}
	if err := f.ipt.Append(h.table, h.own, probe...); err != nil {
		f.noComment = true
		return
	}
	f.noComment = false
	_ = f.ipt.Delete(h.table, h.own, probe...)
}

// Close removes the jumps and deletes the backend's chains.
func (b *Iptables) Close() error {
	var errs []error
	for _, f := range b.fams {
		for _, h := range hooks {
			if h.table == "nat" && f.natErr != nil {
				continue
			}
			lines, err := f.ipt.List(h.table, h.builtin)
			if err == nil {
				for n := countJumps(lines, h); n > 0; n-- {
					if err := f.ipt.Delete(h.table, h.builtin, "-j", h.own); err != nil && !notExist(err) {
						errs = append(errs, fmt.Errorf("%s: delete jump to %s: %w", f.name, h.own, err))
						break
					}
				}
			} else if !notExist(err) {
				errs = append(errs, fmt.Errorf("%s: list %s: %w", f.name, h.builtin, err))
			}
			if err := f.ipt.ClearAndDeleteChain(h.table, h.own); err != nil && !notExist(err) {
				errs = append(errs, fmt.Errorf("%s: delete chain %s: %w", f.name, h.own, err))
			}
		}
		f.rules = map[ruleKey][]string{}
	}
	return errors.Join(errs...)
}

// Add installs the rules of g, replacing a rule of the same source and
// port (an extension: new comment) without a gap.
func (b *Iptables) Add(g Grant) error {
	f, err := b.family(g.Src)
	if err != nil {
		return err
	}
	want := b.rulesFor(f, g)
	var errs []error
	// The jumps of the hooks used are checked (a firewall reload may have
	// removed them); a repaired hook has its jump already.
	checkJump := map[int]bool{}
	for _, r := range want {
		if r.err == nil {
			checkJump[r.key.h] = true
		}
	}
	for _, r := range want {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		old, had := f.rules[r.key]
		if had && equalSpec(old, r.spec) {
			continue
		}
		h := hooks[r.key.h]
		err := f.ipt.Append(h.table, h.own, r.spec...)
		if err != nil {
			// Most likely the chain went away (firewall reload): recreate
			// it with the rules it had, and retry.
			if err = f.repairHook(r.key.h, f.rules); err == nil {
				checkJump[r.key.h] = false
				err = f.ipt.Append(h.table, h.own, r.spec...)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: add %s: %w", f.name, strings.Join(r.spec, " "), err))
			continue
		}
		if had {
			if err := f.ipt.Delete(h.table, h.own, old...); err != nil && !notExist(err) {
				errs = append(errs, fmt.Errorf("%s: delete old rule: %w", f.name, err))
			}
		}
		f.rules[r.key] = r.spec
	}
	for h := range hooks {
		if checkJump[h] {
			if err := f.ensureJump(h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Remove deletes the rules of g that the backend installed.
func (b *Iptables) Remove(g Grant) error {
	f, err := b.family(g.Src)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range atoms(g.Src, g.Spec) {
		for h := range hooks {
			k := ruleKey{a.key(), h}
			spec, ok := f.rules[k]
			if !ok {
				continue
			}
			if err := f.ipt.Delete(hooks[h].table, hooks[h].own, spec...); err != nil && !notExist(err) {
				errs = append(errs, fmt.Errorf("%s: remove %s: %w", f.name, strings.Join(spec, " "), err))
				continue
			}
			delete(f.rules, k)
		}
	}
	return errors.Join(errs...)
}

// Reassert checks, for every hook with active rules, that the jump is at
// position 1 and the chain holds the expected number of rules (one
// listing of each chain), and rebuilds a hook's chain from the active
// grants when not.
func (b *Iptables) Reassert(active []Grant) (bool, error) {
	want := make([]map[ruleKey][]string, len(b.fams))
	for i := range want {
		want[i] = map[ruleKey][]string{}
	}
	var errs []error
	for _, g := range active {
		f, err := b.family(g.Src)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range b.rulesFor(f, g) {
			if r.err == nil {
				want[b.index(f)][r.key] = r.spec
			}
		}
	}
	repaired := false
	for i, f := range b.fams {
		count := [len(hooks)]int{}
		for k := range want[i] {
			count[k.h]++
		}
		for h := range hooks {
			if count[h] == 0 && !f.hasRules(h) {
				continue
			}
			if f.hookIntact(h, count[h], want[i], f.rules) {
				continue
			}
			repaired = true
			if err := f.repairHook(h, want[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return repaired, errors.Join(errs...)
}

func (b *Iptables) index(f *ipFamily) int {
	for i, x := range b.fams {
		if x == f {
			return i
		}
	}
	return 0
}

func (f *ipFamily) hasRules(h int) bool {
	for k := range f.rules {
		if k.h == h {
			return true
		}
	}
	return false
}
