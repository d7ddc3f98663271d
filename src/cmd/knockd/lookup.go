//go:build linux

package main

import (
	"net/netip"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/rdns"
)

// lookup returns the reverse resolver of -l (/etc/hosts, then one PTR
// query to the first name server), or nil.
func lookup(on bool) func(netip.Addr) string {
	if !on {
		return nil
	}
	r := &rdns.Resolver{Timeout: 2 * time.Second}
	return func(a netip.Addr) string {
		name, err := r.LookupAddr(a)
		if err != nil {
			return ""
		}
		return name
	}
}
