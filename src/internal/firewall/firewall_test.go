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
