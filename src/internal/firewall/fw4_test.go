package firewall

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const listingWithIncludes = `table inet fw4 { # handle 7
	set knockd_open4 { # handle 2
		type ipv4_addr . inet_proto . inet_service
		flags timeout
	}
	set knockd_open6 { # handle 3
		type ipv6_addr . inet_proto . inet_service
		flags timeout
	}
	map knockd_dnat4 { # handle 4
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		flags timeout
	}
	map knockd_dnat6 { # handle 5
		type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service
		flags timeout
	}
	set knockd_fwd4 { # handle 6
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
	}
	set knockd_fwd6 { # handle 8
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
	}
	set knockd_masq4 { # handle 9
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
	}
	set knockd_masq6 { # handle 10
		type ipv6_addr . ipv6_addr . inet_proto . inet_service
		flags timeout
	}

	chain input { # handle 1
		type filter hook input priority filter; policy drop;
		iifname "lo" accept comment "!fw4: Accept traffic from loopback" # handle 20
		ip saddr . meta l4proto . th dport @knockd_open4 accept comment "knockd-go: open4" # handle 21
		ip6 saddr . meta l4proto . th dport @knockd_open6 accept comment "knockd-go: open6" # handle 22
		ct state vmap { established : accept, related : accept } comment "!fw4: Handle { inbound # flows" # handle 23
	}

	chain forward { # handle 11
		type filter hook forward priority filter; policy drop;
		ip saddr . ip daddr . meta l4proto . th dport @knockd_fwd4 accept comment "knockd-go: forward4" # handle 24
		ip6 saddr . ip6 daddr . meta l4proto . th dport @knockd_fwd6 accept comment "knockd-go: forward6" # handle 25
	}

	chain dstnat { # handle 12
		type nat hook prerouting priority dstnat; policy accept;
		dnat ip to ip saddr . meta l4proto . th dport map @knockd_dnat4 comment "knockd-go: dnat4" # handle 26
		dnat ip6 to ip6 saddr . meta l4proto . th dport map @knockd_dnat6 comment "knockd-go: dnat6" # handle 27
	}

	chain srcnat { # handle 13
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr . ip daddr . meta l4proto . th dport @knockd_masq4 masquerade comment "knockd-go: masq4" # handle 28
		ip6 saddr . ip6 daddr . meta l4proto . th dport @knockd_masq6 masquerade comment "knockd-go: masq6" # handle 29
	}
}
`

const listingBare = `table inet fw4 { # handle 7
	chain input { # handle 1
		type filter hook input priority filter; policy drop;
		iifname "lo" accept # handle 20
	}
	chain forward { # handle 11
		type filter hook forward priority filter; policy drop;
	}
	chain dstnat { # handle 12
		type nat hook prerouting priority dstnat; policy accept;
	}
	chain srcnat { # handle 13
		type nat hook postrouting priority srcnat; policy accept;
	}
}
`

func TestParseNftTable(t *testing.T) {
	tb := parseNftTable(listingWithIncludes)
	for _, c := range []string{"input", "forward", "dstnat", "srcnat"} {
		if !tb.chains[c] {
			t.Errorf("chain %s not found", c)
		}
	}
	for _, o := range nftObjs {
		if !tb.sets[o.name] {
			t.Errorf("set %s not found", o.name)
		}
	}
	if len(tb.rules) != len(nftRules) {
		t.Fatalf("rules = %+v", tb.rules)
	}
	if r := tb.rules["knockd-go: dnat6"]; r.chain != "dstnat" || r.handle != 27 {
		t.Errorf("dnat6 = %+v", r)
	}
	if r := tb.rules["knockd-go: open4"]; r.chain != "input" || r.handle != 21 {
		t.Errorf("open4 = %+v", r)
	}
	if _, ok := tb.rules["!fw4: Accept traffic from loopback"]; ok {
		t.Error("foreign rule recorded")
	}
	bare := parseNftTable(listingBare)
	if len(bare.sets) != 0 || len(bare.rules) != 0 || !bare.chains["srcnat"] {
		t.Errorf("bare = %+v", bare)
	}
}

func TestParseNftElements(t *testing.T) {
	tests := []struct {
		name, in string
		want     []nftElem
	}{
		{"empty set", "table inet fw4 {\n\tset knockd_open4 {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\tflags timeout\n\t}\n}\n", nil},
		{"numeric", `table inet fw4 {
	set knockd_open4 {
		type ipv4_addr . inet_proto . inet_service
		flags timeout
		elements = { 1.2.3.4 . 6 . 22 timeout 60s expires 57s,
			     1.2.3.5 . 17 . 53 timeout 60s expires 57s }
	}
}`, []nftElem{{key: "1.2.3.4 . 6 . 22"}, {key: "1.2.3.5 . 17 . 53"}}},
		{"names", `elements = { 2001:db8:1::2 . tcp . 22 timeout 1m expires 59s992ms, 2001:DB8::3 . udp . 53 timeout 10s expires 9s992ms }`,
			[]nftElem{{key: "2001:db8:1::2 . 6 . 22"}, {key: "2001:db8::3 . 17 . 53"}}},
		{"map", `elements = { 2001:db8:1::2 . 6 . 8080 timeout 2s expires 2s : fd00:77::10 . 80 }`,
			[]nftElem{{key: "2001:db8:1::2 . 6 . 8080", val: "fd00:77::10 . 80"}}},
		{"comment and counter", `elements = { 1.2.3.4 . 6 . 22 timeout 5s comment "a, b }", 1.2.3.6 . 6 . 22 counter packets 0 bytes 0 }`,
			[]nftElem{{key: "1.2.3.4 . 6 . 22"}, {key: "1.2.3.6 . 6 . 22"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseNftElements(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].set != tt.want[i].set || got[i].key != tt.want[i].key || got[i].val != tt.want[i].val {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseNftTable(f *testing.F) {
	f.Add(listingWithIncludes)
	f.Add(listingBare)
	f.Add("table inet fw4 {\n\tchain x {\n\t\tcomment \"knockd-go\" # handle\n}}}}\n")
	f.Fuzz(func(t *testing.T, s string) {
		tb := parseNftTable(s)
		for c, r := range tb.rules {
			if !strings.HasPrefix(c, "knockd-go") || !tb.chains[r.chain] {
				t.Fatalf("rule %q in unknown chain %q", c, r.chain)
			}
		}
	})
}

func FuzzParseNftElements(f *testing.F) {
	f.Add("elements = { 1.2.3.4 . 6 . 22 timeout 60s expires 57s, 1.2.3.5 . 17 . 53 }")
	f.Add("elements = { 2001:db8::2 . tcp . 8080 timeout 2s : fd00::10 . 80 }")
	f.Add(`elements = { 1.2.3.4 . 6 . 22 comment "x\"}" }`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range parseNftElements(s) {
			if e.key == "" {
				t.Fatal("element with empty key")
			}
		}
	})
}

// fakeNft answers listings and records scripts.
type fakeNft struct {
	table   string            // `-t -a list table` output; "" = no table
	sets    map[string]string // `-n list set|map` output by name
	scripts []string
	fail    func(script string) error
}

func (f *fakeNft) run(_ context.Context, stdin string, args ...string) (string, error) {
	a := strings.Join(args, " ")
	switch {
	case a == "-t -a list table inet fw4":
		if f.table == "" {
			return "", errors.New("Error: No such file or directory")
		}
		return f.table, nil
	case strings.HasPrefix(a, "-n list "):
		name := args[len(args)-1]
		out, ok := f.sets[name]
		if !ok {
			return "", errors.New("Error: No such file or directory")
		}
		return out, nil
	case a == "-f -":
		if f.fail != nil {
			if err := f.fail(stdin); err != nil {
				return "", err
			}
		}
		f.scripts = append(f.scripts, stdin)
		return "", nil
	}
	return "", errors.New("unexpected nft " + a)
}

func newTestFW4(f *fakeNft, now time.Time, owned bool) *FW4 {
	return &FW4{run: f.run, timeout: time.Second, now: func() time.Time { return now }, v6: true, owned: owned, watch: owned}
}

func TestFW4IncludeMode(t *testing.T) {
	f := &fakeNft{table: listingWithIncludes}
	now := time.Unix(1700000000, 0)
	b := newTestFW4(f, now, false)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if b.watch {
		t.Fatal("include mode watches its rules")
	}
	if len(f.scripts) != 1 || strings.Count(f.scripts[0], "flush ") != len(nftObjs) ||
		!strings.Contains(f.scripts[0], "flush map inet fw4 knockd_dnat4\n") {
		t.Fatalf("Init scripts = %q", f.scripts)
	}
	g := Grant{Door: "web", Src: srcA, Spec: Spec{Open: ssh.Open, Forward: web.Forward}, Until: now.Add(2500 * time.Millisecond)}
	if err := b.Add(g); err != nil {
		t.Fatal(err)
	}
	want := `add element inet fw4 knockd_open4 { 198.51.100.2 . 6 . 22 timeout 1s }
delete element inet fw4 knockd_open4 { 198.51.100.2 . 6 . 22 }
add element inet fw4 knockd_open4 { 198.51.100.2 . 6 . 22 timeout 2500ms }
add element inet fw4 knockd_fwd4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 timeout 1s }
delete element inet fw4 knockd_fwd4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 }
add element inet fw4 knockd_fwd4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 timeout 2500ms }
add element inet fw4 knockd_masq4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 timeout 1s }
delete element inet fw4 knockd_masq4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 }
add element inet fw4 knockd_masq4 { 198.51.100.2 . 192.168.1.10 . 6 . 80 timeout 2500ms }
add element inet fw4 knockd_dnat4 { 198.51.100.2 . 6 . 8080 timeout 1s : 192.168.1.10 . 80 }
delete element inet fw4 knockd_dnat4 { 198.51.100.2 . 6 . 8080 }
add element inet fw4 knockd_dnat4 { 198.51.100.2 . 6 . 8080 timeout 2500ms : 192.168.1.10 . 80 }
`
	if got := f.scripts[len(f.scripts)-1]; got != want {
		t.Fatalf("Add script:\n%s\nwant:\n%s", got, want)
	}
	if err := b.Remove(g); err != nil {
		t.Fatal(err)
	}
	rm := f.scripts[len(f.scripts)-1]
	if strings.Count(rm, "delete element") != 4 || strings.Contains(rm, "2500ms") {
		t.Fatalf("Remove script:\n%s", rm)
	}

	// Reassert: open4 lists the element, dnat4 lost it (fw4 restart).
	f.sets = map[string]string{
		"knockd_open4": "elements = { 198.51.100.2 . 6 . 22 timeout 3s expires 1s }",
		"knockd_dnat4": "table inet fw4 {\n\tmap knockd_dnat4 {\n\t}\n}",
	}
	n := len(f.scripts)
	repaired, err := b.Reassert([]Grant{g})
	if err != nil || !repaired {
		t.Fatalf("Reassert = %v, %v", repaired, err)
	}
	if len(f.scripts) != n+1 {
		t.Fatalf("Reassert scripts: %q", f.scripts[n:])
	}
	re := f.scripts[n]
	if strings.Contains(re, "knockd_open4") || !strings.Contains(re, "add element inet fw4 knockd_dnat4 { 198.51.100.2 . 6 . 8080 timeout 2500ms : 192.168.1.10 . 80 }") ||
		!strings.Contains(re, "knockd_masq4") || strings.Contains(re, "delete") {
		t.Fatalf("Reassert script:\n%s", re)
	}
	// All present: nothing written.
	f.sets["knockd_dnat4"] = "elements = { 198.51.100.2 . tcp . 8080 timeout 3s expires 1s : 192.168.1.10 . 80 }"
	n = len(f.scripts)
	if repaired, err := b.Reassert([]Grant{g}); err != nil || repaired || len(f.scripts) != n {
		t.Fatalf("intact Reassert = %v, %v, scripts %q", repaired, err, f.scripts[n:])
	}
	// Close empties the sets and keeps the include's rules.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cl := f.scripts[len(f.scripts)-1]
	if strings.Contains(cl, "delete") || strings.Count(cl, "flush ") != len(nftObjs) {
		t.Fatalf("Close script:\n%s", cl)
	}
}

func TestFW4SelfMode(t *testing.T) {
	f := &fakeNft{table: listingBare}
	now := time.Unix(1700000000, 0)
	b := newTestFW4(f, now, true)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if len(f.scripts) != 2 {
		t.Fatalf("scripts=%q", f.scripts)
	}
	create := f.scripts[0]
	for _, o := range nftObjs {
		if !strings.Contains(create, "add "+o.kind+" inet fw4 "+o.name+" { type "+o.typ+"; flags timeout; }\n") {
			t.Errorf("%s not created:\n%s", o.name, create)
		}
	}
	for _, r := range nftRules {
		if !strings.Contains(create, "insert rule inet fw4 "+r.chain+" "+r.body+` comment "`+r.comment+`"`) {
			t.Errorf("rule %s not inserted:\n%s", r.comment, create)
		}
	}
	// The table now has everything; Close deletes rules then sets.
	f.table = listingWithIncludes
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cl := f.scripts[len(f.scripts)-1]
	if strings.Count(cl, "delete rule inet fw4 ") != len(nftRules) || strings.Count(cl, "delete set ")+strings.Count(cl, "delete map ") != len(nftObjs) {
		t.Fatalf("Close script:\n%s", cl)
	}
	if strings.Index(cl, "delete rule") > strings.Index(cl, "delete set") {
		t.Fatal("sets deleted before the rules that use them")
	}
}

func TestFW4IncludesNotLoaded(t *testing.T) {
	// Include files installed but fw4 not reloaded since: the backend
	// creates sets and rules, watches them, and on Close leaves them to
	// fw4 (flush only).
	f := &fakeNft{table: listingBare}
	b := newTestFW4(f, time.Unix(1700000000, 0), false)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if !b.watch || !strings.Contains(f.scripts[0], "insert rule") {
		t.Fatalf("watch=%v scripts=%q", b.watch, f.scripts)
	}
	f.table = listingWithIncludes
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if cl := f.scripts[len(f.scripts)-1]; strings.Contains(cl, "delete") {
		t.Fatalf("Close deleted fw4's include objects:\n%s", cl)
	}
}

func TestFW4AddRecreates(t *testing.T) {
	// The sets vanished (fw4 restart without the includes): Add creates
	// them and retries.
	f := &fakeNft{table: listingWithIncludes}
	now := time.Unix(1700000000, 0)
	b := newTestFW4(f, now, false)
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	f.table = listingBare
	created := false
	f.fail = func(s string) error {
		if strings.Contains(s, "add set") {
			created = true
			return nil
		}
		if !created {
			return errors.New("Error: No such file or directory")
		}
		return nil
	}
	if err := b.Add(Grant{Door: "d", Src: srcA, Spec: ssh, Until: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if !created || !strings.Contains(f.scripts[len(f.scripts)-1], "knockd_open4") {
		t.Fatalf("scripts %q", f.scripts)
	}
}

func TestFW4NoTable(t *testing.T) {
	b := newTestFW4(&fakeNft{}, time.Now(), false)
	if err := b.Init(); err == nil || !strings.Contains(err.Error(), "firewall4") {
		t.Fatalf("Init without table: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close without table: %v", err)
	}
}

func TestFW4Family(t *testing.T) {
	f := &fakeNft{table: listingWithIncludes}
	now := time.Unix(1700000000, 0)
	b := newTestFW4(f, now, false)
	b.v6 = false
	err := b.Add(Grant{Door: "d", Src: srcC, Spec: ssh, Until: now.Add(time.Second)})
	if !errors.Is(err, ErrFamily) {
		t.Fatalf("IPv6 without IPv6: %v", err)
	}
	b.v6 = true
	if err := b.Add(Grant{Door: "d", Src: srcC, Spec: ssh, Until: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if s := f.scripts[len(f.scripts)-1]; !strings.Contains(s, "knockd_open6 { 2001:db8:1::2 . 6 . 22 timeout 1000ms }") {
		t.Fatalf("script %s", s)
	}
	// Past grants are not added.
	n := len(f.scripts)
	if err := b.Add(Grant{Door: "d", Src: srcA, Spec: ssh, Until: now}); err != nil || len(f.scripts) != n {
		t.Fatalf("expired Add: %v, %d scripts", err, len(f.scripts)-n)
	}
}

func TestMsTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                       "1000ms",
		1500 * time.Microsecond:           "2ms",
		time.Nanosecond:                   "1ms",
		90*time.Second + time.Millisecond: "90001ms",
	} {
		if got := msTimeout(d); got != want {
			t.Errorf("msTimeout(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestNftMessage(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Error: No such file or directory\nlist table inet fw4\n                ^^^\n",
			"No such file or directory (list table inet fw4)"},
		{"/dev/stdin:1:18-20: Error: No such file or directory\n" +
			"add element inet fw4 knockd_open4 { 192.0.2.10 . 6 . 22 timeout 1s }\n" +
			"                 ^^^\n" +
			"/dev/stdin:2:21-23: Error: No such file or directory\n" +
			"delete element inet fw4 knockd_open4 { 192.0.2.10 . 6 . 22 }\n" +
			"                    ^^^\n",
			"No such file or directory (add element inet fw4 knockd_open4 { 192.0.2.10 . 6 . 22 timeout 1s }) (and 1 more error(s))"},
		{"/dev/stdin:1:1-5: Error: syntax error, unexpected junk\njunk\n^^^^^\n", "syntax error, unexpected junk (junk)"},
		{"Error: Could not process rule: Operation not permitted\n", "Could not process rule: Operation not permitted"},
		{"netlink: Error: cache initialization failed: Operation not permitted\n\n", "cache initialization failed: Operation not permitted"},
		{"something odd\n  on two lines\n", "something odd on two lines"},
		{"", ""},
	} {
		got := nftMessage(c.in)
		if got != c.want {
			t.Errorf("nftMessage(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("nftMessage(%q) spans lines", c.in)
		}
	}
	long := strings.Repeat("x", 1000)
	if got := nftMessage("Error: " + long); len(got) > 404 || !strings.HasSuffix(got, "…") {
		t.Errorf("long message not cut: %d bytes", len(got))
	}
}

func TestFW4WithoutTable(t *testing.T) {
	// fw4 stopped (or not started yet): nothing to remove, nothing can be
	// added, and the error says why.
	for _, owned := range []bool{false, true} {
		f := &fakeNft{}
		f.fail = func(string) error { return errors.New("Error: No such file or directory") }
		now := time.Unix(1700000000, 0)
		b := newTestFW4(f, now, owned)
		g := Grant{Door: "d", Src: srcA, Spec: ssh, Until: now.Add(time.Minute)}
		if err := b.Remove(g); err != nil {
			t.Errorf("owned %v: Remove without table: %v", owned, err)
		}
		err := b.Add(g)
		if !errors.Is(err, errNoTable) || !strings.Contains(err.Error(), "fw4: add: table inet fw4 not found") {
			t.Errorf("owned %v: Add without table: %v", owned, err)
		}
	}
	// Another failure of the listing is not taken for a missing table.
	f := &fakeNft{}
	b := newTestFW4(f, time.Now(), false)
	b.run = func(context.Context, string, ...string) (string, error) {
		return "", errors.New("Operation not permitted")
	}
	if err := b.Remove(Grant{Door: "d", Src: srcA, Spec: ssh}); err == nil || errors.Is(err, errNoTable) {
		t.Errorf("Remove with nft failing: %v", err)
	}
}
