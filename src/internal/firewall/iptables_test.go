package firewall

import (
	"errors"
	"fmt"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeIpt is an in-memory iptables: tables of chains of rules, listed in
// `iptables -S` form.
type fakeIpt struct {
	tables    map[string]map[string][]string
	order     map[string][]string // chain creation order per table
	noNat     bool
	noComment bool // no xt_comment: rules with -m comment fail
	calls     int
}

type fakeIptErr struct{ msg string }

func (e *fakeIptErr) Error() string    { return e.msg }
func (e *fakeIptErr) IsNotExist() bool { return true }
func notFound(what string) error       { return &fakeIptErr{"No chain/target/match by that name: " + what} }
func builtins(table string) []string {
	if table == "nat" {
		return []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}
	}
	return []string{"INPUT", "FORWARD", "OUTPUT"}
}

func newFakeIpt() *fakeIpt {
	f := &fakeIpt{tables: map[string]map[string][]string{}, order: map[string][]string{}}
	for _, t := range []string{"filter", "nat"} {
		f.tables[t] = map[string][]string{}
		for _, c := range builtins(t) {
			f.tables[t][c] = nil
			f.order[t] = append(f.order[t], c)
		}
	}
	return f
}

func (f *fakeIpt) chain(table, chain string) ([]string, error) {
	if table == "nat" && f.noNat {
		return nil, &fakeIptErr{"table 'nat' does not exist"}
	}
	t, ok := f.tables[table]
	if !ok {
		return nil, &fakeIptErr{"table does not exist"}
	}
	r, ok := t[chain]
	if !ok {
		return nil, notFound(chain)
	}
	return r, nil
}

func join(spec []string) string {
	out := make([]string, len(spec))
	for i, s := range spec {
		if strings.Contains(s, " ") {
			s = strconv.Quote(s)
		}
		out[i] = s
	}
	return strings.Join(out, " ")
}

func (f *fakeIpt) Append(table, chain string, spec ...string) error {
	f.calls++
	r, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	if f.noComment && strings.Contains(join(spec), "-m comment") {
		return errors.New("iptables v1.4.7: Couldn't load match `comment':No such file or directory")
	}
	f.tables[table][chain] = append(r, join(spec))
	return nil
}

func (f *fakeIpt) Insert(table, chain string, pos int, spec ...string) error {
	f.calls++
	r, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	if len(spec) == 2 && spec[0] == "-j" {
		if _, err := f.chain(table, spec[1]); err != nil {
			return err // jump to a missing chain
		}
	}
	if pos < 1 || pos > len(r)+1 {
		return errors.New("index of insertion too big")
	}
	r = append(r[:pos-1], append([]string{join(spec)}, r[pos-1:]...)...)
	f.tables[table][chain] = r
	return nil
}

func (f *fakeIpt) Delete(table, chain string, spec ...string) error {
	f.calls++
	r, err := f.chain(table, chain)
	if err != nil {
		return err
	}
	s := join(spec)
	for i, x := range r {
		if x == s {
			f.tables[table][chain] = append(r[:i:i], r[i+1:]...)
			return nil
		}
	}
	return &fakeIptErr{"Bad rule (does a matching rule exist in that chain?)."}
}

func (f *fakeIpt) List(table, chain string) ([]string, error) {
	f.calls++
	r, err := f.chain(table, chain)
	if err != nil {
		return nil, err
	}
	out := []string{"-N " + chain}
	for _, b := range builtins(table) {
		if b == chain {
			out[0] = "-P " + chain + " ACCEPT"
		}
	}
	for _, x := range r {
		out = append(out, "-A "+chain+" "+x)
	}
	return out, nil
}

func (f *fakeIpt) ClearChain(table, chain string) error {
	f.calls++
	if _, err := f.chain(table, chain); err != nil {
		if table == "nat" && f.noNat {
			return err
		}
		f.order[table] = append(f.order[table], chain)
	}
	f.tables[table][chain] = nil
	return nil
}

func (f *fakeIpt) ClearAndDeleteChain(table, chain string) error {
	f.calls++
	if _, err := f.chain(table, chain); err != nil {
		return nil
	}
	for c, rules := range f.tables[table] {
		for _, r := range rules {
			if r == "-j "+chain {
				return fmt.Errorf("chain %s referenced from %s", chain, c)
			}
		}
	}
	delete(f.tables[table], chain)
	return nil
}

// wipe simulates a firewall reload: every chain flushed, own chains gone.
func (f *fakeIpt) wipe() {
	for t, chains := range f.tables {
		for c := range chains {
			if strings.HasPrefix(c, "KNOCKD_") {
				delete(chains, c)
			} else {
				chains[c] = nil
			}
		}
		_ = t
	}
}

func (f *fakeIpt) rules(table, chain string) []string { return f.tables[table][chain] }

func TestIptablesRules(t *testing.T) {
	v4, v6 := newFakeIpt(), newFakeIpt()
	b := newIptablesWith("knockd-go", v4, v6)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if got := v4.rules(h.table, h.builtin); len(got) != 1 || got[0] != "-j "+h.own {
			t.Fatalf("%s %s = %q, want the jump", h.table, h.builtin, got)
		}
	}
	until := time.Unix(1700000000, 0)
	g := Grant{Door: "open ssh", Src: srcA, Spec: Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}, Forward: web.Forward}, Until: until}
	if err := b.Add(g); err != nil {
		t.Fatal(err)
	}
	c := `"knockd-go door=open_ssh until=1700000000"`
	want := map[string]string{
		"filter KNOCKD_INPUT":    "-s 198.51.100.2/32 -p tcp -m tcp --dport 22 -m comment --comment " + c + " -j ACCEPT",
		"filter KNOCKD_FORWARD":  "-s 198.51.100.2/32 -d 192.168.1.10/32 -p tcp -m tcp --dport 80 -m comment --comment " + c + " -j ACCEPT",
		"nat KNOCKD_PREROUTING":  "-s 198.51.100.2/32 -p tcp -m tcp --dport 8080 -m comment --comment " + c + " -j DNAT --to-destination 192.168.1.10:80",
		"nat KNOCKD_POSTROUTING": "-s 198.51.100.2/32 -d 192.168.1.10/32 -p tcp -m tcp --dport 80 -m comment --comment " + c + " -j MASQUERADE",
	}
	for k, w := range want {
		tc := strings.Fields(k)
		got := v4.rules(tc[0], tc[1])
		if len(got) != 1 || got[0] != w {
			t.Errorf("%s = %q\nwant %q", k, got, w)
		}
	}
	// Idempotent.
	if err := b.Add(g); err != nil {
		t.Fatal(err)
	}
	if n := len(v4.rules("filter", "KNOCKD_INPUT")); n != 1 {
		t.Fatalf("repeated Add duplicated the rule (%d)", n)
	}
	// Extension replaces the comment, never two rules.
	g.Until = until.Add(time.Minute)
	if err := b.Add(g); err != nil {
		t.Fatal(err)
	}
	got := v4.rules("filter", "KNOCKD_INPUT")
	if len(got) != 1 || !strings.Contains(got[0], "until=1700000060") {
		t.Fatalf("after extension: %q", got)
	}
	// IPv6 open through ip6tables.
	g6 := Grant{Door: "ssh", Src: srcC, Spec: ssh, Until: until}
	if err := b.Add(g6); err != nil {
		t.Fatal(err)
	}
	if got := v6.rules("filter", "KNOCKD_INPUT"); len(got) != 1 || !strings.HasPrefix(got[0], "-s 2001:db8:1::2/128 ") {
		t.Fatalf("ip6tables rules %q", got)
	}
	if len(v4.rules("filter", "KNOCKD_INPUT")) != 1 {
		t.Fatal("IPv6 grant reached iptables")
	}
	// Remove.
	if err := b.Remove(g); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		tc := strings.Fields(k)
		if got := v4.rules(tc[0], tc[1]); len(got) != 0 {
			t.Errorf("after Remove %s = %q", k, got)
		}
	}
	if err := b.Remove(g); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	// Close removes jumps and chains.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fakeIpt{v4, v6} {
		for _, h := range hooks {
			if _, ok := f.tables[h.table][h.own]; ok {
				t.Errorf("chain %s left after Close", h.own)
			}
			if r := f.rules(h.table, h.builtin); len(r) != 0 {
				t.Errorf("%s left %q after Close", h.builtin, r)
			}
		}
	}
}

func TestIptablesNoIPv6(t *testing.T) {
	b := newIptablesWith("knockd-go", newFakeIpt(), nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	err := b.Add(Grant{Door: "d", Src: srcC, Spec: ssh, Until: time.Now().Add(time.Minute)})
	if !errors.Is(err, ErrFamily) {
		t.Fatalf("IPv6 grant without ip6tables: %v", err)
	}
}

func TestIptablesInitLeftovers(t *testing.T) {
	v4 := newFakeIpt()
	// A previous run: chains with rules, jump not first and duplicated.
	v4.tables["filter"]["KNOCKD_INPUT"] = []string{"-s 203.0.113.9/32 -p tcp -m tcp --dport 22 -j ACCEPT"}
	v4.tables["filter"]["INPUT"] = []string{"-i lo -j ACCEPT", "-j KNOCKD_INPUT", "-j KNOCKD_INPUT"}
	b := newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if r := v4.rules("filter", "KNOCKD_INPUT"); len(r) != 0 {
		t.Fatalf("leftover rules kept: %q", r)
	}
	if r := v4.rules("filter", "INPUT"); strings.Join(r, "|") != "-j KNOCKD_INPUT|-i lo -j ACCEPT" {
		t.Fatalf("INPUT = %q", r)
	}
}

func TestIptablesNoNat(t *testing.T) {
	v4 := newFakeIpt()
	v4.noNat = true
	b := newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatalf("Init without nat: %v", err)
	}
	until := time.Now().Add(time.Minute)
	if err := b.Add(Grant{Door: "d", Src: srcA, Spec: ssh, Until: until}); err != nil {
		t.Fatalf("open without nat: %v", err)
	}
	if err := b.Add(Grant{Door: "d", Src: srcA, Spec: web, Until: until}); err == nil || !strings.Contains(err.Error(), "nat") {
		t.Fatalf("forward without nat: %v", err)
	}
	if r := v4.rules("filter", "KNOCKD_FORWARD"); len(r) != 0 {
		t.Fatalf("half a forward installed: %q", r)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close without nat: %v", err)
	}
}

func TestIptablesReassert(t *testing.T) {
	v4 := newFakeIpt()
	b := newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(1700000000, 0)
	g1 := Grant{Door: "ssh", Src: srcA, Spec: ssh, Until: until}
	g2 := Grant{Door: "web", Src: srcB, Spec: web, Until: until}
	for _, g := range []Grant{g1, g2} {
		if err := b.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	active := []Grant{g1, g2}
	before := v4.calls
	repaired, err := b.Reassert(active)
	if err != nil || repaired {
		t.Fatalf("intact Reassert = %v, %v", repaired, err)
	}
	// Cheap: two listings (chain and built-in) per hook in use, no writes.
	if n := v4.calls - before; n != 8 {
		t.Errorf("intact Reassert made %d calls, want 8", n)
	}
	snapshot := fmt.Sprint(v4.tables)

	v4.wipe()
	repaired, err = b.Reassert(active)
	if err != nil || !repaired {
		t.Fatalf("Reassert after wipe = %v, %v", repaired, err)
	}
	if got := fmt.Sprint(v4.tables); got != snapshot {
		t.Fatalf("after reassert\n%s\nwant\n%s", got, snapshot)
	}

	// Someone inserts a rule above our jump: it goes back to the top.
	v4.tables["filter"]["INPUT"] = append([]string{"-j DROP"}, v4.tables["filter"]["INPUT"]...)
	if repaired, _ := b.Reassert(active); !repaired {
		t.Fatal("misplaced jump not repaired")
	}
	if r := v4.rules("filter", "INPUT"); strings.Join(r, "|") != "-j KNOCKD_INPUT|-j DROP" {
		t.Fatalf("INPUT = %q", r)
	}

	// A rule deleted from our chain by hand comes back.
	v4.tables["nat"]["KNOCKD_PREROUTING"] = nil
	if repaired, _ := b.Reassert(active); !repaired || len(v4.rules("nat", "KNOCKD_PREROUTING")) != 1 {
		t.Fatalf("lost DNAT not restored: %q", v4.rules("nat", "KNOCKD_PREROUTING"))
	}

	// Grants no longer active disappear from the chains.
	if _, err := b.Reassert([]Grant{g1}); err != nil {
		t.Fatal(err)
	}
	if r := v4.rules("nat", "KNOCKD_PREROUTING"); len(r) != 0 {
		t.Fatalf("stale DNAT kept: %q", r)
	}
	if r := v4.rules("filter", "KNOCKD_INPUT"); len(r) != 1 {
		t.Fatalf("active open lost: %q", r)
	}
}

func TestIptablesAddAfterReload(t *testing.T) {
	v4 := newFakeIpt()
	b := newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(1700000000, 0)
	if err := b.Add(Grant{Door: "a", Src: srcA, Spec: ssh, Until: until}); err != nil {
		t.Fatal(err)
	}
	v4.wipe()
	// A new grant after a reload recreates the chain, the jump and the
	// rules the backend knows about.
	if err := b.Add(Grant{Door: "b", Src: srcB, Spec: ssh, Until: until}); err != nil {
		t.Fatal(err)
	}
	if r := v4.rules("filter", "KNOCKD_INPUT"); len(r) != 2 {
		t.Fatalf("KNOCKD_INPUT = %q", r)
	}
	if r := v4.rules("filter", "INPUT"); len(r) != 1 || r[0] != "-j KNOCKD_INPUT" {
		t.Fatalf("INPUT = %q", r)
	}
}

func TestIptablesNoCommentMatch(t *testing.T) {
	v4 := newFakeIpt()
	v4.noComment = true
	b := newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(Grant{Door: "d", Src: srcA, Spec: ssh, Until: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
	r := v4.rules("filter", "KNOCKD_INPUT")
	if len(r) != 1 || r[0] != "-s 198.51.100.2/32 -p tcp -m tcp --dport 22 -j ACCEPT" {
		t.Fatalf("KNOCKD_INPUT = %q", r)
	}
	// With the match available, the probe leaves nothing behind.
	v4 = newFakeIpt()
	b = newIptablesWith("knockd-go", v4, nil)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if r := v4.rules("filter", "KNOCKD_INPUT"); len(r) != 0 {
		t.Fatalf("probe left %q", r)
	}
}
