// Package grant holds what a door grants a knocker, as values: the ports
// to open on the router and the WAN ports to forward to LAN hosts. The
// configuration parses them and the firewall installs them; this package
// touches no firewall.
package grant

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Forward forwards a WAN port of the router to a LAN host.
type Forward struct {
	Port l4.Port        // protocol and port on the router's WAN side
	To   netip.AddrPort // LAN host and port
	// Masquerade rewrites the source of forwarded packets to the router's
	// address, for LAN hosts that do not route back through the router.
	Masquerade bool
}

// String returns the configuration's form: "tcp/1723->192.168.1.51:1723
// masquerade".
func (f Forward) String() string {
	s := f.Port.String() + "->" + f.To.String()
	if f.Masquerade {
		s += " masquerade"
	}
	return s
}

// ParseForward parses `tcp/1723->192.168.1.51:1723 [masquerade]`. The LAN
// port defaults to the WAN port; IPv6 hosts are written [fd00::5]:80.
func ParseForward(s string) (Forward, error) {
	var f Forward
	fields := strings.Fields(strings.Replace(s, "->", " -> ", 1))
	if len(fields) >= 4 && strings.EqualFold(fields[len(fields)-1], "masquerade") {
		f.Masquerade = true
		fields = fields[:len(fields)-1]
	}
	if len(fields) != 3 || fields[1] != "->" {
		return f, fmt.Errorf("%q: want proto/port->host[:port] [masquerade]", s)
	}
	p, err := l4.Parse(fields[0])
	if err != nil {
		return f, err
	}
	f.Port = p
	dst := fields[2]
	if ap, err := netip.ParseAddrPort(dst); err == nil {
		if ap.Port() == 0 {
			return f, fmt.Errorf("%q: port 0 out of range 1-65535", s)
		}
		f.To = ap
	} else if a, err := netip.ParseAddr(strings.Trim(dst, "[]")); err == nil {
		f.To = netip.AddrPortFrom(a, p.Num)
	} else {
		return f, fmt.Errorf("%q: %q is not an address or address:port", s, dst)
	}
	if a := f.To.Addr(); a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return f, fmt.Errorf("%q: %s cannot be a forward target", s, a)
	}
	f.To = netip.AddrPortFrom(f.To.Addr().Unmap(), f.To.Port())
	return f, nil
}

// Spec is what a grant opens for one source address.
type Spec struct {
	Open    []l4.Port
	Forward []Forward
}

// String describes the spec for log lines, mails and the status: "tcp/22,
// forward tcp/1723->192.168.1.51:1723". It is the one description of a
// grant.
func (s Spec) String() string {
	var b strings.Builder
	for _, p := range s.Open {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	for _, f := range s.Forward {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("forward " + f.String())
	}
	return b.String()
}

// Validate reports the first problem of a spec: an unknown protocol, a
// zero port, an invalid forward target.
func (s Spec) Validate() error {
	for _, p := range s.Open {
		if err := checkPort(p); err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
	}
	for _, f := range s.Forward {
		if err := checkPort(f.Port); err != nil {
			return fmt.Errorf("forward %s: %w", f.Port, err)
		}
		a := f.To.Addr()
		if !f.To.IsValid() || f.To.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
			return fmt.Errorf("forward %s: invalid target %q", f.Port, f.To)
		}
	}
	if len(s.Open) == 0 && len(s.Forward) == 0 {
		return errors.New("empty grant")
	}
	return nil
}

// Empty reports whether the spec opens nothing.
func (s Spec) Empty() bool { return len(s.Open) == 0 && len(s.Forward) == 0 }

func checkPort(p l4.Port) error {
	if p.Proto != l4.TCP && p.Proto != l4.UDP {
		return fmt.Errorf("protocol %s is not tcp or udp", p.Proto)
	}
	if p.Num == 0 {
		return errors.New("port 0")
	}
	return nil
}
