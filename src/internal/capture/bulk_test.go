//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/filter"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// loopCapture captures on lo with every port of ports delivered and the
// last one urgent; it returns the destination ports seen, with the time
// each was handed over.
type seen struct {
	port uint16
	at   time.Time
}

type loopCapture struct {
	c    *Capture
	mu   sync.Mutex
	got  []seen
	stop context.CancelFunc
	done chan error
}

func (l *loopCapture) handler(b []byte, _ time.Time) {
	if len(b) < 28 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	l.mu.Lock()
	l.got = append(l.got, seen{binary.BigEndian.Uint16(b[ihl+2:]), time.Now()})
	l.mu.Unlock()
}

func (l *loopCapture) snapshot() []seen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seen(nil), l.got...)
}

func startLoop(t *testing.T, ports ...uint16) *loopCapture {
	t.Helper()
	var all, urgent []filter.Port
	for i, p := range ports {
		fp := filter.Port{Port: l4.Port{Proto: l4.UDP, Num: p}}
		all = append(all, fp)
		if i == len(ports)-1 {
			urgent = append(urgent, fp)
		}
	}
	a, err := filter.Assemble(filter.Options{Ports: all, IncomingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := filter.Assemble(filter.Options{Ports: urgent, IncomingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	c := New("lo", nil, logx.Discard())
	if err := c.SetFilter(a, u); err != nil {
		t.Fatal(err)
	}
	l := &loopCapture{c: c, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go func() { l.done <- c.Run(ctx, l.handler) }()
	t.Cleanup(func() {
		cancel()
		if err := <-l.done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-c.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("capture on lo not ready")
	}
	return l
}

func send(t *testing.T, port uint16) time.Time {
	t.Helper()
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	at := time.Now()
	if _, err := conn.Write([]byte("knock")); err != nil {
		t.Fatal(err)
	}
	return at
}

func waitFor(l *loopCapture, n int, limit time.Duration) []seen {
	deadline := time.Now().Add(limit)
	for {
		s := l.snapshot()
		if len(s) >= n || time.Now().After(deadline) {
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUrgentDrainsInOrder: first and middle knocks sent back to back with
// the last one are handed over at once when the last one comes, in the
// order they were sent.
func TestUrgentDrainsInOrder(t *testing.T) {
	testenv.NeedRoot(t)
	p := uint16(47000 + time.Now().UnixNano()%1000)
	l := startLoop(t, p, p+1, p+2)
	for round := 0; round < 20; round++ {
		before := len(l.snapshot())
		send(t, p)
		send(t, p+1)
		at := send(t, p+2)
		s := waitFor(l, before+3, 2*time.Second)
		if len(s) < before+3 {
			t.Fatalf("round %d: %d packets handed over, want %d", round, len(s)-before, 3)
		}
		got := s[before : before+3]
		if got[0].port != p || got[1].port != p+1 || got[2].port != p+2 {
			t.Fatalf("round %d: ports %d %d %d, want %d %d %d", round, got[0].port, got[1].port, got[2].port, p, p+1, p+2)
		}
		if d := got[2].at.Sub(at); d > 100*time.Millisecond {
			t.Fatalf("round %d: the last knock was handed over %v after it was sent", round, d)
		}
	}
}

// TestTrickleWaitsForTheBlock: first knocks wait in the ring until the
// kernel hands their block over (ringRetire at most), in one go, instead
// of waking the daemon each; a last knock never waits, and brings the
// first knocks before it along.
func TestTrickleWaitsForTheBlock(t *testing.T) {
	testenv.NeedRoot(t)
	p := uint16(48000 + time.Now().UnixNano()%1000)
	l := startLoop(t, p, p+1)
	retire := ringRetire * time.Millisecond

	at := send(t, p)
	for i := 0; i < 9; i++ {
		send(t, p)
	}
	s := waitFor(l, 10, 4*retire)
	if len(s) != 10 {
		t.Fatalf("%d of 10 first knocks handed over", len(s))
	}
	if d := s[9].at.Sub(at); d > 3*retire {
		t.Fatalf("first knocks handed over %v after they were sent, want within %v", d, retire)
	}
	if d := s[9].at.Sub(s[0].at); d > retire/2 {
		t.Fatalf("10 first knocks sent together were handed over over %v, not in one go", d)
	}

	send(t, p)
	at = send(t, p+1)
	s = waitFor(l, 12, 2*time.Second)
	if len(s) != 12 || s[10].port != p || s[11].port != p+1 {
		t.Fatalf("a first and a last knock: %d packets, %+v", len(s), s[10:])
	}
	if d := s[11].at.Sub(at); d > 50*time.Millisecond {
		t.Fatalf("a last knock was handed over %v after it was sent", d)
	}
}

// TestTrickleWakesAtMostEveryHold: a steady trickle of first knocks (a
// port scanner's) wakes the daemon once per 250 ms at most, as the
// socket it replaced did: each wake-up costs the daemon far more than the
// packets it reads at such rates.
func TestTrickleWakesAtMostEveryHold(t *testing.T) {
	testenv.NeedRoot(t)
	p := uint16(49000 + time.Now().UnixNano()%1000)
	l := startLoop(t, p, p+1)

	const n, every = 150, 10 * time.Millisecond // 1.5 s at 100 a second
	start := time.Now()
	for i := 0; i < n; i++ {
		send(t, p)
		time.Sleep(every)
	}
	elapsed := time.Since(start)
	s := waitFor(l, n, 2*time.Second)
	if len(s) != n {
		t.Fatalf("%d of %d first knocks handed over", len(s), n)
	}
	// Packets handed over in one read are microseconds apart, reads
	// about a retire timeout.
	wakes := 1
	for i := 1; i < len(s); i++ {
		if s[i].at.Sub(s[i-1].at) > 50*time.Millisecond {
			wakes++
		}
	}
	if most := int(elapsed/(250*time.Millisecond)) + 2; wakes > most {
		t.Fatalf("%d first knocks over %v woke the daemon %d times, want %d at most", n, elapsed, wakes, most)
	}
}

// TestWaitFollowsTheRate: the ring's reader waits in the runtime's poller
// while blocks come by their retire timeout, in poll(2) while they come
// full (a flood), and in the poller again once a block comes by its
// timeout.
func TestWaitFollowsTheRate(t *testing.T) {
	testenv.NeedRoot(t)
	p := uint16(50000 + time.Now().UnixNano()%1000)
	l := startLoop(t, p, p+1)
	l.c.mu.Lock()
	sock := l.c.bulk
	l.c.mu.Unlock()
	retire := ringRetire * time.Millisecond

	for i := 0; i < 3; i++ {
		send(t, p)
	}
	if s := waitFor(l, 3, 4*retire); len(s) != 3 {
		t.Fatalf("%d of 3 first knocks handed over", len(s))
	}
	if n := sock.pollWaits.Load(); n != 0 {
		t.Fatalf("a trickle: %d waits in poll(2), want none (the poller)", n)
	}

	// Several blocks' worth at once: blocks handed over full.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(p)}
	const burst = 4000
	for i := 0; i < burst; i++ {
		_, _ = conn.WriteToUDP([]byte("knock"), to)
	}
	if s := waitFor(l, 3+burst, 4*retire); len(s) != 3+burst {
		t.Fatalf("%d of %d knocks of the burst handed over", len(s)-3, burst)
	}
	if n := sock.pollWaits.Load(); n == 0 {
		t.Fatal("a burst of full blocks: no wait in poll(2)")
	}

	// One more first knock: its block comes by the timeout.
	before := sock.pollerWaits.Load()
	send(t, p)
	if s := waitFor(l, 4+burst, 4*retire); len(s) != 4+burst {
		t.Fatal("the knock after the burst was not handed over")
	}
	deadline := time.Now().Add(time.Second)
	for sock.pollerWaits.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if sock.pollerWaits.Load() == before {
		t.Fatal("after a block handed over by its timeout the reader did not wait in the poller again")
	}
}
