package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestPackageOf(t *testing.T) {
	for sym, want := range map[string]string{
		"github.com/knockd-go/knockd-go/src/internal/firewall.(*Manager).Grant":       "github.com/knockd-go/knockd-go/src/internal/firewall",
		"github.com/knockd-go/knockd-go/src/internal/firewall.(*Manager).Grant.func1": "github.com/knockd-go/knockd-go/src/internal/firewall",
		"net.(*Resolver).lookupAddr":                                            "net",
		"vendor/golang.org/x/net/dns/dnsmessage.(*Parser).Start":                "vendor/golang.org/x/net/dns/dnsmessage",
		"slices.SortFunc[go.shape.struct { net/netip.addr net/netip.uint128 }]": "slices",
		"type:*net/netip.Addr":                                                  "net/netip",
		"type:[]*github.com/x/y.T":                                              "github.com/x/y",
		"type:map[string]int":                                                   "(types)",
		"type:string":                                                           "(types)",
		"type:.eq.net/netip.Prefix":                                             "net/netip",
		"go:itab.*os.File,io.Writer":                                            "os",
		"go:string.\"hello\"":                                                   "(strings)",
		"go:buildinfo":                                                          "(go:buildinfo)",
		"gclocals·abc":                                                          "(gc maps)",
		"$f64.3ff0000000000000":                                                 "(constants)",
		"gogo":                                                                  "runtime",
		"main.main":                                                             "main",
		"unicode..stmp_3":                                                       "unicode",
		"crypto/internal/entropy/v1%2e0%2e0.Seed":                               "crypto/internal/entropy/v1%2e0%2e0",
	} {
		if got := packageOf(sym); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", sym, got, want)
		}
	}
}

func TestPcvalueLen(t *testing.T) {
	// (value delta, pc delta) pairs: (2, 1), (300 as a two-byte varint, 4),
	// then the end mark.
	p := []byte{2, 1, 0xac, 0x02, 4, 0, 0xff}
	if n := pcvalueLen(p); n != 6 {
		t.Fatalf("pcvalueLen = %d, want 6", n)
	}
	// A first pair may start with a zero value delta.
	if n := pcvalueLen([]byte{0, 3, 0}); n != 3 {
		t.Fatalf("pcvalueLen = %d, want 3", n)
	}
}

// TestAnalyzeSelf measures this test binary: every allocated byte is
// charged somewhere, and the runtime is the biggest package.
func TestAnalyzeSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs an ELF binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := analyze(exe, false)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, c := range r.pkgs {
		sum += c.total()
	}
	if d := sum - float64(r.alloc); d < -0.01*float64(r.alloc) || d > 0.01*float64(r.alloc) {
		t.Errorf("charged %.0f bytes of %d allocated", sum, r.alloc)
	}
	if top := sortedByTotal(r.pkgs)[0]; top != "runtime" {
		t.Errorf("biggest package %q, want runtime", top)
	}
	if c := r.pkgs["github.com/knockd-go/knockd-go/src/tools/sizeof"]; c == nil || c.text == 0 || c.pcln == 0 {
		t.Errorf("sizeof itself: %+v", c)
	}
}

// TestListing saves this test binary's table and compares the binary with
// it: every package's delta is zero; a bad line names the file and line.
func TestListing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs an ELF binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "parts.txt")
	if err := saveListing(saved, exe); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := compare(&b, saved, exe, 0); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "+0  allocated sections") || !strings.Contains(lines[2], "+0  file") {
		t.Errorf("compare with its own listing:\n%s", b.String())
	}
	os.WriteFile(saved, []byte(listingHeader+"\nalloc 1\n12 x runtime\n"), 0o644)
	if _, err := loadListing(saved); err == nil || !strings.Contains(err.Error(), saved+":3:") {
		t.Errorf("bad listing: %v", err)
	}
}

// TestBuildFailure: a build that fails (here: GOFLAGS the go command
// refuses, as "-tags=a b" is) is an error naming the build, not a panic.
func TestBuildFailure(t *testing.T) {
	t.Setenv("GOFLAGS", "-tags=knockd_noiptables knockd_nospa")
	_, _, _, err := buildLinked(".")
	if err == nil || !strings.Contains(err.Error(), "go build in .") {
		t.Fatalf("err = %v, want the build's failure", err)
	}
}
