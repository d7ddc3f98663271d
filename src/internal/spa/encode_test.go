package spa

import (
	"bytes"
	"encoding/hex"
	"io"
	"math/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// testRand is a deterministic random source for tests.
func testRand(seed int64) io.Reader { return rand.New(rand.NewSource(seed)) }

func TestDeriveKeyIV(t *testing.T) {
	// Known answer from fwknop 2.6.10 packet E1 (research notes, 1.5).
	pass, err := DecodeKey(vecKeyB64)
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := hex.DecodeString("8111313b8cd3028e")
	key, iv := deriveKeyIV(pass, salt)
	if got := hex.EncodeToString(key[:]); got != "46e40f02e57983048c8faa2cc5156780a3e43ffd82255046edc01dfa695b8344" {
		t.Errorf("key %s", got)
	}
	if got := hex.EncodeToString(iv[:]); got != "542bd6f14432a4f10dbb89031639c042" {
		t.Errorf("iv %s", got)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	for n := 0; n < 40; n++ {
		pt := bytes.Repeat([]byte{'x'}, n)
		ct := encryptSalted([]byte("k"), []byte("saltsalt"), pt)
		if len(ct) != 16+(n/16+1)*16 || string(ct[:8]) != "Salted__" {
			t.Fatalf("len %d: bad ciphertext length %d", n, len(ct))
		}
		got, ok := decryptSalted([]byte("k"), ct)
		if !ok || !bytes.Equal(got, pt) {
			t.Fatalf("len %d: round trip failed", n)
		}
		if _, ok := decryptSalted([]byte("other"), encryptSalted([]byte("k"), []byte("saltsalt"), pt)); ok && n%16 == 15 {
			// A wrong key yields a valid pad about 1 time in 256; only
			// log, the digit/colon and digest checks stop it later.
			t.Logf("len %d: wrong key gave a valid pad", n)
		}
	}
	if _, ok := decryptSalted([]byte("k"), make([]byte, 31)); ok {
		t.Error("short ciphertext accepted")
	}
	if _, ok := decryptSalted([]byte("k"), make([]byte, 40)); ok {
		t.Error("unaligned ciphertext accepted")
	}
}

func TestEncodeVerifyRoundTrip(t *testing.T) {
	base := vec(t, "v1").keys(t)
	now := time.Unix(1795600000, 0)
	tests := []struct {
		name string
		hmac string
		m    Message
		want MsgType
	}{
		{"access", "", Message{User: "alice", Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}, TypeAccess},
		{"two ports md5/md5", "md5", Message{User: "bob", Addr: netip.MustParseAddr("203.0.113.5"),
			Ports: []l4.Port{{Proto: l4.TCP, Num: 22}, {Proto: l4.UDP, Num: 1194}}, DigestType: "md5"}, TypeAccess},
		{"sha1/sha1", "sha1", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, DigestType: "sha1"}, TypeAccess},
		{"sha384/sha384", "sha384", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, DigestType: "sha384"}, TypeAccess},
		{"sha512/sha512", "sha512", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, DigestType: "sha512"}, TypeAccess},
		{"sha3_256", "sha3_256", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, DigestType: "sha3_256"}, TypeAccess},
		{"sha3_512", "sha3_512", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 443}}, DigestType: "sha3_512"}, TypeAccess},
		{"source 0.0.0.0", "", Message{Addr: netip.IPv4Unspecified(), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}, TypeAccess},
		{"IPv6 (knockd-go only)", "", Message{Addr: netip.MustParseAddr("2001:db8::5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}, TypeAccess},
		{"client timeout", "", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, ClientTimeout: 90}, TypeClientTimeoutAccess},
		{"NAT", "", Message{Type: TypeNATAccess, Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 2222}},
			NATTo: netip.MustParseAddrPort("192.168.1.10:22")}, TypeNATAccess},
		{"NAT timeout", "", Message{Type: TypeNATAccess, Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 2222}},
			NATTo: netip.MustParseAddrPort("192.168.1.10:22"), ClientTimeout: 20}, TypeClientTimeoutNATAccess},
		{"local NAT", "", Message{Type: TypeLocalNATAccess, Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 55000}},
			NATAccess: "router.example.net,22"}, TypeLocalNATAccess},
		{"local NAT timeout", "", Message{Type: TypeLocalNATAccess, Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 55000}},
			NATAccess: "10.0.0.1,22", ClientTimeout: 5}, TypeClientTimeoutLocalNATAccess},
		{"command", "", Message{Type: TypeCommand, Addr: netip.MustParseAddr("203.0.113.5"), Command: "echo hi: there"}, TypeCommand},
		{"server auth", "", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}, ServerAuth: "crypt,pw"}, TypeAccess},
		{"server auth + timeout", "", Message{Addr: netip.MustParseAddr("203.0.113.5"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}},
			ServerAuth: "crypt,pw", ClientTimeout: 7}, TypeClientTimeoutAccess},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := base
			k.HMACDigest = tc.hmac
			m := tc.m
			m.Timestamp = now
			wire, err := Encode(&m, k, testRand(int64(i)))
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !strings.ContainsRune("89+/", rune(wire[0])) || len(wire) < MinPacketLen {
				t.Fatalf("wire starts %q, %d bytes", wire[0], len(wire))
			}
			v := mustVerifier(t, openPolicy(k), fixedClock(now.Unix()+3))
			src := netip.MustParseAddr("198.51.100.1")
			got, err := v.Verify(wire, src)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkField(t, "Type", got.Type, tc.want)
			checkField(t, "Timestamp", got.Timestamp.Unix(), now.Unix())
			checkField(t, "Addr", got.Addr, tc.m.Addr)
			checkField(t, "Command", got.Command, tc.m.Command)
			checkField(t, "ClientTimeout", got.ClientTimeout, tc.m.ClientTimeout)
			checkField(t, "ServerAuth", got.ServerAuth, tc.m.ServerAuth)
			checkField(t, "Version", got.Version, ProtocolVersion)
			checkField(t, "len(Random)", len(got.Random), 16)
			wantUser := tc.m.User
			if wantUser == "" {
				wantUser = "NO_USER"
			}
			checkField(t, "User", got.User, wantUser)
			wantDigest := tc.m.DigestType
			if wantDigest == "" {
				wantDigest = "sha256"
			}
			checkField(t, "DigestType", got.DigestType, wantDigest)
			checkField(t, "Ports", len(got.Ports), len(tc.m.Ports))
			for j := range got.Ports {
				checkField(t, "Port", got.Ports[j], tc.m.Ports[j])
			}
			if tc.m.NATTo.IsValid() {
				checkField(t, "NATTo", got.NATTo, tc.m.NATTo)
			}
			if tc.m.NATAccess != "" {
				checkField(t, "NATAccess", got.NATAccess, tc.m.NATAccess)
			}
			if tc.m.Addr.IsUnspecified() {
				checkField(t, "Grant", got.Grant, src)
			}
		})
	}
}

func TestEncodeDeterministic(t *testing.T) {
	k := vec(t, "v1").keys(t)
	m := &Message{User: "u", Timestamp: time.Unix(1795600000, 0), Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	a, err1 := Encode(m, k, testRand(1))
	b, err2 := Encode(m, k, testRand(1))
	c, err3 := Encode(m, k, testRand(2))
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("Encode is not a function of its random source")
	}
	if m.Random != "" || m.Type != 0 {
		t.Error("Encode modified its message")
	}
	// crypto/rand by default.
	d, err := Encode(m, k, nil)
	if err != nil || bytes.Equal(a, d) {
		t.Errorf("Encode with nil rand: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	k := vec(t, "v1").keys(t)
	ok := Message{User: "u", Timestamp: time.Unix(1795600000, 0), Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	tests := []struct {
		name string
		edit func(*Message, *Keys)
	}{
		{"no timestamp", func(m *Message, _ *Keys) { m.Timestamp = time.Time{} }},
		{"bad user", func(m *Message, _ *Keys) { m.User = "a:b" }},
		{"long user", func(m *Message, _ *Keys) { m.User = strings.Repeat("u", 60) }},
		{"no address", func(m *Message, _ *Keys) { m.Addr = netip.Addr{} }},
		{"no ports", func(m *Message, _ *Keys) { m.Ports = nil }},
		{"bad port", func(m *Message, _ *Keys) { m.Ports = []l4.Port{{Proto: l4.TCP, Num: 0}} }},
		{"command with timeout", func(m *Message, _ *Keys) { m.Type = TypeCommand; m.Command = "x"; m.ClientTimeout = 5 }},
		{"command without address", func(m *Message, _ *Keys) { m.Type = TypeCommand; m.Command = "x"; m.Addr = netip.Addr{} }},
		{"NAT without destination", func(m *Message, _ *Keys) { m.Type = TypeNATAccess }},
		{"bad type", func(m *Message, _ *Keys) { m.Type = 9 }},
		{"bad random", func(m *Message, _ *Keys) { m.Random = "12345" }},
		{"negative timeout", func(m *Message, _ *Keys) { m.ClientTimeout = -1 }},
		{"bad digest", func(m *Message, _ *Keys) { m.DigestType = "crc32" }},
		{"bad keys", func(_ *Message, k *Keys) { k.HMAC = nil }},
		{"too long", func(m *Message, _ *Keys) {
			m.Access = "192.0.2.1," + strings.Repeat("tcp/1,", 40) + "tcp/2"
		}},
	}
	for _, tc := range tests {
		m, kk := ok, k
		tc.edit(&m, &kk)
		if _, err := Encode(&m, kk, testRand(1)); err == nil {
			t.Errorf("%s: Encode succeeded", tc.name)
		} else if !strings.HasPrefix(err.Error(), "encode: ") {
			t.Errorf("%s: error %q lacks context", tc.name, err)
		}
	}
	if _, err := Encode(&ok, k, testRand(1)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
}

func TestRandomDigits(t *testing.T) {
	s, err := randomDigits(testRand(3), 16)
	if err != nil || len(s) != 16 || !allDigits(s) {
		t.Fatalf("%q %v", s, err)
	}
	if _, err := randomDigits(bytes.NewReader(bytes.Repeat([]byte{255}, 10000)), 16); err == nil {
		t.Error("unusable random source accepted")
	}
	if _, err := randomDigits(bytes.NewReader(nil), 16); err == nil {
		t.Error("empty random source accepted")
	}
}
