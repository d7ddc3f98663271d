// Package fw4ruleset renders a ruleset shaped like firewall4's, for the
// namespace tests and the router box.
package fw4ruleset

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Render renders a ruleset shaped like the one OpenWrt's firewall4
// generates (ruleset.uc: wan zone rejecting input and forward, lan zone
// accepting, masquerade on wan) for devices wan and lan. With includes,
// the knockd-go files under root (files/usr/share/nftables.d) are
// included where fw4 includes /usr/share/nftables.d.
func Render(root, wan, lan string, includes bool) string {
	inc := func(dir string) string {
		if !includes {
			return ""
		}
		return fmt.Sprintf("\t\tinclude %q\n", filepath.Join(root, dir, "30-knockd-go.nft"))
	}
	r := strings.NewReplacer("WAN", wan, "LAN", lan,
		"%TABLEPRE%\n", inc("table-pre"),
		"%INPUT%\n", inc("chain-pre/input"),
		"%FORWARD%\n", inc("chain-pre/forward"),
		"%DSTNAT%\n", inc("chain-pre/dstnat"),
		"%SRCNAT%\n", inc("chain-pre/srcnat"))
	return r.Replace(fw4Template)
}

const fw4Template = `table inet fw4
flush table inet fw4

table inet fw4 {
%TABLEPRE%
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept comment "!fw4: Accept traffic from loopback"
%INPUT%
		ct state established,related accept comment "!fw4: Allow inbound established and related flows"
		iifname "LAN" jump input_lan comment "!fw4: Handle lan IPv4/IPv6 input traffic"
		iifname "WAN" jump input_wan comment "!fw4: Handle wan IPv4/IPv6 input traffic"
		jump handle_reject
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
%FORWARD%
		ct state established,related accept comment "!fw4: Allow forwarded established and related flows"
		iifname "LAN" jump forward_lan comment "!fw4: Handle lan IPv4/IPv6 forward traffic"
		iifname "WAN" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"
		jump handle_reject
	}

	chain output {
		type filter hook output priority filter; policy accept;
		oifname "lo" accept comment "!fw4: Accept traffic towards loopback"
		ct state established,related accept comment "!fw4: Allow outbound established and related flows"
	}

	chain handle_reject {
		meta l4proto tcp reject with tcp reset comment "!fw4: Reject TCP traffic"
		reject with icmpx type port-unreachable comment "!fw4: Reject any other traffic"
	}

	chain input_lan {
		jump accept_from_lan
	}

	chain forward_lan {
		jump accept_to_wan comment "!fw4: Accept lan to wan forwarding"
		jump accept_to_lan
	}

	chain accept_from_lan {
		iifname "LAN" counter accept comment "!fw4: accept lan IPv4/IPv6 traffic"
	}

	chain accept_to_lan {
		oifname "LAN" counter accept comment "!fw4: accept lan IPv4/IPv6 traffic"
	}

	chain input_wan {
		meta nfproto ipv4 udp dport 68 counter accept comment "!fw4: Allow-DHCP-Renew"
		icmp type echo-request counter accept comment "!fw4: Allow-Ping"
		meta nfproto ipv6 icmpv6 type { destination-unreachable, time-exceeded, echo-request, echo-reply, nd-router-solicit, nd-neighbor-solicit, nd-router-advert, nd-neighbor-advert } limit rate 1000/second counter accept comment "!fw4: Allow-ICMPv6-Input"
		jump reject_from_wan
	}

	chain forward_wan {
		jump reject_to_wan
	}

	chain accept_to_wan {
		meta nfproto ipv4 oifname "WAN" ct state invalid counter drop comment "!fw4: Prevent NAT leakage"
		oifname "WAN" counter accept comment "!fw4: accept wan IPv4/IPv6 traffic"
	}

	chain reject_from_wan {
		iifname "WAN" counter jump handle_reject comment "!fw4: reject wan IPv4/IPv6 traffic"
	}

	chain reject_to_wan {
		oifname "WAN" counter jump handle_reject comment "!fw4: reject wan IPv4/IPv6 traffic"
	}

	chain dstnat {
		type nat hook prerouting priority dstnat; policy accept;
%DSTNAT%
	}

	chain srcnat {
		type nat hook postrouting priority srcnat; policy accept;
%SRCNAT%
		oifname "WAN" jump srcnat_wan comment "!fw4: Handle wan IPv4/IPv6 srcnat traffic"
	}

	chain srcnat_wan {
		meta nfproto ipv4 masquerade comment "!fw4: Masquerade IPv4 wan traffic"
	}
}
`
