package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The fw4 backend works inside OpenWrt firewall4's `table inet fw4`: an
// accept in another table cannot override fw4's reject. The package ships
// include files (files/usr/share/nftables.d, see IncludeFiles) that fw4
// reads on every start and reload; they declare sets and maps with
// `flags timeout` and match them at the head of fw4's input, forward,
// dstnat and srcnat chains. The daemon only adds elements with a timeout,
// so the kernel closes a door even if the daemon dies.
//
// When the sets or rules are missing (include files not installed, fw4
// not reloaded since, `auto_includes 0`), the backend creates them itself
// at runtime and from then on re-checks them on every Add and reassert,
// since a fw4 reload removes runtime rules.
//
// The backend runs the nft binary (`nft -f -` with a script on stdin):
// it is always present with fw4 and costs the daemon no code, where the
// netlink library github.com/google/nftables would add about 0.3 MB.

const fw4Table = "inet fw4"

type nftObj struct {
	name, kind, typ string // kind "set" or "map"
}

// nftObjs are the sets and maps of the backend; "4"/"6" suffixes are the
// source's family.
var nftObjs = [...]nftObj{
	{"knockd_open4", "set", "ipv4_addr . inet_proto . inet_service"},
	{"knockd_open6", "set", "ipv6_addr . inet_proto . inet_service"},
	{"knockd_dnat4", "map", "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service"},
	{"knockd_dnat6", "map", "ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service"},
	{"knockd_fwd4", "set", "ipv4_addr . ipv4_addr . inet_proto . inet_service"},
	{"knockd_fwd6", "set", "ipv6_addr . ipv6_addr . inet_proto . inet_service"},
	{"knockd_masq4", "set", "ipv4_addr . ipv4_addr . inet_proto . inet_service"},
	{"knockd_masq6", "set", "ipv6_addr . ipv6_addr . inet_proto . inet_service"},
}

type nftRule struct {
	chain, body, comment string
}

// nftRules match the sets in fw4's chains. Each comment is unique: it is
// how the backend finds its rules.
var nftRules = [...]nftRule{
	{"input", "ip saddr . meta l4proto . th dport @knockd_open4 accept", "knockd-go: open4"},
	{"input", "ip6 saddr . meta l4proto . th dport @knockd_open6 accept", "knockd-go: open6"},
	{"forward", "ip saddr . ip daddr . meta l4proto . th dport @knockd_fwd4 accept", "knockd-go: forward4"},
	{"forward", "ip6 saddr . ip6 daddr . meta l4proto . th dport @knockd_fwd6 accept", "knockd-go: forward6"},
	{"dstnat", "dnat ip addr . port to ip saddr . meta l4proto . th dport map @knockd_dnat4", "knockd-go: dnat4"},
	{"dstnat", "dnat ip6 addr . port to ip6 saddr . meta l4proto . th dport map @knockd_dnat6", "knockd-go: dnat6"},
	{"srcnat", "ip saddr . ip daddr . meta l4proto . th dport @knockd_masq4 masquerade", "knockd-go: masq4"},
	{"srcnat", "ip6 saddr . ip6 daddr . meta l4proto . th dport @knockd_masq6 masquerade", "knockd-go: masq6"},
}

// nftRun runs nft with args, stdin as its input; it returns stdout.
type nftRun func(ctx context.Context, stdin string, args ...string) (string, error)

func execNft(path string) nftRun {
	return func(ctx context.Context, stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			msg := nftMessage(errb.String())
			if msg != "" {
				return out.String(), fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, msg)
			}
			return out.String(), fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
		}
		return out.String(), nil
	}
}

// nftMessage makes nft's error output one line for the log: the first
// error, with the command it refers to, and how many more there were.
// nft prints each error on three lines (location and message, the
// command, carets under the offending part); a script that fails on
// every line repeats the same error for each.
func nftMessage(stderr string) string {
	lines := strings.Split(stderr, "\n")
	first, more := "", 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		j := strings.Index(l, "Error: ")
		if j < 0 {
			continue
		}
		if first != "" {
			more++
			continue
		}
		first = l[j+len("Error: "):]
		if i+1 < len(lines) {
			c := strings.TrimSpace(lines[i+1])
			if c != "" && strings.Trim(c, "^~ ") != "" && !strings.Contains(c, "Error: ") {
				first += " (" + c + ")"
				i++
			}
		}
	}
	if first == "" {
		first = strings.Join(strings.Fields(stderr), " ")
	}
	if more > 0 {
		first += fmt.Sprintf(" (and %d more error(s))", more)
	}
	if len(first) > 400 {
		first = first[:400] + "…"
	}
	return first
}

// FW4 is the OpenWrt firewall4 (nftables) backend.
type FW4 struct {
	run     nftRun
	timeout time.Duration
	now     func() time.Time
	v6      bool
	// owned: the include files are not installed, so the sets and rules
	// in table inet fw4 are the backend's (Close deletes them).
	owned bool
	// watch: rules were inserted at runtime and a fw4 reload removes
	// them, so every Add and Reassert checks them.
	watch bool
}

func newFW4(o Options) *FW4 {
	_, err := os.Stat(filepath.Join(o.FW4IncludeDir, "table-pre", "30-knockd-go.nft"))
	return &FW4{run: execNft(o.NftPath), timeout: o.Timeout, now: o.Now, v6: o.IPv6, owned: err != nil, watch: err != nil}
}

// Name returns "fw4".
func (b *FW4) Name() string { return "fw4" }

func (b *FW4) nft(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	return b.run(ctx, stdin, args...)
}

func (b *FW4) script(s string) error {
	if s == "" {
		return nil
	}
	_, err := b.nft(s, "-f", "-")
	return err
}

// errNoTable: table inet fw4 does not exist (fw4 stopped, or not started
// yet at boot).
var errNoTable = errors.New("table inet fw4 not found (is firewall4 running?)")

// listTable lists table inet fw4 without set contents, with handles.
func (b *FW4) listTable() (nftTable, error) {
	out, err := b.nft("", "-t", "-a", "list", "table", "inet", "fw4")
	if err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return nftTable{}, fmt.Errorf("fw4: %w", errNoTable)
		}
		return nftTable{}, fmt.Errorf("fw4: list table inet fw4: %w", err)
	}
	return parseNftTable(out), nil
}

// ensure creates the sets and rules that are missing from table inet fw4.
func (b *FW4) ensure() (changed bool, err error) {
	t, err := b.listTable()
	if err != nil {
		return false, err
	}
	var s strings.Builder
	for _, o := range nftObjs {
		if !t.sets[o.name] {
			fmt.Fprintf(&s, "add %s %s %s { type %s; flags timeout; }\n", o.kind, fw4Table, o.name, o.typ)
		}
	}
	var errs []error
	for _, r := range nftRules {
		if _, ok := t.rules[r.comment]; ok {
			continue
		}
		if !t.chains[r.chain] {
			errs = append(errs, fmt.Errorf("fw4: chain %s missing from table inet fw4", r.chain))
			continue
		}
		fmt.Fprintf(&s, "insert rule %s %s %s comment %q\n", fw4Table, r.chain, r.body, r.comment)
	}
	if s.Len() == 0 {
		return false, errors.Join(errs...)
	}
	if err := b.script(s.String()); err != nil {
		return false, errors.Join(append(errs, fmt.Errorf("fw4: create sets and rules: %w", err))...)
	}
	b.watch = true
	return true, errors.Join(errs...)
}

// Ensure creates the sets and rules that are missing, without emptying
// anything: for a firewall that started after the daemon, whose sets may
// already hold grants made since (Init would remove them).
func (b *FW4) Ensure() error {
	_, err := b.ensure()
	return err
}

// Init makes sure the sets and rules exist (creating them when the
// include files are missing) and empties the sets: grants of a previous
// run are removed.
func (b *FW4) Init() error {
	if _, err := b.ensure(); err != nil {
		return err
	}
	var s strings.Builder
	for _, o := range nftObjs {
		fmt.Fprintf(&s, "flush %s %s %s\n", o.kind, fw4Table, o.name)
	}
	if err := b.script(s.String()); err != nil {
		return fmt.Errorf("fw4: flush sets: %w", err)
	}
	return nil
}

// Close empties the sets. Without the include files installed, the sets
// and rules are the backend's and are deleted; otherwise they stay (fw4
// re-creates them from the include files anyway).
func (b *FW4) Close() error {
	t, err := b.listTable()
	if err != nil {
		return nil // no table, nothing of ours is left
	}
	var s strings.Builder
	if b.owned {
		refs := make([]nftRuleRef, 0, len(t.rules))
		for _, r := range t.rules {
			refs = append(refs, r)
		}
		sort.Slice(refs, func(i, j int) bool { return refs[i].handle < refs[j].handle })
		for _, r := range refs {
			fmt.Fprintf(&s, "delete rule %s %s handle %d\n", fw4Table, r.chain, r.handle)
		}
		for _, o := range nftObjs {
			if t.sets[o.name] {
				fmt.Fprintf(&s, "delete %s %s %s\n", o.kind, fw4Table, o.name)
			}
		}
		if err := b.script(s.String()); err == nil {
			return nil
		}
		s.Reset() // referenced by rules we do not own: fall back to emptying
	}
	for _, o := range nftObjs {
		if t.sets[o.name] {
			fmt.Fprintf(&s, "flush %s %s %s\n", o.kind, fw4Table, o.name)
		}
	}
	if err := b.script(s.String()); err != nil {
		return fmt.Errorf("fw4: flush sets: %w", err)
	}
	return nil
}

// nftElem is one element of one of the backend's sets, in the canonical
// text form that parseNftElements returns too.
type nftElem struct {
	_             [0]func() // not comparable: no equality function in the binary
	set, key, val string    // val: map data, empty for sets
}

func (e nftElem) text(timeout string) string {
	s := e.key
	if timeout != "" {
		s += " timeout " + timeout
	}
	if e.val != "" {
		s += " : " + e.val
	}
	return s
}

// elemsFor returns an atom's elements; the first is its primary element
// (the one Reassert checks), the DNAT element of a forward is last.
func elemsFor(a atom) []nftElem {
	fam := "4"
	if a.src.Is6() {
		fam = "6"
	}
	p := int(a.port.Proto)
	if !a.fwd {
		return []nftElem{{set: "knockd_open" + fam, key: fmt.Sprintf("%s . %d . %d", a.src, p, a.port.Num)}}
	}
	fk := fmt.Sprintf("%s . %s . %d . %d", a.src, a.to.Addr(), p, a.to.Port())
	dnat := nftElem{set: "knockd_dnat" + fam, key: fmt.Sprintf("%s . %d . %d", a.src, p, a.port.Num),
		val: fmt.Sprintf("%s . %d", a.to.Addr(), a.to.Port())}
	out := []nftElem{dnat, {set: "knockd_fwd" + fam, key: fk}}
	if a.masq {
		out = append(out, nftElem{set: "knockd_masq" + fam, key: fk})
	}
	return out
}

func (b *FW4) check(src netip.Addr) error {
	if src.Is6() && !b.v6 {
		return fmt.Errorf("fw4: %s: IPv6 not enabled: %w", src, ErrFamily)
	}
	return nil
}

func msTimeout(d time.Duration) string {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(ms), 10) + "ms"
}

// Add adds the grant's elements with a timeout ending at g.Until. An
// element already present gets the new timeout (added, deleted and added
// again in one transaction: no gap, and correct whether or not the
// kernel updates timeouts on add).
func (b *FW4) Add(g Grant) error {
	if err := b.check(g.Src); err != nil {
		return err
	}
	left := g.Until.Sub(b.now())
	if left <= 0 {
		return nil
	}
	var s strings.Builder
	for _, a := range atoms(g.Src, g.Spec) {
		es := elemsFor(a)
		// Accept and masquerade before the DNAT that needs them.
		es = append(es[1:], es[0])
		for _, e := range es {
			fmt.Fprintf(&s, "add element %s %s { %s }\n", fw4Table, e.set, e.text("1s"))
			fmt.Fprintf(&s, "delete element %s %s { %s }\n", fw4Table, e.set, e.key)
			fmt.Fprintf(&s, "add element %s %s { %s }\n", fw4Table, e.set, e.text(msTimeout(left)))
		}
	}
	return b.apply(s.String(), "add")
}

// apply runs a script; if it fails, or if rules may have been lost while
// the backend manages its own, it creates what is missing and retries.
// Without table inet fw4 there is no element either: a removal has
// nothing left to do then, an addition fails with errNoTable (the
// Manager keeps the grant and its reassert makes it once fw4 is up).
func (b *FW4) apply(script, what string) error {
	noTable := func() error {
		if what == "remove" {
			return nil
		}
		return fmt.Errorf("fw4: %s: %w", what, errNoTable)
	}
	if b.watch {
		_, err := b.ensure()
		if errors.Is(err, errNoTable) {
			return noTable()
		}
		if err != nil {
			return err
		}
	}
	err := b.script(script)
	if err == nil {
		return nil
	}
	changed, e2 := b.ensure()
	switch {
	case errors.Is(e2, errNoTable):
		return noTable()
	case changed && e2 == nil:
		err = b.script(script)
	}
	if err != nil {
		return fmt.Errorf("fw4: %s: %w", what, err)
	}
	return nil
}

// Remove deletes the grant's elements (missing ones are no error).
func (b *FW4) Remove(g Grant) error {
	if err := b.check(g.Src); err != nil {
		return err
	}
	var s strings.Builder
	for _, a := range atoms(g.Src, g.Spec) {
		for _, e := range elemsFor(a) {
			fmt.Fprintf(&s, "add element %s %s { %s }\n", fw4Table, e.set, e.text("1s"))
			fmt.Fprintf(&s, "delete element %s %s { %s }\n", fw4Table, e.set, e.key)
		}
	}
	return b.apply(s.String(), "remove")
}

// Reassert lists the sets that hold active grants (one nft call per set,
// usually one) and re-adds, with the remaining time, the elements that a
// fw4 restart or reload removed. When the backend created its rules
// itself it also checks them (one listing of the table).
func (b *FW4) Reassert(active []Grant) (bool, error) {
	repaired := false
	var errs []error
	if b.watch {
		ch, err := b.ensure()
		repaired = ch
		if err != nil {
			return repaired, err
		}
	}
	now := b.now()
	type want struct {
		a     atom
		until time.Time
	}
	bySet := map[string][]want{}
	for _, g := range active {
		if err := b.check(g.Src); err != nil {
			errs = append(errs, err)
			continue
		}
		if !g.Until.After(now) {
			continue
		}
		for _, a := range atoms(g.Src, g.Spec) {
			set := elemsFor(a)[0].set
			bySet[set] = append(bySet[set], want{a, g.Until})
		}
	}
	sets := make([]string, 0, len(bySet))
	for s := range bySet {
		sets = append(sets, s)
	}
	// sort.Slice, not sort.Strings: that one instantiates slices.Sort for
	// strings (about 12 KB on MIPS) that nothing else in knockd needs.
	sort.Slice(sets, func(i, j int) bool { return sets[i] < sets[j] })
	var s strings.Builder
	ensured := false
	for _, set := range sets {
		kind := "set"
		if strings.HasPrefix(set, "knockd_dnat") {
			kind = "map"
		}
		present := map[string]bool{}
		out, err := b.nft("", "-n", "list", kind, "inet", "fw4", set)
		if err != nil {
			if !ensured {
				ensured = true
				if _, e2 := b.ensure(); e2 != nil {
					return repaired, e2
				}
			}
		} else {
			for _, e := range parseNftElements(out) {
				present[e.key] = true
			}
		}
		// The kernel expires an element at its until or a little later:
		// one that is missing although its until comes after the listing
		// was really lost.
		after := b.now()
		for _, w := range bySet[set] {
			es := elemsFor(w.a)
			if present[es[0].key] || !w.until.After(after) {
				continue
			}
			for _, e := range append(es[1:], es[0]) {
				fmt.Fprintf(&s, "add element %s %s { %s }\n", fw4Table, e.set, e.text(msTimeout(w.until.Sub(after))))
			}
		}
	}
	if s.Len() > 0 {
		repaired = true
		if err := b.script(s.String()); err != nil {
			errs = append(errs, fmt.Errorf("fw4: re-add grants: %w", err))
		}
	}
	return repaired, errors.Join(errs...)
}
