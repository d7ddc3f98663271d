package rotate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// FuzzParseSecret: no panic; what parses is 16 to 64 bytes and comes back
// from FormatSecret unchanged.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{vectorSecret, strings.ToLower(vectorSecret), "GEZD GNBV-GY3T", "AAAAAAAAAAAAAAAAAAAAAAAAAA======",
		"AAAAAAAAAAAAAAAAAAAAAAAAAB", "", "=", "GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ", strings.Repeat("A", 103), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseSecret(s)
		if err != nil {
			return
		}
		if len(b) < MinSecretLen || len(b) > MaxSecretLen {
			t.Fatalf("%q: %d bytes", s, len(b))
		}
		back, err := ParseSecret(FormatSecret(b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%q: round trip %x, %v; want %x", s, back, err, b)
		}
	})
}

// FuzzParseRange: what parses is a valid range and formats back.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10000-60000", " 1 - 256 ", "1-255", "0-1000", "-", "+1-+300", "65280-65535", "1-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParseRange(s)
		if err != nil {
			return
		}
		if lo < 1 || int(hi)-int(lo)+1 < MinWidth {
			t.Fatalf("%q: %d-%d", s, lo, hi)
		}
	})
}

// FuzzParseURI: no panic; what parses is valid and survives URI and
// ParseURI unchanged.
func FuzzParseURI(f *testing.F) {
	secret, _ := ParseSecret(vectorSecret)
	f.Add(URI(Default(secret), "ssh", "router.example.net"))
	f.Add(URI(Params{secret, 16, time.Hour, 1, 65535, l4.UDP}, "my door/ä?&#", ""))
	f.Add("otpauth://knock/knockd-go%3Assh?secret=" + vectorSecret + "&algorithm=sha256&host=%5B::1%5D")
	f.Add("otpauth://knock/knockd-go:ssh?secret=" + vectorSecret + "&secret=" + vectorSecret)
	f.Add("otpauth://knock/knockd-go:ssh?secret=AAAA&digits=99&period=0&ports=1-2#x")
	f.Add("otpauth://knock/knockd-go:%zz?x=%zz;y")
	f.Fuzz(func(t *testing.T, s string) {
		p, door, host, err := ParseURI(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil || door == "" {
			t.Fatalf("%q: parsed invalid %+v %q: %v", s, p, door, err)
		}
		u := URI(p, door, host)
		p2, door2, host2, err := ParseURI(u)
		if err != nil || !sameParams(p, p2) || door != door2 || host != host2 {
			t.Fatalf("%q: round trip through %q: %+v %q %q %v", s, u, p2, door2, host2, err)
		}
	})
}

// FuzzSequence: for any valid parameters and counter, Length ports of the
// protocol within the range, no two consecutive ports equal.
func FuzzSequence(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), 4, 30, uint16(10000), uint16(60000), true, uint64(1))
	f.Add([]byte("12345678901234567890"), 16, 60, uint16(1000), uint16(1255), false, uint64(8))
	f.Add([]byte("short"), 1, 1, uint16(0), uint16(0), false, uint64(0))
	f.Fuzz(func(t *testing.T, secret []byte, length, step int, lo, hi uint16, tcp bool, counter uint64) {
		p := Params{Secret: secret, Length: length, Step: time.Duration(step) * time.Second, Lo: lo, Hi: hi, Proto: l4.UDP}
		if tcp {
			p.Proto = l4.TCP
		}
		s := p.Sequence(counter)
		if p.Validate() != nil {
			if s != nil {
				t.Fatalf("%+v: sequence of invalid parameters", p)
			}
			return
		}
		checkSeq(t, p, s)
	})
}
