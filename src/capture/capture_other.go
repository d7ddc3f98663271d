//go:build !linux

package capture

import (
	"context"
	"errors"
	"net/netip"

	"golang.org/x/net/bpf"
)

// Handler is called for every packet the filter accepts.
type Handler func(b []byte)

// Capture is only implemented on Linux.
type Capture struct{}

// New returns a capture that fails on this platform.
func New(string, []bpf.RawInstruction, func(string, ...any), func(string, ...any)) *Capture {
	return &Capture{}
}

// Run fails: AF_PACKET is Linux only.
func (c *Capture) Run(context.Context, Handler) error {
	return errors.New("capture: AF_PACKET capture needs Linux")
}

// Local always reports false.
func (c *Capture) Local(netip.Addr) bool { return false }

// SetFilter does nothing.
func (c *Capture) SetFilter([]bpf.RawInstruction) error { return nil }
