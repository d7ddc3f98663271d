// Package testsrc is a packet source for tests of the packet path without
// privileges: frames are handed to the daemon's handler synchronously, in
// the caller's goroutine, as the capture would hand them over.
package testsrc

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/capture"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"golang.org/x/net/bpf"
)

// Source is a fake daemon.Source. The zero value is not ready; use New.
type Source struct {
	mu      sync.Mutex
	h       func(int, []byte, time.Time)
	running chan struct{}
	locals  map[int][]netip.Addr
	subnets []netip.Prefix
	filter  []bpf.RawInstruction
	urgent  []bpf.RawInstruction
	filters int
	ctx     context.Context
}

// New returns a source whose device i has the addresses locals[i].
func New(locals ...[]netip.Addr) *Source {
	s := &Source{running: make(chan struct{}), locals: map[int][]netip.Addr{}}
	for i, l := range locals {
		s.locals[i] = l
	}
	return s
}

// Run registers h and blocks until ctx ends.
func (s *Source) Run(ctx context.Context, h func(int, []byte, time.Time)) error {
	s.mu.Lock()
	s.h, s.ctx = h, ctx
	close(s.running)
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

// Ready is closed once Run has started.
func (s *Source) Ready() <-chan struct{} { return s.running }

// SetSubnets gives the devices these subnets, for Own.
func (s *Source) SetSubnets(p ...netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subnets = p
}

// Own reports whether a is an address of any device, or the network or
// broadcast address of a subnet given to SetSubnets (as capture.Group).
func (s *Source) Own(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.locals {
		if slices.Contains(l, a) {
			return true
		}
	}
	for _, p := range s.subnets {
		if slices.Contains(capture.SubnetEdges(p), a) {
			return true
		}
	}
	return false
}

// Local reports whether a is an address of device dev.
func (s *Source) Local(dev int, a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.locals[dev] {
		if l == a {
			return true
		}
	}
	return false
}

// SetFilter records the programs.
func (s *Source) SetFilter(all, urgent []bpf.RawInstruction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filter, s.urgent, s.filters = all, urgent, s.filters+1
	return nil
}

// Programs returns the last programs set: every frame, and the urgent
// ones.
func (s *Source) Programs() (all, urgent []bpf.RawInstruction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filter, s.urgent
}

// Filters returns how many programs were set.
func (s *Source) Filters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filters
}

// Stats reports nothing dropped.
func (s *Source) Stats() (uint64, uint64) { return 0, 0 }

// Send hands a frame of device dev to the handler, as a batch of its own
// (the frame, then the batch's end: see capture.Handler), and returns when
// the handler has. The frame has no capture time: the daemon reads its own
// clock (a test's fake one). It waits (up to 5 s) for Run to start; false if it did not.
func (s *Source) Send(dev int, frame []byte) bool {
	return s.Batch(dev, frame)
}

// Batch hands frames of device dev to the handler as one batch: each
// frame, then the end of the batch.
func (s *Source) Batch(dev int, frames ...[]byte) bool {
	select {
	case <-s.running:
	case <-time.After(5 * time.Second):
		return false
	}
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	for _, f := range frames {
		h(dev, f, time.Time{})
	}
	h(dev, nil, time.Time{})
	return true
}

// Knock sends one knock from src to dst on device dev: a TCP SYN or a UDP
// datagram to port p.
func (s *Source) Knock(dev int, src, dst netip.Addr, p l4.Port) bool {
	return s.Send(dev, Frame(src, dst, p))
}

// Frame builds a knock: a TCP SYN, or a UDP datagram with one byte.
func Frame(src, dst netip.Addr, p l4.Port) []byte {
	switch {
	case p.Proto == l4.UDP && src.Is4():
		return pktbuild.UDP4(src, dst, 40000, p.Num, []byte{0})
	case p.Proto == l4.UDP:
		return pktbuild.UDP6(src, dst, 40000, p.Num, []byte{0})
	case src.Is4():
		return pktbuild.TCP4(src, dst, 40000, p.Num, pktbuild.SYN)
	}
	return pktbuild.TCP6(src, dst, 40000, p.Num, pktbuild.SYN)
}

// Sequence knocks every port of seq in turn.
func (s *Source) Sequence(dev int, src, dst netip.Addr, seq ...l4.Port) bool {
	for _, p := range seq {
		if !s.Knock(dev, src, dst, p) {
			return false
		}
	}
	return true
}
