package firewall

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/fw4ruleset"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// variant is one firewall under test in the router namespace.
type variant struct {
	setup      func(t *testing.T, tp *topo)
	newBackend func(t *testing.T, tp *topo) Backend
	reloads    []reload
	count      func(t *testing.T, tp *topo) int // rules or elements installed
	closed     func(t *testing.T, tp *topo)     // checks after Close
	kernelTTL  bool                             // the kernel expires grants itself
}

// reload simulates a firewall reload; wipes says whether it removes the
// grants (access fails until Reassert).
type reload struct {
	name  string
	run   func(t *testing.T, tp *topo)
	wipes bool
}

func TestPrivIptablesLegacy(t *testing.T) {
	t.Parallel()
	runScenario(t, iptablesVariant("legacy"))
}

func TestPrivIptablesNft(t *testing.T) {
	t.Parallel()
	runScenario(t, iptablesVariant("nft"))
}

func TestPrivFW4Include(t *testing.T) {
	t.Parallel()
	runScenario(t, fw4Variant(true))
}

func TestPrivFW4Self(t *testing.T) {
	t.Parallel()
	runScenario(t, fw4Variant(false))
}

func runScenario(t *testing.T, v variant) {
	tp := newTopo(t)
	v.setup(t, tp)
	all := []netip4or6{{hostA, hostB}, {hostA6, hostB6}}

	// Default drop: nobody gets in.
	for _, h := range all {
		tp.expect(t, h.a, "", "")
	}

	// Grant A (IPv4 and IPv6): A reaches the router port and the LAN host
	// through the forward, B does not, at the same moment.
	b := v.newBackend(t, tp)
	if err := b.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	m := NewManager(b, ManagerOptions{Log: testLog(t), ReassertEvery: -1})
	for _, h := range all {
		if _, err := m.Grant("door1", h.a, specFor(h.a), 30*time.Second); err != nil {
			t.Fatalf("Grant %s: %v", h.a, err)
		}
	}
	for _, h := range all {
		tp.expect(t, h.a, "router", "lan")
		tp.expect(t, h.b, "", "")
	}
	if n := v.count(t, tp); n != 8 {
		t.Fatalf("%d rules/elements installed, want 8 (4 per source)", n)
	}

	// Repeating the grant extends it without duplicates.
	time.Sleep(1100 * time.Millisecond) // a new until second for iptables comments
	for _, h := range all {
		if _, err := m.Grant("door1", h.a, specFor(h.a), 30*time.Second); err != nil {
			t.Fatalf("re-Grant %s: %v", h.a, err)
		}
	}
	if n := v.count(t, tp); n != 8 {
		t.Fatalf("after extension %d rules/elements installed, want 8", n)
	}
	tp.expect(t, hostA, "router", "lan")

	// Firewall reloads: Reassert restores the grants.
	for _, r := range v.reloads {
		r.run(t, tp)
		if r.wipes {
			tp.expect(t, hostA, "", "")
		}
		m.Reassert()
		for _, h := range all {
			tp.expect(t, h.a, "router", "lan")
			tp.expect(t, h.b, "", "")
		}
		if n := v.count(t, tp); n != 8 {
			t.Fatalf("after %s and reassert: %d rules/elements, want 8", r.name, n)
		}
	}

	// Close revokes everything.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, h := range all {
		tp.expect(t, h.a, "", "")
	}
	v.closed(t, tp)

	// Expiry through Run.
	b2 := v.newBackend(t, tp)
	if err := b2.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	m2 := NewManager(b2, ManagerOptions{Log: testLog(t), ReassertEvery: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m2.Run(ctx) }()
	start := time.Now()
	if _, err := m2.Grant("door2", hostA, specFor(hostA), 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	tp.expect(t, hostA, "router", "lan")
	tp.eventuallyExpect(t, 6*time.Second, hostA, "", "")
	if el := time.Since(start); el < 2400*time.Millisecond {
		t.Errorf("access ended after %v, before the 2.5 s grant expired", el)
	}
	if !testenv.Eventually(3*time.Second, func() bool { return v.count(t, tp) == 0 && len(m2.Active()) == 0 }) {
		t.Fatalf("after expiry: %d installed, active %+v", v.count(t, tp), m2.Active())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	// Crash: a grant left behind by a backend that was never closed is
	// removed by the next Init.
	b3 := v.newBackend(t, tp)
	if err := b3.Init(); err != nil {
		t.Fatal(err)
	}
	if err := b3.Add(Grant{Door: "crash", Src: hostA, Spec: specFor(hostA), Until: time.Now().Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	tp.expect(t, hostA, "router", "lan")
	b4 := v.newBackend(t, tp) // b3 "died" without Close
	if err := b4.Init(); err != nil {
		t.Fatal(err)
	}
	tp.expect(t, hostA, "", "")
	if n := v.count(t, tp); n != 0 {
		t.Fatalf("%d leftovers after Init", n)
	}

	// With fw4 the kernel closes the door of a dead daemon by itself.
	if v.kernelTTL {
		if err := b4.Add(Grant{Door: "ttl", Src: hostA, Spec: specFor(hostA), Until: time.Now().Add(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		tp.expect(t, hostA, "router", "lan")
		tp.eventuallyExpect(t, 5*time.Second, hostA, "", "")
		if n := v.count(t, tp); n != 0 {
			t.Fatalf("%d elements after their timeout", n)
		}
	}
	if err := b4.Close(); err != nil {
		t.Fatal(err)
	}
	v.closed(t, tp)
}

type netip4or6 struct{ a, b netip.Addr }

// --- iptables -------------------------------------------------------------

func iptablesVariant(mode string) variant {
	bins := [2]string{"iptables-" + mode, "ip6tables-" + mode}
	base := func(t *testing.T, tp *topo) {
		for i, bin := range bins {
			run := func(args ...string) { testenv.In(t, tp.router, bin, args...) }
			run("-P", "INPUT", "DROP")
			run("-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
			if i == 1 {
				run("-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT")
			}
			run("-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			run("-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
			run("-P", "FORWARD", "DROP")
			run("-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		}
	}
	listing := func(t *testing.T, tp *topo, bin, table string) string {
		out, err := testenv.InOutput(tp.router, bin, "-t", table, "-S")
		if err != nil {
			t.Fatalf("%s -t %s -S: %v\n%s", bin, table, err, out)
		}
		return out
	}
	return variant{
		setup: base,
		newBackend: func(t *testing.T, tp *topo) Backend {
			b, err := New("iptables", Options{
				IPv6:          true,
				IptablesPath:  wrapper(t, tp.router, bins[0]),
				Ip6tablesPath: wrapper(t, tp.router, bins[1]),
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		reloads: []reload{{
			name: "flush and delete all chains, rebuild",
			run: func(t *testing.T, tp *topo) {
				for _, bin := range bins {
					for _, table := range []string{"filter", "nat"} {
						testenv.In(t, tp.router, bin, "-t", table, "-F")
						testenv.In(t, tp.router, bin, "-t", table, "-X")
					}
				}
				base(t, tp)
			},
			wipes: true,
		}},
		count: func(t *testing.T, tp *topo) int {
			n := 0
			for _, bin := range bins {
				for _, table := range []string{"filter", "nat"} {
					for _, l := range strings.Split(listing(t, tp, bin, table), "\n") {
						if strings.HasPrefix(l, "-A KNOCKD_") {
							n++
						}
					}
				}
			}
			return n
		},
		closed: func(t *testing.T, tp *topo) {
			for _, bin := range bins {
				for _, table := range []string{"filter", "nat"} {
					if out := listing(t, tp, bin, table); strings.Contains(out, "KNOCKD") {
						t.Errorf("%s %s still has knockd chains or jumps after Close:\n%s", bin, table, out)
					}
				}
			}
		},
	}
}

// --- fw4 ------------------------------------------------------------------

// fw4Ruleset renders a ruleset shaped like the one firewall4 generates,
// with the include points where fw4 puts the /usr/share/nftables.d files.
func fw4Ruleset(t *testing.T, tp *topo, includes bool) string {
	root, err := filepath.Abs(filepath.Join("..", "..", "..", "files", "usr", "share", "nftables.d"))
	if err != nil {
		t.Fatal(err)
	}
	return fw4ruleset.Render(root, tp.wanDev, tp.lanDev, includes)
}

func loadRuleset(t *testing.T, tp *topo, text string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fw4.nft")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.In(t, tp.router, "nft", "-f", p)
}

func fw4Variant(includes bool) variant {
	load := func(t *testing.T, tp *topo) { loadRuleset(t, tp, fw4Ruleset(t, tp, includes)) }
	restart := func(t *testing.T, tp *topo) {
		testenv.In(t, tp.router, "nft", "delete", "table", "inet", "fw4")
		load(t, tp)
	}
	return variant{
		setup: func(t *testing.T, tp *topo) {
			testenv.NeedBin(t, "nft")
			load(t, tp)
		},
		newBackend: func(t *testing.T, tp *topo) Backend {
			dir := t.TempDir() // no include files: the backend owns its objects
			if includes {
				dir = filepath.Join("..", "..", "..", "files", "usr", "share", "nftables.d")
			}
			b, err := New("fw4", Options{IPv6: true, NftPath: wrapper(t, tp.router, "nft"), FW4IncludeDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		reloads: []reload{
			// fw4 reload: flush table and load again. With the include
			// files the sets keep their elements; without them the runtime
			// rules are gone.
			{name: "fw4 reload", run: load, wipes: !includes},
			// fw4 restart: table deleted and created again, sets empty.
			{name: "fw4 restart", run: restart, wipes: true},
		},
		count: func(t *testing.T, tp *topo) int {
			n := 0
			for _, o := range nftObjs {
				out, err := testenv.InOutput(tp.router, "nft", "-n", "list", o.kind, "inet", "fw4", o.name)
				if err == nil {
					n += len(parseNftElements(out))
				}
			}
			return n
		},
		closed: func(t *testing.T, tp *topo) {
			out := testenv.In(t, tp.router, "nft", "list", "table", "inet", "fw4")
			if strings.Contains(out, "elements") {
				t.Errorf("elements left after Close:\n%s", out)
			}
			if !includes && strings.Contains(out, "knockd") {
				t.Errorf("runtime sets or rules left after Close:\n%s", out)
			}
			if includes && !strings.Contains(out, `comment "knockd-go: open4"`) {
				t.Errorf("Close removed the include's rules:\n%s", out)
			}
		},
		kernelTTL: true,
	}
}
