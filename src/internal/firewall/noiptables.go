//go:build knockd_noiptables

package firewall

// HasIptables is false in builds with the knockd_noiptables tag: the
// OpenWrt feed's packages, made for firewall4 (nftables), whose images have
// no iptables program. Leaving out go-iptables drops regexp and the Unicode
// tables it links (docs/size.md).
const HasIptables = false

func newIptables(Options) (Backend, error) { return nil, ErrNoIptables }
