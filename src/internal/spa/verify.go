package spa

import (
	"hash"
	"net/netip"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Defaults of fwknopd (MAX_SPA_PACKET_AGE, MAX_FW_TIMEOUT).
const (
	DefaultMaxAge           = 120 * time.Second
	DefaultMaxClientTimeout = 300 * time.Second
)

// Policy is what one SPA door accepts (an fwknopd access.conf stanza).
type Policy struct {
	// Keys are the door's secrets; the HMAC key is mandatory.
	Keys Keys
	// MaxAge is the timestamp window: |now - timestamp| must not exceed
	// it. 0 means DefaultMaxAge (120 s). It cannot be switched off.
	MaxAge time.Duration
	// NotBefore, when set, refuses packets stamped earlier. Set it to the
	// daemon's start time when the replay cache does not survive restarts,
	// so a packet captured before a restart cannot be replayed after it.
	NotBefore time.Time
	// AllowPorts lists the ports a client may ask for; every requested
	// port must be listed (fwknop OPEN_PORTS). Empty means any tcp or udp
	// port: the daemon should pass the door's own ports.
	AllowPorts []l4.Port
	// AllowAnySource accepts 0.0.0.0 in the message (client -s) and
	// grants the packet's source address; otherwise such packets are
	// refused (fwknop REQUIRE_SOURCE_ADDRESS, the safe default).
	AllowAnySource bool
	// RequireSourceMatch refuses a message address that differs from the
	// packet's source address (breaks clients behind NAT that use -a).
	RequireSourceMatch bool
	// RequireUser, when set, must equal the message's username
	// (fwknop REQUIRE_USERNAME).
	RequireUser string
	// MaxClientTimeout caps a client-requested timeout (types 3, 4, 6);
	// 0 means DefaultMaxClientTimeout (300 s, fwknop MAX_FW_TIMEOUT).
	MaxClientTimeout time.Duration
	// RefuseLongTimeout refuses a longer client timeout instead of
	// clamping it to MaxClientTimeout as fwknopd does.
	RefuseLongTimeout bool
	// AllowCommands accepts command messages (type 0). Off by default.
	AllowCommands bool
	// AllowNAT accepts NAT access messages (types 2, 4) whose destination
	// is an IP address inside one of AllowNATTo; empty AllowNATTo refuses
	// them all. Host names are refused (no DNS in the packet path).
	AllowNAT   bool
	AllowNATTo []netip.Prefix
	// AllowLocalNAT accepts local NAT messages (types 5, 6: redirect a
	// port of this host to another of its ports).
	AllowLocalNAT bool
}

// Verifier checks SPA packets against one Policy. It is safe for
// concurrent use.
type Verifier struct {
	p       Policy
	now     func() time.Time
	replay  *ReplayCache
	macLen  int
	macPool sync.Pool // *macState
}

// macState is a pooled HMAC with its output buffers, so that checking a
// garbage packet allocates nothing.
type macState struct {
	_    [0]func() // not comparable: no equality function in the binary
	h    hash.Hash
	sum  [64]byte
	text [88]byte
}

var saltedPrefix = []byte(saltedB64)

// b64set marks the bytes of the base64 alphabet fwknop sends.
var b64set = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

func (v *Verifier) checkAge(m *Message, now time.Time) error {
	d := m.Timestamp.Unix() - now.Unix()
	if d > int64(v.p.MaxAge/time.Second) || -d > int64(v.p.MaxAge/time.Second) {
		return reject(ReasonStale, "stale timestamp (%+ds)", d)
	}
	if !v.p.NotBefore.IsZero() && m.Timestamp.Before(v.p.NotBefore.Truncate(time.Second)) {
		return reject(ReasonStale, "stale timestamp (%+ds, before start)", d)
	}
	return nil
}

func (v *Verifier) checkPolicy(m *Message, src netip.Addr) error {
	p := &v.p
	// Source address.
	switch {
	case m.Addr.IsUnspecified():
		if !p.AllowAnySource {
			return reject(ReasonAnySource, "%s not allowed", m.Addr)
		}
		if !src.IsValid() {
			return reject(ReasonAnySource, "%s without a packet source", m.Addr)
		}
		m.Grant = src
	case p.RequireSourceMatch && m.Addr != src:
		return reject(ReasonSourceMismatch, "address %s does not match packet source %s", m.Addr, src)
	default:
		m.Grant = m.Addr
	}
	if p.RequireUser != "" && m.User != p.RequireUser {
		return reject(ReasonUser, "user %q not allowed", m.User)
	}

	// Message type.
	switch {
	case m.Type == TypeCommand:
		if !p.AllowCommands {
			return ErrCommand
		}
		return nil // no ports, no timeout
	case m.Type.LocalNAT():
		if !p.AllowLocalNAT {
			return reject(ReasonNAT, "local NAT access not allowed")
		}
	case m.Type.HasNAT():
		if !p.AllowNAT {
			return ErrNAT
		}
		if !m.NATTo.IsValid() {
			return reject(ReasonNAT, "NAT to host name %q not allowed", m.NATAccess)
		}
		ok := false
		for _, pfx := range p.AllowNATTo {
			ok = ok || pfx.Contains(m.NATTo.Addr())
		}
		if !ok {
			return reject(ReasonNAT, "NAT to %s not allowed", m.NATTo)
		}
	}

	// Ports: every requested one must be allowed.
	for _, want := range m.Ports {
		if !v.portAllowed(want) {
			return reject(ReasonPort, "port %s not allowed", want)
		}
	}

	// Client timeout.
	if m.Type.HasTimeout() && m.ClientTimeout > 0 {
		t := time.Duration(m.ClientTimeout) * time.Second
		if t > p.MaxClientTimeout {
			if p.RefuseLongTimeout {
				return reject(ReasonTimeout, "client timeout %ds above %ds", m.ClientTimeout, int(p.MaxClientTimeout/time.Second))
			}
			t = p.MaxClientTimeout
		}
		m.Timeout = t
	}
	return nil
}

func (v *Verifier) portAllowed(want l4.Port) bool {
	if len(v.p.AllowPorts) == 0 {
		return want.Proto == l4.TCP || want.Proto == l4.UDP
	}
	for _, a := range v.p.AllowPorts {
		if a == want {
			return true
		}
	}
	return false
}
