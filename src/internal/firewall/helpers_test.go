package firewall

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// fakeClock is a manual clock whose After channels fire on Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// At fires once the clock reaches at (at once if it has).
func (c *fakeClock) At(at time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !at.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at, ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// WaitFor waits until a waiter is due at or before t (Run is asleep on it).
func (c *fakeClock) WaitFor(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, w := range c.waiters {
			if !w.at.After(at) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("Run never waited for %v", at)
}

var (
	srcA = netip.MustParseAddr("198.51.100.2")
	srcB = netip.MustParseAddr("198.51.100.3")
	srcC = netip.MustParseAddr("2001:db8:1::2")
	ssh  = Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}}
	web  = Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 8080}, To: netip.MustParseAddrPort("192.168.1.10:80"), Masquerade: true}}}
)

// testLog returns a logger writing to t.Log.
func testLog(t *testing.T) *logx.Logger {
	l, _ := logx.New(logx.Options{Verbose: tWriter{t}})
	return l
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
