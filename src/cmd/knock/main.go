// Command knock is knockd-go's knock client, compatible with knockd 0.8's
// knock: it hits each port in turn with one TCP SYN or one UDP datagram.
// It runs on Linux, macOS and Windows.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/version"
)

var options = []getopt.Option{
	{Short: 'u', Long: "udp", HasArg: false},
	{Short: 'd', Long: "delay", HasArg: true},
	{Short: '4', Long: "ipv4", HasArg: false},
	{Short: '6', Long: "ipv6", HasArg: false},
	{Short: 'v', Long: "verbose", HasArg: false},
	{Short: 'V', Long: "version", HasArg: false},
	{Short: 'h', Long: "help", HasArg: false},
}

const usage = `usage: knock [options] <host> <port[:proto]> [port[:proto]] ...
options:
  -u, --udp            make all port hits use UDP (default is TCP)
  -d, --delay <t>      wait <t> milliseconds between port hits
  -4, --ipv4           force usage of IPv4
  -6, --ipv6           force usage of IPv6
  -v, --verbose        be verbose
  -V, --version        display version
  -h, --help           this help

example:  knock myserver.example.com 123:tcp 456:udp 789:tcp
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// hit is one knock.
type hit struct {
	port  string
	proto string // "tcp" or "udp"
}

// parseHit parses port[:proto], proto in any case.
func parseHit(s string, udp bool) (hit, error) {
	h := hit{port: s, proto: "tcp"}
	if udp {
		h.proto = "udp"
	}
	if p, proto, ok := strings.Cut(s, ":"); ok {
		h.port = p
		switch strings.ToLower(proto) {
		case "tcp":
			h.proto = "tcp"
		case "udp":
			h.proto = "udp"
		default:
			return h, fmt.Errorf("%q: unknown protocol %q (want tcp or udp)", s, proto)
		}
	}
	if h.port == "" {
		return h, fmt.Errorf("%q: empty port", s)
	}
	if n, err := strconv.Atoi(h.port); err == nil && (n < 1 || n > 65535) {
		return h, fmt.Errorf("%q: port %d out of range 1-65535", s, n)
	}
	return h, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	r, err := getopt.Parse(append(options, spaOptions...), args)
	if err != nil {
		fmt.Fprintf(stderr, "knock: %v\n%s", err, usage)
		return 1
	}
	if r.Has('V') {
		fmt.Fprintf(stdout, "knock %s (knockd-go)\n", version.Version)
		return 0
	}
	if r.Has('S') {
		return runSPA(r, stdout, stderr)
	}
	for _, c := range []byte{'A', 'a', 's', 'p'} {
		if r.Has(c) {
			fmt.Fprintf(stderr, "knock: -%c is an SPA option: add -S\n", c)
			return 1
		}
	}
	if r.Has('h') || len(r.Args) < 2 {
		fmt.Fprint(stderr, usage+"\n"+spaUsage)
		return 1
	}
	delay := 0
	if r.Has('d') {
		delay, err = strconv.Atoi(r.Last('d', "0"))
		if err != nil {
			fmt.Fprintf(stderr, "knock: delay %q is not a number of milliseconds\n", r.Last('d', ""))
			return 1
		}
		if delay < 0 {
			fmt.Fprintln(stderr, "error: delay cannot be negative")
			return 1
		}
	}
	family := "ip"
	switch {
	case r.Has('4') && r.Has('6'):
		fmt.Fprintln(stderr, "knock: -4 and -6 exclude each other")
		return 1
	case r.Has('4'):
		family = "ip4"
	case r.Has('6'):
		family = "ip6"
	}
	host := r.Args[0]
	var hits []hit
	for _, a := range r.Args[1:] {
		h, err := parseHit(a, r.Has('u'))
		if err != nil {
			fmt.Fprintf(stderr, "knock: %v\n", err)
			return 1
		}
		hits = append(hits, h)
	}
	for _, h := range hits {
		addr, err := resolve(family, host, h)
		if err != nil {
			fmt.Fprintf(stderr, "Failed to resolve hostname '%s' on port %s\n%v\n", host, h.port, err)
			return 1
		}
		if r.Has('v') {
			fmt.Fprintf(stdout, "hitting %s %s\n", h.proto, addr)
		}
		if err := knock(h.proto, addr); err != nil && r.Has('v') {
			fmt.Fprintf(stderr, "knock: %v\n", err)
		}
		if delay > 0 {
			time.Sleep(time.Duration(delay) * time.Millisecond)
		}
	}
	return 0
}

// resolveTimeout bounds every name lookup.
const resolveTimeout = 10 * time.Second

func resolve(family, host string, h hit) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	port, err := net.DefaultResolver.LookupPort(ctx, h.proto, h.port)
	if err != nil {
		return "", err
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, family, strings.Trim(host, "[]"))
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	return net.JoinHostPort(ips[0].String(), strconv.Itoa(port)), nil
}

// knock sends one hit: a TCP SYN (the connection attempt is abandoned at
// once, so no retransmit follows) or a one-byte UDP datagram.
func knock(proto, addr string) error {
	if proto == "udp" {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte{0})
		return err
	}
	d := net.Dialer{Timeout: 30 * time.Millisecond}
	c, err := d.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return nil
}
