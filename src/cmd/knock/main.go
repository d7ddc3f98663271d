// Command knock is knockd-go's knock client, compatible with knockd 0.8's
// knock: it hits each port in turn with one TCP SYN or one UDP datagram.
// It also knocks the current sequence of a rotating door (--secret,
// --secret-file, --uri) and sends fwknop SPA packets (-S), with keys from
// the command line, a key file or an fwknoprc stanza (-n). It runs on
// Linux, macOS and Windows.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/version"
)

var options = []getopt.Option{
	{Short: 'u', Long: "udp", HasArg: false},
	{Short: 'd', Long: "delay", HasArg: true},
	{Short: '4', Long: "ipv4", HasArg: false},
	{Short: '6', Long: "ipv6", HasArg: false},
	{Short: 'v', Long: "verbose", HasArg: false},
	{Short: 'V', Long: "version", HasArg: false},
	{Short: 'h', HasArg: false},
	{Short: optHelp, Long: "help", HasArg: false},
}

// optHelp is --help: the usage on standard output, exit 0 (-h keeps knock
// 0.8's usage on standard error, exit 1).
const optHelp = 0xff

const usage = `usage: knock [options] <host> <port[:proto]> [port[:proto]] ...
       knock [options] --secret <base32> | --secret-file <file> | --uri <uri> [<host>]
       knock -S [SPA options] <host>
options:
  -u, --udp            make all port hits use UDP (default is TCP)
  -d, --delay <t>      wait <t> milliseconds between port hits
  -4, --ipv4           force usage of IPv4
  -6, --ipv6           force usage of IPv6
  -v, --verbose        be verbose
  -V, --version        display version
  -h                   this help (on standard error, exit 1, as knock 0.8)
      --help           this help (on standard output, exit 0)

example:  knock myserver.example.com 123:tcp 456:udp 789:tcp
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// client is one run of knock, with what it takes from its surroundings.
type client struct {
	stdout, stderr io.Writer
	now            func() time.Time       // the clock of rotating knocks and SPA timestamps
	home           func() (string, error) // where ~/.fwknoprc is
}

func run(args []string, stdout, stderr io.Writer) int {
	c := &client{stdout: stdout, stderr: stderr, now: time.Now, home: os.UserHomeDir}
	return c.run(args)
}

// allOptions are every flag of knock.
func allOptions() []getopt.Option {
	return append(append(append([]getopt.Option{}, options...), spaOptions...), rotateOptions...)
}

// fail prints a message and returns knock's failure status.
func (c *client) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "knock: "+format+"\n", args...)
	return 1
}

// warn prints a warning.
func (c *client) warn(format string, args ...any) {
	fmt.Fprintf(c.stderr, "knock: warning: "+format+"\n", args...)
}

// optName names a flag as the user typed it: -A or --key.
func optName(short byte) string {
	for _, o := range allOptions() {
		if o.Short == short {
			if short < 0x80 {
				return "-" + string(rune(short))
			}
			return "--" + o.Long
		}
	}
	return "?"
}

// hit is one knock.
type hit struct {
	port  string
	proto string // "tcp" or "udp"
	num   int    // the port's number, once looked up
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

func (c *client) run(args []string) int {
	r, err := getopt.Parse(allOptions(), args)
	if err != nil {
		fmt.Fprintf(c.stderr, "knock: %v\n%s", err, usage)
		return 1
	}
	if r.Has('V') {
		fmt.Fprintf(c.stdout, "knock %s (knockd-go)\n", version.Version)
		return 0
	}
	if r.Has(optHelp) {
		fmt.Fprint(c.stdout, fullUsage())
		return 0
	}
	rotating := r.Has(optSecret) || r.Has(optSecretFile) || r.Has(optURI)
	if r.Has('S') {
		if rotating {
			return c.fail("-S and a rotating knock (--secret, --secret-file, --uri) exclude each other")
		}
		return c.runSPA(r)
	}
	for _, o := range spaOptions {
		if o.Short != 'S' && r.Has(o.Short) {
			return c.fail("%s is an SPA option: add -S", optName(o.Short))
		}
	}
	if r.Has('h') {
		fmt.Fprint(c.stderr, fullUsage())
		return 1
	}
	if rotating {
		return c.runRotating(r)
	}
	for _, o := range rotateOptions {
		if r.Has(o.Short) {
			return c.fail("%s is a rotating knock option: add --secret, --secret-file or --uri", optName(o.Short))
		}
	}
	if len(r.Args) < 2 {
		fmt.Fprint(c.stderr, fullUsage())
		return 1
	}
	var hits []hit
	for i, a := range r.Args[1:] {
		h, err := parseHit(a, r.Has('u'))
		if err != nil {
			return c.fail("item %d of the sequence: %v (nothing sent)", i+1, err)
		}
		hits = append(hits, h)
	}
	return c.knockAll(r, r.Args[0], hits)
}

// fullUsage is the text of -h and --help.
func fullUsage() string { return usage + "\n" + rotateUsage + "\n" + spaUsage }

// knockAll sends hits to host with the delay and address family of the
// command line.
func (c *client) knockAll(r *getopt.Result, host string, hits []hit) int {
	delay := 0
	if r.Has('d') {
		var err error
		delay, err = strconv.Atoi(r.Last('d', "0"))
		if err != nil {
			return c.fail("delay %q is not a number of milliseconds", r.Last('d', ""))
		}
		if delay < 0 {
			fmt.Fprintln(c.stderr, "error: delay cannot be negative")
			return 1
		}
	}
	family := "ip"
	switch {
	case r.Has('4') && r.Has('6'):
		return c.fail("-4 and -6 exclude each other")
	case r.Has('4'):
		family = "ip4"
	case r.Has('6'):
		family = "ip6"
	}
	// Every item is checked, and the host resolved, before the first hit:
	// a sequence is sent whole or not at all.
	addrs := make([]string, len(hits))
	for i, h := range hits {
		port, err := lookupPort(h)
		if err != nil {
			return c.fail("item %d of the sequence (%q): %v (nothing sent)", i+1, h.port, err)
		}
		hits[i].num = port
	}
	ip, err := resolveHost(family, host)
	if err != nil {
		fmt.Fprintf(c.stderr, "Failed to resolve hostname '%s'\n%v\n", host, err)
		return 1
	}
	for i, h := range hits {
		addrs[i] = net.JoinHostPort(ip, strconv.Itoa(h.num))
	}
	for i, h := range hits {
		addr := addrs[i]
		if r.Has('v') {
			fmt.Fprintf(c.stdout, "hitting %s %s\n", h.proto, addr)
		}
		if err := knock(h.proto, addr); err != nil && r.Has('v') {
			fmt.Fprintf(c.stderr, "knock: %v\n", err)
		}
		if delay > 0 {
			time.Sleep(time.Duration(delay) * time.Millisecond)
		}
	}
	return 0
}

// resolveTimeout bounds every name lookup.
const resolveTimeout = 10 * time.Second

// lookupPort is the number of a hit's port: a number, or a service name
// of /etc/services for the hit's protocol.
func lookupPort(h hit) (int, error) {
	if n, err := strconv.Atoi(h.port); err == nil {
		return n, nil // range checked by parseHit
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	n, err := net.DefaultResolver.LookupPort(ctx, h.proto, h.port)
	if err != nil {
		return 0, fmt.Errorf("not a port number or a known %s service name", h.proto)
	}
	return n, nil
}

// resolveHost is host's first address of family.
func resolveHost(family, host string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, family, strings.Trim(host, "[]"))
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	return ips[0].String(), nil
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
	knockTCP(addr, 30*time.Millisecond)
	return nil
}

// knockTCP sends one TCP SYN to addr and abandons the attempt wait later
// (refused, unanswered or connected: all the same to a knock). The wait
// starts once the socket exists, right before the connect that sends the
// SYN: a dial deadline could pass before that on a loaded machine, and
// the hit would be lost without a trace.
func knockTCP(addr string, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	var started sync.Once
	d := net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error {
		started.Do(func() { time.AfterFunc(wait, cancel) })
		return nil
	}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
	}
}
