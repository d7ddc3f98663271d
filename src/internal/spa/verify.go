package spa

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"net/netip"
	"strings"
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

// NewVerifier returns a Verifier for p. now is the clock (time.Now when
// nil). replay may be shared between doors and kept across reloads; nil
// gives the Verifier its own cache of DefaultReplayCap entries.
func NewVerifier(p Policy, now func() time.Time, replay *ReplayCache) (*Verifier, error) {
	if err := p.Keys.Validate(); err != nil {
		return nil, err
	}
	alg, _ := lookupDigest(p.Keys.HMACDigest)
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.MaxClientTimeout <= 0 {
		p.MaxClientTimeout = DefaultMaxClientTimeout
	}
	for _, port := range p.AllowPorts {
		if (port.Proto != l4.TCP && port.Proto != l4.UDP) || port.Num == 0 {
			return nil, fmt.Errorf("allowed port %s: want tcp or udp and a port number", port)
		}
	}
	if now == nil {
		now = time.Now
	}
	if replay == nil {
		replay = NewReplayCache(0)
	}
	key := append([]byte(nil), p.Keys.HMAC...)
	p.Keys.Rijndael = append([]byte(nil), p.Keys.Rijndael...)
	p.Keys.HMAC = key
	v := &Verifier{p: p, now: now, replay: replay, macLen: alg.b64len}
	v.macPool.New = func() any { return &macState{h: hmac.New(alg.new, key)} }
	return v, nil
}

// b64set marks the bytes of the base64 alphabet fwknop sends.
var b64set = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = true
	}
	return t
}()

// Verify authenticates and decodes one SPA payload (the UDP data, exactly
// as received) from source address src, and applies the policy. On success
// the returned Message has Grant (the address to open for) and Timeout
// set. Every failure is an *Error; see Reason.
func (v *Verifier) Verify(payload []byte, src netip.Addr) (*Message, error) {
	// Cheap checks first: a flood of garbage stops here or at the HMAC.
	n := len(payload)
	if n < MinPacketLen {
		return nil, ErrTruncated
	}
	if n > MaxPacketLen {
		return nil, ErrTooLong
	}
	if string(payload[:len(saltedB64)]) == saltedB64 {
		return nil, ErrSaltedPrefix
	}
	// The 11th character of base64("Salted__"||salt) holds the low 4
	// bits of '_' and 2 salt bits: it is always one of 8 9 + /.
	switch payload[0] {
	case '8', '9', '+', '/':
	default:
		return nil, ErrNotSPA
	}
	for _, c := range payload {
		if !b64set[c] {
			return nil, ErrNotBase64
		}
	}
	// A packet the cache holds is a byte-for-byte copy of one already
	// authenticated (the key is its SHA-256): refused before the HMAC and
	// the decryption, so a replay at full rate costs one digest a packet.
	digest := sha256.Sum256(payload)
	if v.replay.has(digest) {
		return nil, ErrReplay
	}
	body, mac := payload[:n-v.macLen], payload[n-v.macLen:]
	if !v.checkMAC(body, mac) {
		return nil, ErrHMAC
	}

	// Authenticated: the sender holds the HMAC key.
	m, err := v.decrypt(body)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if err := v.checkAge(m, now); err != nil {
		return nil, err
	}
	if err := v.replay.add(digest, m.Timestamp.Unix(), now, v.p.MaxAge); err != nil {
		return nil, err
	}
	if err := v.checkPolicy(m, src.Unmap()); err != nil {
		return nil, err
	}
	return m, nil
}

// checkMAC compares, in constant time, the base64 text of
// HMAC("U2FsdGVkX1" || body) with the received text (as fwknopd: comparing
// text rejects the spare bits of the last character).
func (v *Verifier) checkMAC(body, mac []byte) bool {
	st := v.macPool.Get().(*macState)
	defer v.macPool.Put(st)
	st.h.Reset()
	st.h.Write(saltedPrefix)
	st.h.Write(body)
	s := st.h.Sum(st.sum[:0])
	b64.Encode(st.text[:], s)
	return subtle.ConstantTimeCompare(st.text[:b64.EncodedLen(len(s))], mac) == 1
}

// decrypt decrypts the authenticated body, checks the inner digest and
// parses the fields.
func (v *Verifier) decrypt(body []byte) (*Message, error) {
	full := make([]byte, 0, len(saltedB64)+len(body))
	full = append(append(full, saltedB64...), body...)
	ct := make([]byte, b64.DecodedLen(len(full)))
	k, err := b64.Decode(ct, full)
	if err != nil {
		return nil, reject(ReasonDecrypt, "decryption failed (bad base64)")
	}
	pt, ok := decryptSalted(v.p.Keys.Rijndael, ct[:k])
	if !ok {
		return nil, ErrDecrypt
	}
	// A right key yields 16 digits and ':' (libfko's own sanity check).
	if len(pt) < randLen+1 || !allDigits(string(pt[:randLen])) || pt[randLen] != ':' {
		return nil, ErrDecrypt
	}
	for _, c := range pt {
		if c < 0x20 || c > 0x7e {
			return nil, malformed("unprintable byte")
		}
	}
	s := string(pt)
	i := strings.LastIndexByte(s, ':')
	encoded, digest := s[:i], s[i+1:]
	m := &Message{Digest: digest}
	if m.DigestType, ok = checkDigest(encoded, digest); !ok {
		return nil, ErrDigest
	}
	if err := parseEncoded(encoded, m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkDigest verifies the inner digest, whose type fwknop infers from its
// length (43 and 86 characters are tried as SHA-2 then SHA-3).
func checkDigest(encoded, digest string) (string, bool) {
	for _, d := range digestAlgs {
		if d.b64len != len(digest) {
			continue
		}
		h := d.new()
		h.Write([]byte(encoded))
		if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(h.Sum(nil))), []byte(digest)) == 1 {
			return d.name, true
		}
	}
	return "", false
}

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
