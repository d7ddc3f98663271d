//go:build linux

package capture

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"golang.org/x/net/bpf"
)

// Group captures on several devices (a router's wan and wan6, a WireGuard
// interface …) with one filter. Each device is followed on its own: one
// that goes away is waited for and re-attached while the others go on.
type Group struct {
	devs  []*Capture
	ready chan struct{} // closed by Run once every device is ready
	once  sync.Once
}

// NewGroup returns a group capturing on the named devices.
func NewGroup(names []string, log *logx.Logger) *Group {
	g := &Group{ready: make(chan struct{})}
	for _, n := range names {
		g.devs = append(g.devs, New(n, nil, log))
	}
	return g
}

// Devices returns the captures, in the order of the names given.
func (g *Group) Devices() []*Capture { return g.devs }

// Run captures on every device until ctx ends, calling h with the index
// of the device a frame came from and the time it was read (h may run
// concurrently for different devices). It returns when every device's capture has returned: nil on
// cancellation, or the first error none can recover from (no
// permission), after cancelling the others.
func (g *Group) Run(ctx context.Context, h func(dev int, b []byte, at time.Time)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.devs))
	var wg sync.WaitGroup
	for i, c := range g.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Run(ctx, func(b []byte, at time.Time) { h(i, b, at) })
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	// The ready channel is closed here, by a goroutine Run waits for: a
	// device that fails before it is ready ends it through ctx.
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		for _, c := range g.devs {
			select {
			case <-c.Ready():
			case <-ctx.Done():
				return
			}
		}
		g.once.Do(func() { close(g.ready) })
	}()
	wg.Wait()
	cancel()
	<-readyDone
	return errors.Join(errs...)
}

// Ready is closed once every device is captured on or known to be absent
// (by Run, which must be running for it to close).
func (g *Group) Ready() <-chan struct{} { return g.ready }

// Own reports whether a is an address of any device, or the network or
// broadcast address of one of their IPv4 subnets (see Capture.Own).
func (g *Group) Own(a netip.Addr) bool {
	for _, c := range g.devs {
		if c.Own(a) {
			return true
		}
	}
	return false
}

// Local reports whether a is one of device dev's current addresses.
func (g *Group) Local(dev int, a netip.Addr) bool {
	if dev < 0 || dev >= len(g.devs) {
		return false
	}
	return g.devs[dev].Local(a)
}

// SetFilter installs the programs on every device: all accepts every
// packet to read, urgent those to read at once (see Capture.SetFilter).
func (g *Group) SetFilter(all, urgent []bpf.RawInstruction) error {
	var errs []error
	for _, c := range g.devs {
		errs = append(errs, c.SetFilter(all, urgent))
	}
	return errors.Join(errs...)
}

// Stats returns and resets the kernel's counts of every device's socket.
func (g *Group) Stats() (packets, drops uint64) {
	for _, c := range g.devs {
		if p, d, err := c.Stats(); err == nil {
			packets += uint64(p)
			drops += uint64(d)
		}
	}
	return packets, drops
}
