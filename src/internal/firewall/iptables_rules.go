//go:build !knockd_noiptables

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/knockd-go/knockd-go/src/internal/errs"
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// The iptables backend's chain repair and the rules of a grant.

// hookIntact reports whether hook h has its jump at position 1 and n rules
// in its chain, and the backend's record of that chain matches want.
func (f *ipFamily) hookIntact(h, n int, want, have map[ruleKey][]string) bool {
	hk := hooks[h]
	for k, spec := range want {
		if k.h == h && !equalSpec(have[k], spec) {
			return false
		}
	}
	for k := range have {
		if _, ok := want[k]; k.h == h && !ok {
			return false
		}
	}
	// A listing error means a missing chain (iptables-nft 1.8 reports a
	// missing chain as "incompatible" when the table has no chains left):
	// rebuilding reports the real errors, if any.
	lines, err := f.ipt.List(hk.table, hk.own)
	if err != nil || countRules(lines, hk.own) != n {
		return false
	}
	lines, err = f.ipt.List(hk.table, hk.builtin)
	return err == nil && jumpFirst(lines, hk) && countJumps(lines, hk) == 1
}

// repairHook recreates hook h's chain with the rules in want and puts the
// jump back at position 1. The backend's record of h becomes want's.
func (f *ipFamily) repairHook(h int, want map[ruleKey][]string) error {
	hk := hooks[h]
	if hk.table == "nat" && f.natErr != nil {
		return f.natErr
	}
	keep := map[ruleKey][]string{}
	for k, spec := range want {
		if k.h == h {
			keep[k] = spec
		}
	}
	if err := f.ipt.ClearChain(hk.table, hk.own); err != nil {
		return fmt.Errorf("%s: recreate chain %s: %w", f.name, hk.own, err)
	}
	for k := range f.rules {
		if k.h == h {
			delete(f.rules, k)
		}
	}
	keys := make([]ruleKey, 0, len(keep))
	for k := range keep {
		keys = append(keys, k)
	}
	sortRuleKeys(keys)
	var errs []error
	for _, k := range keys {
		if err := f.ipt.Append(hk.table, hk.own, keep[k]...); err != nil {
			errs = append(errs, fmt.Errorf("%s: restore %s: %w", f.name, strings.Join(keep[k], " "), err))
			continue
		}
		f.rules[k] = keep[k]
	}
	if err := f.ensureJump(h); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureJump makes the jump to hook h's chain the first rule of the
// built-in chain, exactly once.
func (f *ipFamily) ensureJump(h int) error {
	hk := hooks[h]
	// A listing error is taken for a missing built-in chain: the insert
	// creates it (iptables-nft) or reports the real problem.
	lines, _ := f.ipt.List(hk.table, hk.builtin)
	n := countJumps(lines, hk)
	if n == 1 && jumpFirst(lines, hk) {
		return nil
	}
	for ; n > 0; n-- {
		if err := f.ipt.Delete(hk.table, hk.builtin, "-j", hk.own); err != nil && !notExist(err) {
			return fmt.Errorf("%s: delete misplaced jump to %s: %w", f.name, hk.own, err)
		}
	}
	if err := f.ipt.Insert(hk.table, hk.builtin, 1, "-j", hk.own); err != nil {
		return fmt.Errorf("%s: insert jump to %s: %w", f.name, hk.own, err)
	}
	return nil
}

type iptRule struct {
	key  ruleKey
	spec []string
	err  error
}

// rulesFor returns the rules of a grant: for an open port one INPUT rule;
// for a forward DNAT, FORWARD accept and, when asked, MASQUERADE.
func (b *Iptables) rulesFor(f *ipFamily, g Grant) []iptRule {
	comment := fmt.Sprintf("%s door=%s until=%d", b.comment, cleanDoor(g.Door), g.Until.Unix())
	var out []iptRule
	for _, a := range atoms(g.Src, g.Spec) {
		src := prefixString(a.src)
		match := func(extra []string, proto l4.Proto, port uint16, tail ...string) []string {
			s := append([]string{"-s", src}, extra...)
			s = append(s, "-p", proto.String(), "-m", proto.String(), "--dport", strconv.Itoa(int(port)))
			if !f.noComment {
				s = append(s, "-m", "comment", "--comment", comment)
			}
			return append(s, tail...)
		}
		if !a.fwd {
			out = append(out, iptRule{key: ruleKey{a.key(), hInput}, spec: match(nil, a.port.Proto, a.port.Num, "-j", "ACCEPT")})
			continue
		}
		// Without nat no part of a forward is installed. The DNAT rule
		// comes last so that it never sends packets to a missing accept.
		err := f.natErr
		dst := []string{"-d", prefixString(a.to.Addr())}
		out = append(out, iptRule{key: ruleKey{a.key(), hForward}, err: err,
			spec: match(dst, a.port.Proto, a.to.Port(), "-j", "ACCEPT")})
		if a.masq {
			out = append(out, iptRule{key: ruleKey{a.key(), hMasq}, err: err,
				spec: match(dst, a.port.Proto, a.to.Port(), "-j", "MASQUERADE")})
		}
		out = append(out, iptRule{key: ruleKey{a.key(), hDNAT}, err: err,
			spec: match(nil, a.port.Proto, a.port.Num, "-j", "DNAT", "--to-destination", a.to.String())})
	}
	return out
}

// prefixString writes an address as iptables lists it (-s 1.2.3.4/32).
func prefixString(a netip.Addr) string {
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func equalSpec(a, b []string) bool {
	if len(a) != len(b) || a == nil {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortRuleKeys(ks []ruleKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].h != ks[j].h {
			return ks[i].h < ks[j].h
		}
		return lessAtomKey(ks[i].k, ks[j].k)
	})
}

// countRules counts the rules in an `iptables -S CHAIN` listing.
func countRules(lines []string, chain string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "-A "+chain+" ") {
			n++
		}
	}
	return n
}

func jumpLine(h hook) string { return "-A " + h.builtin + " -j " + h.own }

// countJumps counts the jumps to h's chain in a listing of its built-in.
func countJumps(lines []string, h hook) int {
	n := 0
	for _, l := range lines {
		if strings.TrimSpace(l) == jumpLine(h) {
			n++
		}
	}
	return n
}

// jumpFirst reports whether the first rule of the built-in is the jump.
func jumpFirst(lines []string, h hook) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "-A "+h.builtin+" ") {
			return strings.TrimSpace(l) == jumpLine(h)
		}
	}
	return false
}

// notExist reports iptables' "no such rule/chain/table" errors.
func notExist(err error) bool {
	if e, ok := errs.As[*iptables.Error](err); ok {
		return e.IsNotExist()
	}
	n, ok := errs.As[interface {
		error
		IsNotExist() bool
	}](err)
	return ok && n.IsNotExist()
}
