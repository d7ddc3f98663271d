package spa

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// vec returns the named test vector.
func vec(t testing.TB, prefix string) *vector {
	t.Helper()
	for i := range vectors {
		if strings.HasPrefix(vectors[i].name, prefix+" ") {
			return &vectors[i]
		}
	}
	t.Fatalf("no vector %s", prefix)
	return nil
}

func mustVerifier(t testing.TB, p Policy, now func() time.Time) *Verifier {
	t.Helper()
	v, err := NewVerifier(p, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantReject checks that err is an *Error of reason r whose text is msg
// (when msg is not empty).
func wantReject(t *testing.T, err error, r Reason, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %q", r)
	}
	if got := ReasonOf(err); got != r {
		t.Fatalf("reason %q (%v), want %q", got, err, r)
	}
	if !errors.Is(err, &Error{Reason: r}) {
		t.Fatalf("errors.Is(%v, reason %q) = false", err, r)
	}
	if msg != "" && err.Error() != msg {
		t.Fatalf("error text %q, want %q", err.Error(), msg)
	}
}

func TestRejections(t *testing.T) {
	v1 := vec(t, "v1")
	k := v1.keys(t)
	clock := fixedClock(v1.ts)
	wire := v1.wire

	wrongHMAC := k
	wrongHMAC.HMAC = []byte("not the key")
	wrongEnc := k
	wrongEnc.Rijndael = []byte("not the key")
	wrongType := k
	wrongType.HMACDigest = "sha3_256" // same length as sha256: a pure MAC mismatch

	// The last HMAC character carries 2 spare bits: same decoded bytes,
	// different text. It must still be refused (compared as text).
	last := wire[len(wire)-1]
	spare := string(rune(b64alphabet[strings.IndexByte(b64alphabet, last)^1]))

	tests := []struct {
		name    string
		keys    Keys
		now     func() time.Time
		payload string
		reason  Reason
		msg     string
	}{
		{"truncated", k, clock, wire[:100], ReasonTruncated, "truncated"},
		{"empty", k, clock, "", ReasonTruncated, ""},
		{"one byte short", k, clock, wire[:len(wire)-1], ReasonHMAC, ""},
		{"too long", k, clock, wire + strings.Repeat("A", MaxPacketLen), ReasonTooLong, ""},
		{"U2FsdGVkX1 prefix", k, clock, saltedB64 + wire, ReasonSaltedPrefix, "payload starts with U2FsdGVkX1"},
		{"newline", k, clock, wire + "\n", ReasonNotBase64, "not base64"},
		{"padding", k, clock, wire + "=", ReasonNotBase64, ""},
		{"NUL", k, clock, wire[:50] + "\x00" + wire[51:], ReasonNotBase64, ""},
		{"first byte", k, clock, "A" + wire[1:], ReasonNotSPA, "not an SPA packet"},
		{"wrong HMAC key", wrongHMAC, clock, wire, ReasonHMAC, "HMAC mismatch"},
		{"wrong HMAC digest type", wrongType, clock, wire, ReasonHMAC, ""},
		{"HMAC spare bits", k, clock, wire[:len(wire)-1] + spare, ReasonHMAC, ""},
		{"wrong Rijndael key", wrongEnc, clock, wire, ReasonDecrypt, "decryption failed"},
		{"stale", k, fixedClock(v1.ts + 301), wire, ReasonStale, "stale timestamp (-301s)"},
		{"future", k, fixedClock(v1.ts - 121), wire, ReasonStale, "stale timestamp (+121s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, openPolicy(tc.keys), tc.now)
			m, err := v.Verify([]byte(tc.payload), vecSrc)
			if m != nil {
				t.Errorf("got a message with an error")
			}
			wantReject(t, err, tc.reason, tc.msg)
		})
	}
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// TestSpareBitsDecodeSame makes sure the spare-bits case above really is
// the malleability trap: the mutated text decodes to the same bytes.
func TestSpareBitsDecodeSame(t *testing.T) {
	v1 := vec(t, "v1")
	mac := v1.wire[len(v1.wire)-43:]
	last := mac[len(mac)-1]
	alt := mac[:42] + string(b64alphabet[strings.IndexByte(b64alphabet, last)^1])
	a, err1 := b64.DecodeString(mac)
	b, err2 := b64.DecodeString(alt)
	if err1 != nil || err2 != nil || string(a) != string(b) || mac == alt {
		t.Fatalf("spare-bit variant does not decode the same: %v %v", err1, err2)
	}
}

func TestAgeWindowEdges(t *testing.T) {
	v1 := vec(t, "v1")
	for _, c := range []struct {
		delta int64
		ok    bool
	}{{-120, true}, {120, true}, {-121, false}, {121, false}, {0, true}} {
		v := mustVerifier(t, openPolicy(v1.keys(t)), fixedClock(v1.ts+c.delta))
		_, err := v.Verify([]byte(v1.wire), vecSrc)
		if (err == nil) != c.ok {
			t.Errorf("clock ts%+d: err %v, want ok=%v", c.delta, err, c.ok)
		}
	}
	// A configured window.
	p := openPolicy(v1.keys(t))
	p.MaxAge = 30 * time.Second
	v := mustVerifier(t, p, fixedClock(v1.ts+31))
	_, err := v.Verify([]byte(v1.wire), vecSrc)
	wantReject(t, err, ReasonStale, "stale timestamp (-31s)")

	// NotBefore: a packet stamped before the daemon started.
	p = openPolicy(v1.keys(t))
	p.NotBefore = time.Unix(v1.ts+5, 0)
	v = mustVerifier(t, p, fixedClock(v1.ts+10))
	_, err = v.Verify([]byte(v1.wire), vecSrc)
	wantReject(t, err, ReasonStale, "")
}

// TestFlippedBytes changes every byte of every vector in turn, to another
// base64 character and to an arbitrary byte: nothing may be accepted.
func TestFlippedBytes(t *testing.T) {
	for _, vec := range vectors {
		k := vec.keys(t)
		for i := 0; i < len(vec.wire); i++ {
			for _, repl := range []byte{
				b64alphabet[(strings.IndexByte(b64alphabet, vec.wire[i])+1)%64],
				b64alphabet[(strings.IndexByte(b64alphabet, vec.wire[i])+33)%64],
				vec.wire[i] ^ 0x80,
			} {
				p := []byte(vec.wire)
				p[i] = repl
				// Fresh verifier: no replay cache hit can hide a bug.
				v := mustVerifier(t, openPolicy(k), fixedClock(vec.ts))
				if m, err := v.Verify(p, vecSrc); err == nil {
					t.Fatalf("%s: byte %d -> %q accepted: %+v", vec.name, i, repl, m)
				} else if r := ReasonOf(err); r == 0 || r.Authenticated() {
					t.Fatalf("%s: byte %d -> %q: reason %v after the HMAC", vec.name, i, repl, err)
				}
			}
		}
	}
}

func TestPolicy(t *testing.T) {
	src := vecSrc
	other := netip.MustParseAddr("198.51.100.7")
	tests := []struct {
		name   string
		vec    string
		src    netip.Addr
		edit   func(*Policy)
		reason Reason // 0: accepted
		msg    string
		check  func(*testing.T, *Message)
	}{
		{name: "port allowed", vec: "v1", src: src, edit: func(p *Policy) { p.AllowPorts = []l4.Port{{Proto: l4.TCP, Num: 443}, {Proto: l4.TCP, Num: 22}} }},
		{name: "port denied", vec: "v1", src: src, edit: func(p *Policy) { p.AllowPorts = []l4.Port{{Proto: l4.TCP, Num: 443}} },
			reason: ReasonPort, msg: "port tcp/22 not allowed"},
		{name: "one of two ports denied", vec: "v4", src: src, edit: func(p *Policy) { p.AllowPorts = []l4.Port{{Proto: l4.TCP, Num: 22}} },
			reason: ReasonPort, msg: "port udp/53 not allowed"},
		{name: "udp vs tcp", vec: "v1", src: src, edit: func(p *Policy) { p.AllowPorts = []l4.Port{{Proto: l4.UDP, Num: 22}} },
			reason: ReasonPort},
		{name: "0.0.0.0 refused", vec: "v4", src: src, edit: func(p *Policy) { p.AllowAnySource = false },
			reason: ReasonAnySource, msg: "0.0.0.0 not allowed"},
		{name: "0.0.0.0 grants the source", vec: "v4", src: other, check: func(t *testing.T, m *Message) {
			checkField(t, "Grant", m.Grant, other)
		}},
		{name: "0.0.0.0 with an IPv4-mapped source", vec: "v4", src: netip.MustParseAddr("::ffff:198.51.100.7"),
			check: func(t *testing.T, m *Message) { checkField(t, "Grant", m.Grant, other) }},
		{name: "address differs, not required", vec: "v1", src: other, check: func(t *testing.T, m *Message) {
			checkField(t, "Grant", m.Grant, src)
		}},
		{name: "address differs, required", vec: "v1", src: other, edit: func(p *Policy) { p.RequireSourceMatch = true },
			reason: ReasonSourceMismatch, msg: "address 10.99.0.1 does not match packet source 198.51.100.7"},
		{name: "address matches, required", vec: "v1", src: src, edit: func(p *Policy) { p.RequireSourceMatch = true }},
		{name: "user required", vec: "v1", src: src, edit: func(p *Policy) { p.RequireUser = "spauser" }},
		{name: "user refused", vec: "v1", src: src, edit: func(p *Policy) { p.RequireUser = "root" },
			reason: ReasonUser, msg: `user "spauser" not allowed`},
		{name: "command refused", vec: "v9", src: src, edit: func(p *Policy) { p.AllowCommands = false },
			reason: ReasonCommand, msg: "command messages not allowed"},
		{name: "command allowed", vec: "v9", src: src, check: func(t *testing.T, m *Message) {
			checkField(t, "Command", m.Command, "uptime")
		}},
		{name: "NAT refused", vec: "v3", src: src, edit: func(p *Policy) { p.AllowNAT = false },
			reason: ReasonNAT, msg: "NAT access not allowed"},
		{name: "NAT outside prefixes", vec: "v3", src: src,
			edit:   func(p *Policy) { p.AllowNATTo = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			reason: ReasonNAT, msg: "NAT to 192.168.1.10:22 not allowed"},
		{name: "NAT with no prefixes", vec: "v3", src: src, edit: func(p *Policy) { p.AllowNATTo = nil }, reason: ReasonNAT},
		{name: "NAT inside prefixes", vec: "v3", src: src,
			edit: func(p *Policy) { p.AllowNATTo = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")} },
			check: func(t *testing.T, m *Message) {
				checkField(t, "NATTo", m.NATTo, netip.MustParseAddrPort("192.168.1.10:22"))
			}},
		{name: "local NAT refused", vec: "v10", src: src, edit: func(p *Policy) { p.AllowLocalNAT = false },
			reason: ReasonNAT, msg: "local NAT access not allowed"},
		{name: "client timeout kept", vec: "v2", src: src, check: func(t *testing.T, m *Message) {
			checkField(t, "Timeout", m.Timeout, 60*time.Second)
		}},
		{name: "client timeout clamped", vec: "v2", src: src, edit: func(p *Policy) { p.MaxClientTimeout = 30 * time.Second },
			check: func(t *testing.T, m *Message) {
				checkField(t, "Timeout", m.Timeout, 30*time.Second)
				checkField(t, "ClientTimeout", m.ClientTimeout, 60)
			}},
		{name: "client timeout refused", vec: "v2", src: src,
			edit:   func(p *Policy) { p.MaxClientTimeout = 30 * time.Second; p.RefuseLongTimeout = true },
			reason: ReasonTimeout, msg: "client timeout 60s above 30s"},
		{name: "no client timeout", vec: "v1", src: src, check: func(t *testing.T, m *Message) {
			checkField(t, "Timeout", m.Timeout, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vv := vec(t, tc.vec)
			p := openPolicy(vv.keys(t))
			if tc.edit != nil {
				tc.edit(&p)
			}
			v := mustVerifier(t, p, fixedClock(vv.ts))
			m, err := v.Verify([]byte(vv.wire), tc.src)
			if tc.reason != 0 {
				wantReject(t, err, tc.reason, tc.msg)
				if !tc.reason.Authenticated() {
					t.Errorf("policy reason %q not marked authenticated", tc.reason)
				}
				// Denied after authentication: the digest is burnt.
				_, err = v.Verify([]byte(vv.wire), tc.src)
				wantReject(t, err, ReasonReplay, "replayed packet")
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestNewVerifierErrors(t *testing.T) {
	good := vec(t, "v1").keys(t)
	for _, c := range []struct {
		name string
		edit func(*Policy)
	}{
		{"no Rijndael key", func(p *Policy) { p.Keys.Rijndael = nil }},
		{"long Rijndael key", func(p *Policy) { p.Keys.Rijndael = make([]byte, 33) }},
		{"no HMAC key", func(p *Policy) { p.Keys.HMAC = nil }},
		{"long HMAC key", func(p *Policy) { p.Keys.HMAC = make([]byte, 137) }},
		{"same keys", func(p *Policy) { p.Keys.HMAC = p.Keys.Rijndael }},
		{"bad digest", func(p *Policy) { p.Keys.HMACDigest = "sha224" }},
		{"bad port", func(p *Policy) { p.AllowPorts = []l4.Port{{Proto: l4.Proto(132), Num: 1}} }},
	} {
		p := Policy{Keys: good}
		c.edit(&p)
		if _, err := NewVerifier(p, nil, nil); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	// Digest names are case-insensitive and accept '-'.
	p := Policy{Keys: good}
	p.Keys.HMACDigest = "SHA3-256"
	if _, err := NewVerifier(p, nil, nil); err != nil {
		t.Errorf("SHA3-256: %v", err)
	}
}

func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonTruncated; r <= ReasonTimeout; r++ {
		s := r.String()
		if strings.HasPrefix(s, "reason ") || seen[s] {
			t.Errorf("reason %d: text %q missing or duplicate", int(r), s)
		}
		seen[s] = true
	}
	if ReasonHMAC.Authenticated() || !ReasonDecrypt.Authenticated() || !ReasonPort.Authenticated() {
		t.Error("Authenticated boundary wrong")
	}
	if errors.Is(ErrHMAC, ErrReplay) || !errors.Is(reject(ReasonPort, "x"), ErrPort) {
		t.Error("errors.Is by reason broken")
	}
	if ErrReplay.Error() != "replayed packet" {
		t.Errorf("sentinel text %q", ErrReplay.Error())
	}
}

func TestDecodeKey(t *testing.T) {
	for _, s := range []string{vecKeyB64, strings.TrimRight(vecKeyB64, "="), " " + vecKeyB64 + "\n"} {
		k, err := DecodeKey(s)
		if err != nil || len(k) != 32 {
			t.Errorf("DecodeKey(%q) = %d bytes, %v", s, len(k), err)
		}
	}
	if _, err := DecodeKey("not*base64"); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestParsePort(t *testing.T) {
	for _, c := range []struct {
		in   string
		want l4.Port
		ok   bool
	}{
		{"tcp/22", l4.Port{Proto: l4.TCP, Num: 22}, true},
		{"UDP/53", l4.Port{Proto: l4.UDP, Num: 53}, true},
		{"tcp/65535", l4.Port{Proto: l4.TCP, Num: 65535}, true},
		{"tcp/0", l4.Port{}, false},
		{"tcp/65536", l4.Port{}, false},
		{"tcp/", l4.Port{}, false},
		{"tcp22", l4.Port{}, false},
		{"sctp/1", l4.Port{}, false},
		{"tcp/-1", l4.Port{}, false},
		{"tcp/+1", l4.Port{}, false},
	} {
		got, err := ParsePort(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePort(%q) = %v, %v", c.in, got, err)
		}
	}
}

// sealed builds an authenticated packet (v1 keys) around an encoded message,
// with its sha256 digest appended when digest is true.
func sealed(t *testing.T, encoded string, digest bool) []byte {
	t.Helper()
	pt := encoded
	if digest {
		h := newDigest(t, "sha256")
		h.Write([]byte(encoded))
		pt += ":" + b64.EncodeToString(h.Sum(nil))
	}
	return seal(vec(t, "v1").keys(t), []byte(pt))
}

func newDigest(t *testing.T, name string) interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
} {
	t.Helper()
	d, err := lookupDigest(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.new()
}

// TestAuthenticatedMalformed feeds packets with a valid HMAC but broken
// contents: each must be refused with the right reason.
func TestAuthenticatedMalformed(t *testing.T) {
	const ts = "1795544500"
	b := func(s string) string { return b64.EncodeToString([]byte(s)) }
	head := "1234567890123456:" + b("alice") + ":" + ts + ":3.0.0:"
	access := b("10.0.0.1,tcp/22")
	tests := []struct {
		name    string
		encoded string
		digest  bool
		reason  Reason
	}{
		{"valid", head + "1:" + access, true, 0},
		{"valid NAT to host name, local", head + "5:" + access + ":" + b("router.lan,22"), true, 0},
		{"NAT to host name, forward", head + "2:" + access + ":" + b("host.lan,22"), true, ReasonNAT},
		{"valid server_auth and timeout", head + "3:" + access + ":" + b("auth") + ":30", true, 0},
		{"no digest", head + "1:" + access, false, ReasonDigest},
		{"wrong digest", head + "1:" + access + ":" + strings.Repeat("A", 43), false, ReasonDigest},
		{"odd digest length", head + "1:" + access + ":" + strings.Repeat("A", 40), false, ReasonDigest},
		{"not 16 digits", "123456789012345:" + b("alice") + ":" + ts + ":3.0.0:1:" + access, true, ReasonDecrypt},
		{"17 digits", "12345678901234567:" + b("alice") + ":" + ts + ":3.0.0:1:" + access, true, ReasonDecrypt},
		{"letter in random", "123456789012345x:" + b("alice") + ":" + ts + ":3.0.0:1:" + access, true, ReasonDecrypt},
		{"unprintable", head + "1:" + access + "\x01", true, ReasonMalformed},
		{"too few fields", head + "1", true, ReasonMalformed},
		{"too many fields", head + "3:" + access + ":" + b("a") + ":30:1", true, ReasonMalformed},
		{"empty user", "1234567890123456::" + ts + ":3.0.0:1:" + access, true, ReasonMalformed},
		{"user with colon", "1234567890123456:" + b("a:b") + ":" + ts + ":3.0.0:1:" + access, true, ReasonMalformed},
		{"user not base64", "1234567890123456:a*b:" + ts + ":3.0.0:1:" + access, true, ReasonMalformed},
		{"long user", "1234567890123456:" + b(strings.Repeat("u", 49)) + ":" + ts + ":3.0.0:1:" + access, true, ReasonMalformed},
		{"timestamp letters", "1234567890123456:" + b("alice") + ":17955x4500:3.0.0:1:" + access, true, ReasonMalformed},
		{"timestamp 13 digits", "1234567890123456:" + b("alice") + ":0001795544500:3.0.0:1:" + access, true, ReasonMalformed},
		{"empty version", "1234567890123456:" + b("alice") + ":" + ts + "::1:" + access, true, ReasonMalformed},
		{"long version", "1234567890123456:" + b("alice") + ":" + ts + ":3.0.0.0.0:1:" + access, true, ReasonMalformed},
		{"type 7", head + "7:" + access, true, ReasonMalformed},
		{"type 10", head + "10:" + access, true, ReasonMalformed},
		{"type letter", head + "x:" + access, true, ReasonMalformed},
		{"message not base64", head + "1:a*b", true, ReasonMalformed},
		{"message too long", head + "1:" + b("10.0.0.1,"+strings.Repeat("tcp/1,", 32)+"tcp/2"), true, ReasonMalformed},
		{"no ports", head + "1:" + b("10.0.0.1"), true, ReasonMalformed},
		{"bad address", head + "1:" + b("10.0.0,tcp/22"), true, ReasonMalformed},
		{"zoned address", head + "1:" + b("fe80::1%eth0,tcp/22"), true, ReasonMalformed},
		{"bad port", head + "1:" + b("10.0.0.1,tcp/70000"), true, ReasonMalformed},
		{"spaced port", head + "1:" + b("10.0.0.1, tcp/22"), true, ReasonMalformed},
		{"empty command", head + "0:" + b("10.0.0.1,"), true, ReasonMalformed},
		{"NAT missing", head + "2:" + access, true, ReasonMalformed},
		{"NAT two commas", head + "2:" + access + ":" + b("1.2.3.4,22,23"), true, ReasonMalformed},
		{"NAT port 0", head + "2:" + access + ":" + b("1.2.3.4,0"), true, ReasonMalformed},
		{"NAT host too long", head + "5:" + access + ":" + b(strings.Repeat("h", 71)+",22"), true, ReasonMalformed},
		{"NAT host bad char", head + "5:" + access + ":" + b("h st,22"), true, ReasonMalformed},
		{"timeout missing", head + "3:" + access, true, ReasonMalformed},
		{"timeout letters", head + "3:" + access + ":3x", true, ReasonMalformed},
		{"timeout too big", head + "3:" + access + ":65537", true, ReasonMalformed},
		{"two extra fields without timeout", head + "1:" + access + ":" + b("a") + ":" + b("b"), true, ReasonMalformed},
		{"server_auth not base64", head + "1:" + access + ":a*", true, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, openPolicy(vec(t, "v1").keys(t)), fixedClock(1795544500))
			v.p.AllowNATTo = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			m, err := v.Verify(sealed(t, tc.encoded, tc.digest), vecSrc)
			if tc.reason == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if m.User != "alice" {
					t.Errorf("User %q", m.User)
				}
				return
			}
			wantReject(t, err, tc.reason, "")
		})
	}
}

func TestDigestsList(t *testing.T) {
	got := strings.Join(Digests(), " ")
	if got != "md5 sha1 sha256 sha384 sha512 sha3_256 sha3_512" {
		t.Errorf("Digests() = %s", got)
	}
	for _, d := range Digests() {
		if h := newDigest(t, d); len(b64.EncodeToString(h.Sum(nil))) == 0 {
			t.Errorf("%s: empty digest", d)
		}
	}
	if TypeCommand.String() != "command" || MsgType(9).String() != "type 9" || Reason(99).String() != "reason 99" {
		t.Error("String fallbacks")
	}
}
