// Package firewall grants a knocker's source address access through the
// router's firewall for a while: open a port on the router itself, or
// forward a WAN port to a LAN host.
//
// A Backend is one firewall implementation (iptables chains, fw4 nftables
// sets, a no-op and a recording fake). The Manager owns the grants: it
// merges repeated grants into one (extending it), removes them when they
// expire, re-asserts them after a firewall reload and revokes them all on
// Close.
//
// Every rule or set element a backend installs is scoped to one source
// address. State lives in the daemon's own chains (iptables) or in
// timed set elements (fw4), so a crashed daemon leaves nothing behind that
// the next start (iptables) or the kernel's timeout (fw4) does not remove.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Forward and Spec are the grant package's values: what the
// configuration parses is what the backends install.
type (
	Forward = grant.Forward
	Spec    = grant.Spec
)

// Grant is one source address's access through a door until a time.
type Grant struct {
	Door  string
	Src   netip.Addr
	Spec  Spec
	Until time.Time
}

// Backend is one firewall implementation. Its methods are never called
// concurrently (the Manager serialises them).
type Backend interface {
	// Name is the backend's kind, as accepted by New.
	Name() string
	// Init creates the backend's own chains, sets and jumps and removes
	// what a previous run left behind (crash leftovers).
	Init() error
	// Add installs g.Spec for g.Src until g.Until. It is idempotent: adding
	// what is already installed refreshes the expiry and never duplicates
	// a rule. g.Door is informative (rule comments).
	Add(g Grant) error
	// Remove uninstalls g.Spec for g.Src. Removing what is not installed is
	// not an error.
	Remove(g Grant) error
	// Reassert checks, as cheaply as it can, that the still active grants
	// are in place (a firewall reload may have wiped jumps, rules or whole
	// tables) and restores what is missing with the remaining time.
	// repaired reports whether anything had to be restored.
	Reassert(active []Grant) (repaired bool, err error)
	// Close removes everything the backend added.
	Close() error
}

// Options configure a backend made by New.
type Options struct {
	// IPv6 makes the backend manage IPv6 grants too (ip6tables, or the
	// IPv6 sets of fw4). Without it, or when ip6tables is not installed,
	// grants for IPv6 sources fail with ErrFamily.
	IPv6 bool
	// IptablesPath and Ip6tablesPath name the iptables binaries (default
	// "iptables" and "ip6tables"; e.g. "iptables-legacy", "iptables-nft").
	IptablesPath  string
	Ip6tablesPath string
	// NftPath names the nft binary (default "nft").
	NftPath string
	// FW4IncludeDir is where the fw4 include files are installed
	// (default "/usr/share/nftables.d"). When they are missing there, the
	// fw4 backend owns the sets and rules it creates and deletes them on
	// Close.
	FW4IncludeDir string
	// Comment prefixes the comment of every iptables rule (default
	// "knockd-go").
	Comment string
	// Timeout bounds each firewall command, including the wait for the
	// xtables lock (default 5 s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.IptablesPath == "" {
		o.IptablesPath = "iptables"
	}
	if o.Ip6tablesPath == "" {
		o.Ip6tablesPath = "ip6tables"
	}
	if o.NftPath == "" {
		o.NftPath = "nft"
	}
	if o.FW4IncludeDir == "" {
		o.FW4IncludeDir = "/usr/share/nftables.d"
	}
	if o.Comment == "" {
		o.Comment = "knockd-go"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Errors returned by the package; test with errors.Is.
var (
	// ErrFamily: the backend does not handle the source's address family,
	// or a forward's LAN host is of another family than the source.
	ErrFamily = errors.New("address family not supported")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("firewall manager closed")
	// ErrTooMany: the Manager already holds its maximum number of grants.
	ErrTooMany = errors.New("too many active grants")
	// ErrNoIptables: New("iptables") in a build without the iptables
	// backend (HasIptables false). It says what to install instead.
	ErrNoIptables = errors.New("no iptables backend in this build (the OpenWrt feed's knockd-go is built for " +
		"firewall4, nftables): set firewall fw4, or for an iptables firewall (fw3, DD-WRT, Tomato) " +
		"install Entware's knockd-go package, which has it")
)

// New returns a backend of the given kind: "iptables" or "fw4". The
// caller calls Init before using it. Tests use firewalltest.NewFake.
func New(kind string, o Options) (Backend, error) {
	o = o.withDefaults()
	switch kind {
	case "iptables":
		return newIptables(o)
	case "fw4":
		return newFW4(o), nil
	}
	return nil, fmt.Errorf("unknown firewall backend %q (want iptables or fw4)", kind)
}

// Detect returns the backend kind suited to this system: "fw4" when
// OpenWrt's firewall4 is installed or its table inet fw4 exists, else
// "iptables" when an iptables binary is found, else "none".
//
// fw4 wins even when iptables is installed too: an accept from
// iptables(-nft) cannot override fw4's reject, only an element of a set
// that fw4's own chains match can.
func Detect() string {
	return detect(exec.LookPath, func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, name, args...).Run()
	})
}

func detect(look func(string) (string, error), run func(string, ...string) error) string {
	if _, err := look("fw4"); err == nil {
		return "fw4"
	}
	if nft, err := look("nft"); err == nil && run(nft, "list", "table", "inet", "fw4") == nil {
		return "fw4"
	}
	if _, err := look("iptables"); err == nil {
		return "iptables"
	}
	return "none"
}

// atom is the unit of firewall state: one open port, or one forward, for
// one source address.
type atom struct {
	src  netip.Addr
	fwd  bool
	port l4.Port
	to   netip.AddrPort // forward only
	masq bool           // forward only
}

// atomKey identifies an atom: a source can have one forward per WAN port,
// so a forward with another target replaces the old one.
type atomKey struct {
	src  netip.Addr
	fwd  bool
	port l4.Port
}

func (a atom) key() atomKey { return atomKey{a.src, a.fwd, a.port} }

func (a atom) String() string {
	if a.fwd {
		m := ""
		if a.masq {
			m = " masquerade"
		}
		return fmt.Sprintf("%s forward %s to %s%s", a.src, a.port, a.to, m)
	}
	return fmt.Sprintf("%s open %s", a.src, a.port)
}

// atoms splits a grant into atoms, normalising addresses (4in6 unmapped).
func atoms(src netip.Addr, s Spec) []atom {
	src = src.Unmap()
	out := make([]atom, 0, len(s.Open)+len(s.Forward))
	for _, p := range s.Open {
		out = append(out, atom{src: src, port: p})
	}
	for _, f := range s.Forward {
		to := netip.AddrPortFrom(f.To.Addr().Unmap(), f.To.Port())
		out = append(out, atom{src: src, fwd: true, port: f.Port, to: to, masq: f.Masquerade})
	}
	return out
}

// specOf joins atoms back into a spec.
func specOf(as []atom) Spec {
	var s Spec
	for _, a := range as {
		if a.fwd {
			s.Forward = append(s.Forward, Forward{Port: a.port, To: a.to, Masquerade: a.masq})
		} else {
			s.Open = append(s.Open, a.port)
		}
	}
	return s
}

// sortAtoms orders atoms deterministically (tests, scripts, rule order).
func sortAtoms(as []atom) {
	sort.Slice(as, func(i, j int) bool { return lessAtomKey(as[i].key(), as[j].key()) })
}

func lessAtomKey(a, b atomKey) bool {
	if c := a.src.Compare(b.src); c != 0 {
		return c < 0
	}
	if a.fwd != b.fwd {
		return !a.fwd
	}
	if a.port.Proto != b.port.Proto {
		return a.port.Proto.String() < b.port.Proto.String()
	}
	return a.port.Num < b.port.Num
}

// cleanDoor makes a door name safe and short for rule comments.
func cleanDoor(door string) string {
	var b strings.Builder
	for _, r := range door {
		if b.Len() >= 48 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}
