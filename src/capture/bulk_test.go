//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/filter"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
	"github.com/knockd-go/knockd-go/src/l4"
	"github.com/knockd-go/knockd-go/src/logx"
)

func TestHoldFor(t *testing.T) {
	for _, tc := range []struct {
		n        int
		elapsed  time.Duration
		capacity int
		want     time.Duration
	}{
		{5, bulkHold, 16384, bulkHold},                      // a trickle: the longest hold
		{50, bulkHold, 16384, bulkHold},                     // 200 a second: still
		{100000, bulkHold, 16384, 10240 * time.Microsecond}, // 400k a second: a quarter of the queue in ~10 ms
		{1 << 20, time.Millisecond, 1024, time.Millisecond}, // never less than a millisecond
		{2, 0, 16384, bulkHold},                             // just woken: rate from a millisecond
	} {
		if got := holdFor(tc.n, tc.elapsed, tc.capacity); got != tc.want {
			t.Errorf("holdFor(%d, %v, %d) = %v, want %v", tc.n, tc.elapsed, tc.capacity, got, tc.want)
		}
	}
}

// loopCapture captures on lo with every port of ports delivered and the
// last one urgent; it returns the destination ports seen, with the time
// each was handed over.
type seen struct {
	port uint16
	at   time.Time
}

type loopCapture struct {
	mu   sync.Mutex
	got  []seen
	stop context.CancelFunc
	done chan error
}

func (l *loopCapture) handler(b []byte) {
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
	l := &loopCapture{done: make(chan error, 1)}
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

// TestTrickleIsBatched: a single first knock now and then is handed over
// at once (nothing else is coming), but while they keep coming they wait
// up to bulkHold and come in a batch; a last knock never waits.
func TestTrickleIsBatched(t *testing.T) {
	testenv.NeedRoot(t)
	p := uint16(48000 + time.Now().UnixNano()%1000)
	l := startLoop(t, p, p+1)

	at := send(t, p)
	s := waitFor(l, 1, 2*time.Second)
	if len(s) != 1 || s[0].at.Sub(at) > 100*time.Millisecond {
		t.Fatalf("a lone first knock: %v after sending, %d packets", s, len(s))
	}
	time.Sleep(2 * bulkHold) // sparse again

	send(t, p)
	send(t, p) // two at once: busy
	waitFor(l, 3, 2*time.Second)
	time.Sleep(10 * time.Millisecond)
	at = send(t, p)
	s = waitFor(l, 4, 2*time.Second)
	if len(s) != 4 {
		t.Fatalf("%d packets handed over, want 4", len(s))
	}
	if d := s[3].at.Sub(at); d < bulkHold/3 || d > 4*bulkHold {
		t.Fatalf("a first knock while busy was handed over after %v, want about %v", d, bulkHold)
	}

	at = send(t, p+1)
	s = waitFor(l, 5, 2*time.Second)
	if len(s) != 5 || s[4].port != p+1 || s[4].at.Sub(at) > 100*time.Millisecond {
		t.Fatalf("a last knock while busy: %d packets, last %+v, sent %v", len(s), s[len(s)-1], at)
	}
}
