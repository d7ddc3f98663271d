package service

import (
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

var (
	replayKeys = spa.Keys{Rijndael: []byte("0123456789abcdef"), HMAC: []byte("an HMAC key for the replay tests")}
	replaySrc  = netip.MustParseAddr("192.0.2.7")
	replayNow  = time.Unix(1795600000, 0)
)

// replayPacket is an SPA packet stamped at replayNow; seed varies it.
func replayPacket(t *testing.T, seed int64) []byte {
	t.Helper()
	m := &spa.Message{User: "u", Timestamp: replayNow, Addr: replaySrc, Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	p, err := spa.Encode(m, replayKeys, rand.New(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verifier returns a verifier of door's cache in s.
func verifier(t *testing.T, s *replayStore, door string) *spa.Verifier {
	t.Helper()
	p := spa.Policy{Keys: replayKeys, MaxAge: 120 * time.Second}
	v, err := spa.NewVerifier(p, func() time.Time { return replayNow }, s.cache(door, p.MaxAge))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reason(err error) string {
	if err == nil {
		return "accepted"
	}
	return spa.ReasonOf(err).String()
}

// TestReplayCachePerDoor: each door has its own cache: two doors with the
// same keys both accept a packet once, and a key holder filling one door's
// cache does not lock the other out.
func TestReplayCachePerDoor(t *testing.T) {
	s := openReplayStore("", logx.Discard(), func() time.Time { return replayNow })
	a, b := verifier(t, s, "a"), verifier(t, s, "b")
	p := replayPacket(t, 1)
	for _, c := range []struct {
		v    *spa.Verifier
		want string
	}{{a, "accepted"}, {b, "accepted"}, {a, "replayed packet"}, {b, "replayed packet"}} {
		if _, err := c.v.Verify(p, replaySrc); reason(err) != c.want {
			t.Fatalf("got %s, want %s", reason(err), c.want)
		}
	}
	full := s.cache("a", 0)
	for i := 0; i < spa.DefaultReplayCap; i++ {
		full.Remember([32]byte{byte(i), byte(i >> 8), 1}, replayNow.Unix(), replayNow, 120*time.Second)
	}
	if _, err := a.Verify(replayPacket(t, 2), replaySrc); reason(err) != "replay cache full" {
		t.Fatalf("door a with a full cache: %s", reason(err))
	}
	if _, err := b.Verify(replayPacket(t, 3), replaySrc); err != nil {
		t.Fatalf("door b refused a fresh packet while a's cache is full: %v", err)
	}
}

// TestReplayJournalAcrossRestart: what a door accepted before a restart is
// refused after it, for that door only; the journal is 0600.
func TestReplayJournalAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	now := func() time.Time { return replayNow }
	s := openReplayStore(path, logx.Discard(), now)
	if s.Known() {
		t.Fatal("no journal yet, but the store says it knows what came before")
	}
	v := verifier(t, s, "a")
	s.sync(false)
	p := replayPacket(t, 1)
	if _, err := v.Verify(p, replaySrc); err != nil {
		t.Fatal(err)
	}
	s.close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal: %v %v", fi, err)
	}

	s = openReplayStore(path, logx.Discard(), now)
	defer s.close()
	if !s.Known() {
		t.Fatal("the journal was not read")
	}
	if _, err := verifier(t, s, "a").Verify(p, replaySrc); reason(err) != "replayed packet" {
		t.Fatalf("after a restart: %s, want replayed packet", reason(err))
	}
	if _, err := verifier(t, s, "b").Verify(p, replaySrc); err != nil {
		t.Fatalf("another door after a restart: %v", err)
	}
}

// TestReplayJournalRefused: a journal others can read or write is not
// trusted: the store knows nothing (packets stamped before the start are
// refused) and says why.
func TestReplayJournalRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	log, rec := logxtest.NewRecorder(false)
	s := openReplayStore(path, log, func() time.Time { return replayNow })
	defer s.close()
	if s.Known() || !rec.Has("SPA replay file "+path+": mode 0644: readable or writable by others") {
		t.Fatalf("known %v, log:\n%s", s.Known(), rec)
	}
}

// TestReplayJournalWriteFailure: once an accepted packet could not be
// journaled, the journal is incomplete: it is cut to nothing (never
// removed), so that the next start refuses packets stamped before it
// instead of trusting it.
func TestReplayJournalWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	now := func() time.Time { return replayNow }
	log, rec := logxtest.NewRecorder(false)
	s := openReplayStore(path, log, now)
	v := verifier(t, s, "a")
	s.sync(false)
	if _, err := v.Verify(replayPacket(t, 1), replaySrc); err != nil {
		t.Fatal(err)
	}
	// The journal's descriptor can no longer be written (a full or
	// read-only file system looks the same).
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.f.Close()
	s.f = ro
	s.mu.Unlock()
	if _, err := v.Verify(replayPacket(t, 2), replaySrc); err != nil {
		t.Fatal(err)
	}
	s.close()
	if !rec.Has("error: SPA replay file " + path) {
		t.Fatalf("no error logged:\n%s", rec)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the incomplete journal: %v %v, want it there and empty", fi, err)
	}
	if openReplayStore(path, logx.Discard(), now).Known() {
		t.Fatal("the next start trusts an incomplete journal")
	}
}

// TestReplayJournalKeepsBurntSteps: the rotating steps that opened a door
// are journalled (also with no SPA door) and handed back after a restart,
// the last rotate.MaxBurnt of each door, through a compaction too.
func TestReplayJournalKeepsBurntSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	now := func() time.Time { return replayNow }
	s := openReplayStore(path, logx.Discard(), now)
	s.sync(true)
	for c := uint64(100); c < 110; c++ {
		s.Burn("rot", c)
	}
	s.Burn("rot", 109)
	s.Burn("other", 7)
	s.close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal: %v %v", fi, err)
	}
	want := map[string][]uint64{"rot": {102, 103, 104, 105, 106, 107, 108, 109}, "other": {7}}
	for round := 0; round < 2; round++ {
		s = openReplayStore(path, logx.Discard(), now)
		if got := s.Burnt(); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: burnt %v, want %v", round, got, want)
		}
		s.sync(true) // rewrites the journal from what it holds
		s.close()
	}
}
