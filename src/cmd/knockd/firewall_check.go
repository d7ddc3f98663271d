//go:build linux

package main

import (
	"fmt"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
)

// checkFirewall refuses, as start-up would, a firewall this build cannot
// run: iptables (named, or what auto finds) in a build without the iptables
// backend (tag knockd_noiptables, the OpenWrt feed's packages). detect is
// firewall.Detect; it runs only in such a build, when auto must choose.
func checkFirewall(path string, cfg *config.Config, detect func() string) error {
	if firewall.HasIptables {
		return nil
	}
	kind := cfg.Options.Firewall
	if kind == "auto" {
		kind = "none"
		for _, d := range cfg.Doors {
			if len(d.Open) > 0 || len(d.Forward) > 0 {
				kind = detect()
				break
			}
		}
	}
	switch kind {
	case "iptables", "iptables-legacy", "iptables-nft":
		return fmt.Errorf("%s: firewall %s: %w", path, kind, firewall.ErrNoIptables)
	}
	return nil
}
