package firewall

import (
	"errors"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestSpecValidate(t *testing.T) {
	lan := netip.MustParseAddrPort("192.168.1.10:22")
	tests := []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"open tcp", Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}}, true},
		{"open udp", Spec{Open: []l4.Port{{Proto: l4.UDP, Num: 53}}}, true},
		{"forward", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 2222}, To: lan}}}, true},
		{"empty", Spec{}, false},
		{"bad proto", Spec{Open: []l4.Port{{Proto: 1, Num: 1}}}, false},
		{"upper proto", Spec{Open: []l4.Port{{Proto: l4.Proto(0), Num: 22}}}, false},
		{"port 0", Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 0}}}, false},
		{"forward port 0", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 0}, To: lan}}}, false},
		{"forward no target", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}}}}, false},
		{"forward target port 0", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("192.168.1.10:0")}}}, false},
		{"forward unspecified", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("0.0.0.0:22")}}}, false},
		{"forward zone", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("[fe80::1%eth0]:22")}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name     string
		bins     []string
		fw4Table bool
		want     string
	}{
		{"openwrt fw4", []string{"fw4", "nft"}, true, "fw4"},
		{"fw4 installed, table not loaded yet", []string{"fw4", "nft"}, false, "fw4"},
		{"fw4 with iptables-nft installed too", []string{"fw4", "nft", "iptables"}, true, "fw4"},
		{"fw4 table without fw4 script", []string{"nft", "iptables"}, true, "fw4"},
		{"plain nftables host with iptables", []string{"nft", "iptables"}, false, "iptables"},
		{"dd-wrt", []string{"iptables"}, false, "iptables"},
		{"nothing", nil, false, "none"},
		{"nft only, no fw4", []string{"nft"}, false, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			look := func(name string) (string, error) {
				for _, b := range tt.bins {
					if b == name {
						return "/usr/sbin/" + name, nil
					}
				}
				return "", errors.New("not found")
			}
			run := func(name string, args ...string) error {
				if name == "/usr/sbin/nft" && strings.Join(args, " ") == "list table inet fw4" && tt.fw4Table {
					return nil
				}
				return errors.New("exit status 1")
			}
			if got := detect(look, run); got != tt.want {
				t.Fatalf("detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewKinds(t *testing.T) {
	for _, kind := range []string{"fw4"} {
		b, err := New(kind, Options{})
		if err != nil {
			t.Fatalf("New(%q): %v", kind, err)
		}
		if b.Name() != kind {
			t.Errorf("New(%q).Name() = %q", kind, b.Name())
		}
	}
	if _, err := New("pf", Options{}); err == nil {
		t.Error("New(pf) did not fail")
	}
	if _, err := New("iptables", Options{IptablesPath: filepath.Join(t.TempDir(), "no-such-iptables")}); err == nil {
		t.Error("New(iptables) with a missing binary did not fail")
	}
	// A missing ip6tables only disables IPv6.
	if ipt, err := exec.LookPath("iptables"); err == nil {
		b, err := New("iptables", Options{IPv6: true, IptablesPath: ipt, Ip6tablesPath: filepath.Join(t.TempDir(), "none")})
		if err != nil {
			t.Fatalf("New without ip6tables: %v", err)
		}
		err = b.Add(Grant{Door: "d", Src: netip.MustParseAddr("2001:db8::1"), Spec: Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}}, Until: time.Now().Add(time.Second)})
		if !errors.Is(err, ErrFamily) {
			t.Fatalf("IPv6 grant without ip6tables: %v", err)
		}
	}
}

func TestAtomsUnmap(t *testing.T) {
	src := netip.MustParseAddr("::ffff:198.51.100.7")
	to := netip.MustParseAddrPort("[::ffff:192.168.1.2]:22")
	as := atoms(src, Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}, Forward: []Forward{{Port: l4.Port{Proto: l4.UDP, Num: 53}, To: to}}})
	if len(as) != 2 {
		t.Fatalf("got %d atoms", len(as))
	}
	for _, a := range as {
		if !a.src.Is4() {
			t.Errorf("source not unmapped: %v", a.src)
		}
	}
	if !as[1].to.Addr().Is4() || as[1].to.Port() != 22 {
		t.Errorf("forward target not unmapped: %v", as[1].to)
	}
	back := specOf(as)
	if len(back.Open) != 1 || len(back.Forward) != 1 || back.Forward[0].Port.Proto != l4.UDP {
		t.Errorf("specOf round trip: %+v", back)
	}
}

func TestCleanDoor(t *testing.T) {
	tests := map[string]string{
		"ssh":                   "ssh",
		"open SSH":              "open_SSH",
		`a"b;c$(x)`:             "a_b_c__x_",
		"":                      "-",
		strings.Repeat("x", 90): strings.Repeat("x", 48),
		"né":                    "n_",
	}
	for in, want := range tests {
		if got := cleanDoor(in); got != want {
			t.Errorf("cleanDoor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIncludeFiles checks that the shipped fw4 include files are exactly
// what the backend expects. KNOCKD_GO_UPDATE=1 rewrites them.
func TestIncludeFiles(t *testing.T) {
	root := filepath.Join("..", "..", "..", "files", "usr", "share", "nftables.d")
	files := IncludeFiles()
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	want := []string{
		"chain-pre/dstnat/30-knockd-go.nft",
		"chain-pre/forward/30-knockd-go.nft",
		"chain-pre/input/30-knockd-go.nft",
		"chain-pre/srcnat/30-knockd-go.nft",
		"table-pre/30-knockd-go.nft",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("include files %v, want %v", names, want)
	}
	for _, name := range names {
		p := filepath.Join(root, filepath.FromSlash(name))
		if os.Getenv("KNOCKD_GO_UPDATE") == "1" {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("shipped include file: %v", err)
		}
		if string(got) != files[name] {
			t.Errorf("%s differs from IncludeFiles():\n--- shipped\n%s\n--- want\n%s", name, got, files[name])
		}
	}
	// Every set the rules reference is declared, every rule has a
	// distinct comment.
	seen := map[string]bool{}
	for _, r := range nftRules {
		if seen[r.comment] {
			t.Errorf("duplicate rule comment %q", r.comment)
		}
		seen[r.comment] = true
		i := strings.Index(r.body, "@")
		name := strings.Fields(r.body[i+1:])[0]
		found := false
		for _, o := range nftObjs {
			found = found || o.name == name
		}
		if !found {
			t.Errorf("rule %q references undeclared %s", r.comment, name)
		}
	}
}

func TestParseForward(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"tcp/1723->192.168.1.51:1723", "tcp/1723->192.168.1.51:1723"},
		{"tcp/8080->192.168.1.5:80 masquerade", "tcp/8080->192.168.1.5:80 masquerade"},
		{"tcp/8080->192.168.1.5:80 MASQUERADE", "tcp/8080->192.168.1.5:80 masquerade"},
		{"udp/51820->192.168.1.9", "udp/51820->192.168.1.9:51820"},
		{"3389 -> 192.168.1.9", "tcp/3389->192.168.1.9:3389"},
		{"tcp/80->[fd00::5]:8080", "tcp/80->[fd00::5]:8080"},
		{"tcp/80->fd00::5", "tcp/80->[fd00::5]:80"},
		{"tcp/80->[fd00::5]", "tcp/80->[fd00::5]:80"},
		{"tcp/80->::ffff:192.168.1.5", "tcp/80->192.168.1.5:80"},
		{"80/udp->10.0.0.1:53", "udp/80->10.0.0.1:53"},
		{"tcp/80->192.168.1.5:0", ""},
		{"tcp/80->192.168.1.5:65536", ""},
		{"tcp/80->0.0.0.0", ""},
		{"tcp/80->::", ""},
		{"tcp/80->224.0.0.1", ""},
		{"tcp/80->fe80::1%br-lan", ""},
		{"tcp/80->host.lan", ""},
		{"tcp/80", ""},
		{"tcp/80->", ""},
		{"->1.2.3.4", ""},
		{"tcp/0->1.2.3.4", ""},
		{"tcp/80->1.2.3.4 snat", ""},
		{"tcp/80->1.2.3.4 masquerade extra", ""},
		{"tcp/80->1.2.3.4->5.6.7.8", ""},
	} {
		f, err := ParseForward(c.in)
		got := ""
		if err == nil {
			got = f.String()
		}
		if got != c.want {
			t.Errorf("ParseForward(%q) = %q (%v), want %q", c.in, got, err, c.want)
		}
	}
}
