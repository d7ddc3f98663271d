package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// TestFloodMemoryGivenBack: once a flood of distinct sources has expired,
// the daemon gives the memory back once; a steady flood or a trickle never
// makes it.
func TestFloodMemoryGivenBack(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(path, []byte("[a]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n  command = /bin/true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := logx.Discard()
	releases := 0
	d, err := New(compile(t, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}),
		Runner: command.NewRunner(command.Options{Max: 1, Log: log}), Now: now, Release: func() { releases++ }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// second sends rate first knocks from new sources over a simulated
	// second in one batch, then runs what the expiry loop does when the
	// batch kicked it, and its tick.
	second := func(rate int) {
		for range rate {
			n++
			src := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			d.handle(0, testsrc.Frame(src, router, tcp(7000)), clock)
			clock = clock.Add(time.Second / time.Duration(rate))
		}
		d.handle(0, nil, time.Time{})
		select {
		case <-d.kick:
			d.kicked()
		default:
		}
		d.expire()
	}
	for range 20 { // a steady flood: 5,000 sources tracked at once
		second(1000)
	}
	if d.m.Sources() < releaseAfter {
		t.Fatalf("%d sources tracked under the flood, want %d or more", d.m.Sources(), releaseAfter)
	}
	if releases != 0 {
		t.Fatalf("memory given back %d times during a steady flood", releases)
	}
	for range 10 { // the flood ends: a trickle of 2 a second
		second(2)
	}
	if releases != 1 {
		t.Fatalf("memory given back %d times once the flood expired, want 1", releases)
	}
	for range 60 {
		second(20)
	}
	if releases != 1 {
		t.Fatalf("memory given back %d times in all, want 1: a trickle is no flood", releases)
	}
}
