package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/spa"
)

// Long-only SPA options (short codes no one types).
const (
	optKey        = 0x80 + iota // --key
	optKeyB64                   // --key-base64
	optHMACKey                  // --hmac-key
	optHMACKeyB64               // --hmac-key-base64
	optDigest                   // --hmac-digest
	optNAT                      // --nat
	optTimeout                  // --timeout
	optUser                     // --user
)

var spaOptions = []getopt.Option{
	{Short: 'S', Long: "spa"},
	{Short: 'A', Long: "access", HasArg: true},
	{Short: 'a', Long: "allow-ip", HasArg: true},
	{Short: 's', Long: "source-any"},
	{Short: 'p', Long: "spa-port", HasArg: true},
	{Short: optKey, Long: "key", HasArg: true},
	{Short: optKeyB64, Long: "key-base64", HasArg: true},
	{Short: optHMACKey, Long: "hmac-key", HasArg: true},
	{Short: optHMACKeyB64, Long: "hmac-key-base64", HasArg: true},
	{Short: optDigest, Long: "hmac-digest", HasArg: true},
	{Short: optNAT, Long: "nat", HasArg: true},
	{Short: optTimeout, Long: "timeout", HasArg: true},
	{Short: optUser, Long: "user", HasArg: true},
}

const spaUsage = `SPA (fwknop-compatible single packet authorization):
  knock -S [options] <host>
  -S, --spa                 send one SPA packet instead of knocks
  -A, --access <p,...>      ports to open, e.g. tcp/22,udp/1194 (required)
  -a, --allow-ip <ip>       address to grant (default: this host's source address towards <host>)
  -s, --source-any          grant the packet's source as the server sees it (0.0.0.0, for NAT)
  -p, --spa-port <n>        server UDP port (default 62201)
      --key <pass>          Rijndael passphrase   | --key-base64 <b64>
      --hmac-key <pass>     HMAC passphrase       | --hmac-key-base64 <b64>
      --hmac-digest <d>     md5 sha1 sha256 (default) sha384 sha512 sha3_256 sha3_512
      --nat <ip:port>       ask for a forward of the access port to this LAN host
      --timeout <s>         ask for this many seconds of access
      --user <name>         user name in the message (default: your login)
`

// runSPA sends one SPA packet to host as the fwknop client would.
func (c *client) runSPA(r *getopt.Result) int {
	stdout, stderr := c.stdout, c.stderr
	if len(r.Args) != 1 {
		fmt.Fprint(stderr, spaUsage)
		return 1
	}
	host := r.Args[0]
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "knock: "+format+"\n", args...)
		return 1
	}
	var k spa.Keys
	var err error
	switch {
	case r.Has(optKeyB64):
		if k.Rijndael, err = spa.DecodeKey(r.Last(optKeyB64, "")); err != nil {
			return fail("--key-base64: %v", err)
		}
	case r.Has(optKey):
		k.Rijndael = []byte(r.Last(optKey, ""))
	default:
		return fail("SPA needs --key or --key-base64")
	}
	switch {
	case r.Has(optHMACKeyB64):
		if k.HMAC, err = spa.DecodeKey(r.Last(optHMACKeyB64, "")); err != nil {
			return fail("--hmac-key-base64: %v", err)
		}
	case r.Has(optHMACKey):
		k.HMAC = []byte(r.Last(optHMACKey, ""))
	default:
		return fail("SPA needs --hmac-key or --hmac-key-base64")
	}
	k.HMACDigest = r.Last(optDigest, "sha256")
	if err := k.Validate(); err != nil {
		return fail("%v", err)
	}
	if !r.Has('A') {
		return fail("SPA needs -A, e.g. -A tcp/22")
	}
	var ports []spa.Port
	for _, s := range strings.Split(r.Last('A', ""), ",") {
		p, err := spa.ParsePort(strings.TrimSpace(s))
		if err != nil {
			return fail("-A: %v", err)
		}
		ports = append(ports, p)
	}
	port := 62201
	if r.Has('p') {
		if port, err = strconv.Atoi(r.Last('p', "")); err != nil || port < 1 || port > 65535 {
			return fail("-p: %q is not a port", r.Last('p', ""))
		}
	}
	family := "ip"
	if r.Has('4') {
		family = "ip4"
	} else if r.Has('6') {
		family = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, family, strings.Trim(host, "[]"))
	if err != nil || len(ips) == 0 {
		return fail("cannot resolve %s: %v", host, err)
	}
	server := net.JoinHostPort(ips[0].String(), strconv.Itoa(port))
	conn, err := net.Dial("udp", server)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()

	m := &spa.Message{User: r.Last(optUser, userName()), Timestamp: c.now(), Ports: ports}
	switch {
	case r.Has('s'):
		m.Addr = netip.IPv4Unspecified()
	case r.Has('a'):
		a, err := netip.ParseAddr(r.Last('a', ""))
		if err != nil {
			return fail("-a: %v", err)
		}
		m.Addr = a
	default:
		la := conn.LocalAddr().(*net.UDPAddr)
		a, _ := netip.AddrFromSlice(la.IP)
		m.Addr = a.Unmap()
	}
	if r.Has(optNAT) {
		ap, err := netip.ParseAddrPort(r.Last(optNAT, ""))
		if err != nil {
			return fail("--nat: want ip:port: %v", err)
		}
		m.Type = spa.TypeNATAccess
		m.NATTo = ap
	}
	if r.Has(optTimeout) {
		n, err := strconv.Atoi(r.Last(optTimeout, ""))
		if err != nil || n < 0 {
			return fail("--timeout: %q is not a number of seconds", r.Last(optTimeout, ""))
		}
		m.ClientTimeout = n
	}
	pkt, err := spa.Encode(m, k, nil)
	if err != nil {
		return fail("%v", err)
	}
	if r.Has('v') {
		fmt.Fprintf(stdout, "sending SPA packet (%d bytes) to udp %s for %s\n", len(pkt), server, m.Addr)
	}
	if _, err := conn.Write(pkt); err != nil {
		return fail("send: %v", err)
	}
	return 0
}

func userName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if s := os.Getenv("USER"); s != "" {
		return s
	}
	return "knock"
}
