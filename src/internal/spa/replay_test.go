package spa

import (
	"crypto/sha256"
	"net/netip"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func encodeAt(t *testing.T, k Keys, ts time.Time, seed int64) []byte {
	t.Helper()
	m := &Message{User: "u", Timestamp: ts, Addr: netip.MustParseAddr("192.0.2.1"), Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	w, err := Encode(m, k, testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestReplayKeptTwiceTheWindow(t *testing.T) {
	k := vec(t, "v1").keys(t)
	start := time.Unix(1795600000, 0)
	c := &clock{t: start}
	cache := NewReplayCache(8)
	v, err := NewVerifier(Policy{Keys: k}, c.now, cache)
	if err != nil {
		t.Fatal(err)
	}
	// A packet stamped 100 s in the future is accepted, and must still be
	// refused as a replay up to the end of its window (ts+120 = start+220).
	p := encodeAt(t, k, start.Add(100*time.Second), 1)
	if _, err := v.Verify(p, vecSrc); err != nil {
		t.Fatal(err)
	}
	for _, dt := range []time.Duration{1, 119, 200, 220} {
		c.t = start.Add(dt * time.Second)
		// Unrelated traffic drives expiry.
		if _, err := v.Verify(encodeAt(t, k, c.t, int64(dt)+10), vecSrc); err != nil {
			t.Fatalf("+%ds fresh packet: %v", dt, err)
		}
		_, err := v.Verify(p, vecSrc)
		wantReject(t, err, ReasonReplay, "")
	}
	// Outside its window, still held: refused as a replay before anything
	// else is looked at.
	c.t = start.Add(221 * time.Second)
	_, err = v.Verify(p, vecSrc)
	wantReject(t, err, ReasonReplay, "")
	// Once the cache has dropped it (two windows after it was added), it
	// is stale.
	c.t = start.Add(241 * time.Second)
	if _, err := v.Verify(encodeAt(t, k, c.t, 99), vecSrc); err != nil {
		t.Fatalf("+241s fresh packet: %v", err)
	}
	if cache.has(sha256.Sum256(p)) {
		t.Fatal("the cache still holds the packet two windows after it was added")
	}
	_, err = v.Verify(p, vecSrc)
	wantReject(t, err, ReasonStale, "")
}

func TestReplayCacheBounded(t *testing.T) {
	k := vec(t, "v1").keys(t)
	start := time.Unix(1795600000, 0)
	c := &clock{t: start}
	cache := NewReplayCache(4)
	v, err := NewVerifier(Policy{Keys: k, MaxAge: 10 * time.Second}, c.now, cache)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := v.Verify(encodeAt(t, k, c.t, int64(i)), vecSrc); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if cache.Len() != 4 {
		t.Fatalf("Len %d", cache.Len())
	}
	// Full of live entries: fail closed.
	_, err = v.Verify(encodeAt(t, k, c.t, 100), vecSrc)
	wantReject(t, err, ReasonReplayFull, "replay cache full (4 entries)")

	// 2 windows later the old entries go and new packets fit again.
	c.t = start.Add(20 * time.Second)
	for i := 0; i < 4; i++ {
		if _, err := v.Verify(encodeAt(t, k, c.t, int64(200+i)), vecSrc); err != nil {
			t.Fatalf("after expiry, packet %d: %v", i, err)
		}
	}
	if cache.Len() != 4 {
		t.Fatalf("Len %d after expiry", cache.Len())
	}
}

// TestReplayClockStepBack: entries are not dropped while the wall clock says
// their packet could still be accepted.
func TestReplayClockStepBack(t *testing.T) {
	cache := NewReplayCache(2)
	t0 := time.Unix(1795600000, 0)
	var k1, k2, k3 [32]byte
	k1[0], k2[0], k3[0] = 1, 2, 3
	w := 10 * time.Second
	for _, k := range [][32]byte{k1, k2} {
		if err := cache.add(k, t0.Unix(), t0, w); err != nil {
			t.Fatal(err)
		}
	}
	// The clock stepped back: nothing can go, the cache is full.
	if err := cache.add(k3, t0.Unix(), t0.Add(-5*time.Second), w); ReasonOf(err) != ReasonReplayFull {
		t.Fatalf("got %v, want replay cache full", err)
	}
	// Two windows later: room again.
	if err := cache.add(k3, t0.Unix()+25, t0.Add(25*time.Second), w); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if cache.Len() != 1 {
		t.Fatalf("Len %d, want 1", cache.Len())
	}

	// With a monotonic clock, 2 windows of elapsed time are not enough if
	// the wall clock still has the packet inside its window.
	added := time.Now()
	later := added.Add(3 * w) // keeps the monotonic reading
	e := replayEntry{ts: later.Unix(), added: added, window: w}
	if e.removable(later) {
		t.Error("entry with a timestamp inside the window dropped")
	}
	e.ts = later.Unix() - 11
	if !e.removable(later) {
		t.Error("expired entry kept")
	}
}

// TestReplayRefusedBeforeAuthentication: a packet the cache holds is
// refused as a replay before its HMAC is computed or its body decrypted,
// so that replaying a captured packet at full rate costs one digest per
// packet. Verifier w has other keys: if w authenticated first, it would
// report a bad HMAC.
func TestReplayRefusedBeforeAuthentication(t *testing.T) {
	k := vec(t, "v1").keys(t)
	start := time.Unix(1795600000, 0)
	c := &clock{t: start}
	cache := NewReplayCache(8)
	v, err := NewVerifier(Policy{Keys: k}, c.now, cache)
	if err != nil {
		t.Fatal(err)
	}
	p := encodeAt(t, k, start, 1)
	if _, err := v.Verify(p, vecSrc); err != nil {
		t.Fatal(err)
	}
	other := k
	other.HMAC = append([]byte(nil), k.HMAC...)
	other.HMAC[0] ^= 0xff
	w, err := NewVerifier(Policy{Keys: other}, c.now, cache)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Verify(p, vecSrc)
	wantReject(t, err, ReasonReplay, "replayed packet")
}
