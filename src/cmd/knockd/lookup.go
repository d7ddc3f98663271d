//go:build linux

package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
)

// lookup returns the reverse resolver of -l, or nil.
func lookup(on bool) func(netip.Addr) string {
	if !on {
		return nil
	}
	return func(a netip.Addr) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
		if err != nil || len(names) == 0 {
			return ""
		}
		return strings.TrimSuffix(names[0], ".")
	}
}
