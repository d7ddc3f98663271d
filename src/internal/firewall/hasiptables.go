//go:build !knockd_noiptables

package firewall

// HasIptables is true when the iptables backend is built in: every build
// but the OpenWrt feed's (tag knockd_noiptables).
const HasIptables = true
