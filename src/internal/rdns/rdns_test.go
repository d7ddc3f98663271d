package rdns

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers PTR queries on 127.0.0.1 from names (reverse name ->
// PTR target); other names get NXDOMAIN. It returns the port.
func fakeDNS(t *testing.T, names map[string]string, mangle func([]byte) []byte) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired})
			b.EnableCompression()
			target, ok := names[q.Name.String()]
			if !ok {
				b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
			}
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if ok && q.Type == dnsmessage.TypePTR {
				// A CNAME first, as for classless delegations, then the PTR.
				b.CNAMEResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.CNAMEResource{CNAME: q.Name})
				b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(target)})
			}
			out, err := b.Finish()
			if err != nil {
				t.Error(err)
				return
			}
			if mangle != nil {
				out = mangle(out)
			}
			c.WriteToUDP(out, from)
		}
	}()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func files(t *testing.T, hosts, resolv string) (string, string) {
	t.Helper()
	d := t.TempDir()
	h, r := filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf")
	if err := os.WriteFile(h, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r, []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}
	return h, r
}

func TestLookupAddr(t *testing.T) {
	port := fakeDNS(t, map[string]string{
		"4.3.2.1.in-addr.arpa.": "host.example.net.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.": "v6.example.net.",
	}, nil)
	hosts, resolv := files(t, "# comment\n127.0.0.1 localhost\n192.0.2.7 lan-pc.lan lan-pc # pc\n2001:db8::7 v6pc\n",
		"search lan\nnameserver 127.0.0.1\n")
	r := &Resolver{Hosts: hosts, ResolvConf: resolv, Port: port, Timeout: 2 * time.Second}
	for _, tc := range []struct {
		addr, want string
		err        error
	}{
		{"1.2.3.4", "host.example.net", nil},
		{"::ffff:1.2.3.4", "host.example.net", nil},
		{"2001:db8::1", "v6.example.net", nil},
		{"192.0.2.7", "lan-pc.lan", nil},
		{"2001:db8::7", "v6pc", nil},
		{"5.6.7.8", "", ErrNotFound},
	} {
		got, err := r.LookupAddr(netip.MustParseAddr(tc.addr))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("LookupAddr(%s) = %q, %v; want %q, %v", tc.addr, got, err, tc.want, tc.err)
		}
	}
}

func TestQueryMatchesDNSMessage(t *testing.T) {
	for _, tc := range []struct{ addr, name string }{
		{"192.0.2.10", "10.2.0.192.in-addr.arpa."},
		{"10.0.0.255", "255.0.0.10.in-addr.arpa."},
		{"2001:db8::ff01", "1.0.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
	} {
		var p dnsmessage.Parser
		h, err := p.Start(Query(netip.MustParseAddr(tc.addr), 0x1234))
		if err != nil {
			t.Fatal(err)
		}
		q, err := p.Question()
		if err != nil {
			t.Fatal(err)
		}
		if h.ID != 0x1234 || !h.RecursionDesired || q.Name.String() != tc.name ||
			q.Type != dnsmessage.TypePTR || q.Class != dnsmessage.ClassINET {
			t.Errorf("%s: header %+v, question %v", tc.addr, h, q)
		}
	}
}

func TestAnswerRejects(t *testing.T) {
	q := Query(netip.MustParseAddr("192.0.2.1"), 7)
	good := func() []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("1.2.0.192.in-addr.arpa."),
			Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
		b.StartAnswers()
		b.PTRResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("1.2.0.192.in-addr.arpa."),
			Class: dnsmessage.ClassINET}, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName("a.example.")})
		out, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if name, err := Answer(q, good()); name != "a.example" || err != nil {
		t.Fatalf("good answer: %q, %v", name, err)
	}
	for name, mangle := range map[string]func([]byte) []byte{
		"other id":      func(b []byte) []byte { b[1] = 8; return b },
		"a query":       func(b []byte) []byte { b[2] &^= 0x80; return b },
		"servfail":      func(b []byte) []byte { b[3] |= 2; return b },
		"short":         func(b []byte) []byte { return b[:11] },
		"truncated":     func(b []byte) []byte { return b[:len(b)-3] },
		"other name":    func(b []byte) []byte { b[13] = '9'; return b },
		"pointer loop":  func(b []byte) []byte { b[len(q)], b[len(q)+1] = 0xc0, byte(len(q)); return b },
		"no answer":     func(b []byte) []byte { b[7] = 0; return b },
		"bad label len": func(b []byte) []byte { b[len(b)-11] = 0x80; return b },
	} {
		if got, err := Answer(q, mangle(good())); err == nil {
			t.Errorf("%s: accepted, name %q", name, got)
		}
	}
}

func TestTimeoutAndFallback(t *testing.T) {
	// A server that never answers, then one that does: the second answers
	// within the time left.
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	hosts, resolv := files(t, "", "nameserver 127.0.0.1\n")
	r := &Resolver{Hosts: hosts, ResolvConf: resolv, Port: uint16(silent.LocalAddr().(*net.UDPAddr).Port),
		Timeout: 200 * time.Millisecond}
	start := time.Now()
	if _, err := r.LookupAddr(netip.MustParseAddr("192.0.2.1")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("silent server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestNameservers(t *testing.T) {
	_, resolv := files(t, "", "nameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bogus\n"+
		"nameserver 192.0.2.54\nnameserver 192.0.2.55\n")
	got := nameservers(resolv)
	if len(got) != 3 || got[0].String() != "192.0.2.53" || got[1].String() != "fe80::1%eth0" || got[2].String() != "192.0.2.54" {
		t.Fatalf("nameservers = %v", got)
	}
	if got := nameservers(filepath.Join(t.TempDir(), "none")); len(got) != 2 || !got[0].IsLoopback() {
		t.Fatalf("no file: %v", got)
	}
}

// TestLookupAddrRefusesNonHostNames: a PTR answer or a hosts file line
// whose name is not a host name (a newline that would write a forged log
// line, ANSI escapes, spaces) gives no name, ErrBadName; a host name
// with underscores or digits is fine.
func TestLookupAddrRefusesNonHostNames(t *testing.T) {
	port := fakeDNS(t, map[string]string{
		"4.3.2.1.in-addr.arpa.": "evil\n10.201.0.99: ssh: OPEN SESAME.example.",
		"5.3.2.1.in-addr.arpa.": "\x1b[2K\x1b[1Gred.example.",
		"6.3.2.1.in-addr.arpa.": "has space.example.",
		"7.3.2.1.in-addr.arpa.": "-dash.example.",
		"8.3.2.1.in-addr.arpa.": "_srv.host-1.example.",
	}, nil)
	hosts, resolv := files(t, "192.0.2.8 \x1b[31mbad\n", "nameserver 127.0.0.1\n")
	r := &Resolver{Hosts: hosts, ResolvConf: resolv, Port: port, Timeout: 2 * time.Second}
	for _, tc := range []struct {
		addr, want string
		err        error
	}{
		{"1.2.3.4", "", ErrBadName},
		{"1.2.3.5", "", ErrBadName},
		{"1.2.3.6", "", ErrBadName},
		{"1.2.3.7", "", ErrBadName},
		{"1.2.3.8", "_srv.host-1.example", nil},
		{"192.0.2.8", "", ErrBadName},
	} {
		got, err := r.LookupAddr(netip.MustParseAddr(tc.addr))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("LookupAddr(%s) = %q, %v; want %q, %v", tc.addr, got, err, tc.want, tc.err)
		}
	}
}

func TestHostName(t *testing.T) {
	for s, want := range map[string]bool{
		"router": true, "lan-pc.lan": true, "a.b.c": true, "1.2.3.4.in-addr": true, "x_y": true,
		"": false, ".": false, "a..b": false, "-a": false, "a-": false, "a b": false, "a\nb": false,
		"a\x1b[0m": false, "a:b": false, "a/b": false, "é.example": false,
		strings.Repeat("a", 64): false, strings.Repeat("a", 63): true,
		strings.Repeat("abcdefg.", 32) + "x": false,
	} {
		if got := HostName(s); got != want {
			t.Errorf("HostName(%q) = %v, want %v", s, got, want)
		}
	}
}
