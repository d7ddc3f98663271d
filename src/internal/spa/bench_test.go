package spa

import (
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// garbage returns n random base64 characters; first, when not 0, is the
// first byte.
func garbage(r *rand.Rand, n int, first byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = b64alphabet[r.Intn(64)]
	}
	if first != 0 {
		p[0] = first
	}
	return p
}

// BenchmarkVerifyGarbage measures what a flood costs per packet.
func BenchmarkVerifyGarbage(b *testing.B) {
	k := vec(b, "v1").keys(b)
	v := mustVerifier(b, Policy{Keys: k}, fixedClock(1795544500))
	r := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name    string
		payload []byte
	}{
		// Worst case: passes every pre-check, fails the HMAC.
		{"hmac", garbage(r, 225, '+')},
		{"hmac-1500", garbage(r, 1500, '/')},
		// Typical random base64: 60 in 64 fail the first-byte check.
		{"first-byte", garbage(r, 225, 'A')},
		{"short", garbage(r, 60, '+')},
		{"binary", append([]byte{'+'}, make([]byte, 224)...)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(c.payload, vecSrc); err == nil {
					b.Fatal("garbage accepted")
				}
			}
		})
	}
}

// BenchmarkVerifyValid measures a full accept: HMAC, decryption, digest,
// parsing, replay cache and policy.
func BenchmarkVerifyValid(b *testing.B) {
	k := vec(b, "v1").keys(b)
	now := time.Unix(1795600000, 0)
	const pool = 2048
	pkts := make([][]byte, pool)
	for i := range pkts {
		m := &Message{User: "bench", Timestamp: now, Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
		w, err := Encode(m, k, rand.New(rand.NewSource(int64(i))))
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = w
	}
	v := mustVerifier(b, Policy{Keys: k, AllowPorts: []l4.Port{{Proto: l4.TCP, Num: 22}}}, fixedClock(now.Unix()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			v.replay = NewReplayCache(pool) // every packet is fresh again
			b.StartTimer()
		}
		if _, err := v.Verify(pkts[i%pool], vecSrc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode measures building one packet.
func BenchmarkEncode(b *testing.B) {
	k := vec(b, "v1").keys(b)
	m := &Message{User: "bench", Timestamp: time.Unix(1795600000, 0), Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	r := rand.New(rand.NewSource(1))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Encode(m, k, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReplay measures one captured packet replayed: what a
// full-rate replay costs per packet.
func BenchmarkVerifyReplay(b *testing.B) {
	k := vec(b, "v1").keys(b)
	now := time.Unix(1795600000, 0)
	m := &Message{User: "bench", Timestamp: now, Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	w, err := Encode(m, k, rand.New(rand.NewSource(1)))
	if err != nil {
		b.Fatal(err)
	}
	v := mustVerifier(b, Policy{Keys: k, AllowPorts: []l4.Port{{Proto: l4.TCP, Num: 22}}}, fixedClock(now.Unix()))
	if _, err := v.Verify(w, vecSrc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(w)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(w, vecSrc); ReasonOf(err) != ReasonReplay {
			b.Fatal(err)
		}
	}
}
