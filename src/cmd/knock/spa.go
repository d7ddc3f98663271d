package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/fwknoprc"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/spa"
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
	optKeyFile                  // --key-file
	optRCFile                   // --fwknoprc
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
	{Short: optKeyFile, Long: "key-file", HasArg: true},
	{Short: 'n', Long: "named-config", HasArg: true},
	{Short: optRCFile, Long: "fwknoprc", HasArg: true},
}

const spaUsage = `SPA (fwknop-compatible single packet authorization):
  knock -S [options] <host>
  knock -S -n <stanza> [options] [host]
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
      --key-file <file>     keys from a file: KEY_BASE64: / HMAC_KEY_BASE64: lines (the
                            output of fwknop --key-gen), or KEY, HMAC_KEY, HMAC_DIGEST_TYPE
  -n, --named-config <name>
                            settings from the [default] and [<name>] stanzas of ~/.fwknoprc
                            (KEY, KEY_BASE64, HMAC_KEY, HMAC_KEY_BASE64, HMAC_DIGEST_TYPE,
                            ACCESS, SPA_SERVER, SPA_SERVER_PORT, ALLOW_IP, NAT_ACCESS,
                            FW_TIMEOUT, SPOOF_USER, DIGEST_TYPE)
      --fwknoprc <file>     read this rc file instead of ~/.fwknoprc ([default] only without -n)
  Key and rc files must not be readable by other users (chmod 600). Command-line
  values override --key-file values, which override the rc file's.
`

// spaSettings are what one SPA packet needs, from files and flags.
type spaSettings struct {
	keys        spa.Keys
	digest      string // inner digest type ("" = sha256)
	access      []l4.Port
	server      string
	port        int
	allowSource bool       // send 0.0.0.0
	allowIP     netip.Addr // when not allowSource; invalid: the local address
	resolve     string     // where ALLOW_IP resolve was last set, "" if not
	nat         netip.AddrPort
	timeout     int
	user        string
}

// set applies one variable, named as in an fwknoprc, whether it comes from
// a file or the command line: one parser per value. It is long because it
// is one switch over fwknop's variable names, the table of them.
func (s *spaSettings) set(name, val string) error {
	var err error
	switch name {
	case "KEY":
		s.keys.Rijndael = []byte(val)
	case "KEY_BASE64":
		s.keys.Rijndael, err = spa.DecodeKey(val)
	case "HMAC_KEY":
		s.keys.HMAC = []byte(val)
	case "HMAC_KEY_BASE64":
		s.keys.HMAC, err = spa.DecodeKey(val)
	case "HMAC_DIGEST_TYPE", "DIGEST_TYPE":
		// Keys.Validate is the one digest name parser.
		if err = (spa.Keys{Rijndael: []byte{0}, HMAC: []byte{1}, HMACDigest: val}).Validate(); err != nil {
			return fmt.Errorf("%q: want one of %s", val, strings.Join(spa.Digests(), " "))
		}
		if name == "DIGEST_TYPE" {
			s.digest = val
		} else {
			s.keys.HMACDigest = val
		}
	case "ACCESS":
		s.access = nil
		for _, p := range strings.Split(val, ",") {
			port, err := spa.ParsePort(strings.TrimSpace(p))
			if err != nil {
				return err
			}
			s.access = append(s.access, port)
		}
	case "SPA_SERVER":
		if val == "" || strings.ContainsAny(val, " \t/") {
			return fmt.Errorf("%q is not a host", val)
		}
		s.server = val
	case "SPA_SERVER_PORT":
		if s.port, err = strconv.Atoi(val); err != nil || s.port < 1 || s.port > 65535 {
			return fmt.Errorf("%q is not a port", val)
		}
	case "ALLOW_IP":
		switch {
		case strings.EqualFold(val, "source"):
			s.allowSource, s.allowIP, s.resolve = true, netip.Addr{}, ""
		case strings.EqualFold(val, "resolve"):
			// An error unless the command line overrides it (runSPA).
			s.allowSource, s.allowIP, s.resolve = false, netip.Addr{}, "ALLOW_IP"
		default:
			a, err := netip.ParseAddr(val)
			if err != nil || a.Zone() != "" {
				return fmt.Errorf("%q is not an IP address, source or resolve", val)
			}
			s.allowSource, s.allowIP, s.resolve = false, a.Unmap(), ""
		}
	case "NAT_ACCESS":
		// fwknop writes "192.168.1.55,88" and reads "host:port" too.
		if h, port, ok := strings.Cut(val, ","); ok {
			val = net.JoinHostPort(h, port)
		}
		if s.nat, err = netip.ParseAddrPort(val); err != nil || s.nat.Port() == 0 {
			return fmt.Errorf("%q: want ip:port or ip,port", val)
		}
	case "FW_TIMEOUT":
		if s.timeout, err = strconv.Atoi(val); err != nil || s.timeout < 0 || s.timeout > 1<<16 {
			return fmt.Errorf("%q is not a number of seconds (0-65536)", val)
		}
	case "SPOOF_USER":
		if val == "" {
			return errors.New("empty user name")
		}
		s.user = val
	case "USE_HMAC":
		if !strings.EqualFold(val, "Y") {
			return notUsed("knock always sends an HMAC")
		}
	default:
		if fwknoprc.IsFwknopVar(name) {
			return notUsed("not used by knock")
		}
		return notUsed("unknown variable")
	}
	return err
}

// notUsed is set's answer for a variable it ignores, with the reason.
type notUsed string

func (e notUsed) Error() string { return string(e) }

// refused names fwknoprc settings that knock cannot honour and that would
// make a packet the server does not expect: using the stanza anyway would
// fail silently on the server's side.
func refused(name, val string) string {
	yes := strings.EqualFold(val, "Y")
	switch {
	case name == "USE_GPG" && yes:
		return "GPG encryption is not supported"
	case name == "ENCRYPTION_MODE" && !strings.EqualFold(val, "cbc"):
		return "only the cbc mode is supported"
	case name == "SPA_SERVER_PROTO" && !strings.EqualFold(val, "udp") && !strings.EqualFold(val, "udpraw"):
		return "knock sends SPA packets over UDP only"
	case name == "NAT_LOCAL" && yes:
		return "local NAT requests are not supported"
	}
	return ""
}

// applyFile applies the variables read from a file. Unknown and unused
// ones are ignored, with a warning when verbose.
func (c *client) applyFile(s *spaSettings, vars []fwknoprc.Var, verbose bool) error {
	for _, v := range vars {
		if why := refused(v.Name, v.Value); why != "" {
			return fmt.Errorf("%s: %s %s: %s", v.Pos(), v.Name, v.Value, why)
		}
		err := s.set(v.Name, v.Value)
		var ignored notUsed
		switch {
		case errors.As(err, &ignored):
			if verbose {
				c.warn("%s: ignoring %s %s (%s)", v.Pos(), v.Name, v.Value, ignored)
			}
			continue
		case err != nil:
			return fmt.Errorf("%s: %s: %w", v.Pos(), v.Name, err)
		}
		if s.resolve != "" && v.Name == "ALLOW_IP" {
			s.resolve = v.Pos() + ": ALLOW_IP"
		}
		if v.Extra != "" && verbose {
			c.warn("%s: %s: ignoring %q after the value, as fwknop does", v.Pos(), v.Name, v.Extra)
		}
	}
	return nil
}

// flagVars map SPA flags to the variables they set, in the order applied
// (so --key-base64 wins over --key and -s over -a).
var flagVars = []struct {
	opt  byte
	name string
}{
	{optKey, "KEY"}, {optKeyB64, "KEY_BASE64"}, {optHMACKey, "HMAC_KEY"}, {optHMACKeyB64, "HMAC_KEY_BASE64"},
	{optDigest, "HMAC_DIGEST_TYPE"}, {'A', "ACCESS"}, {'a', "ALLOW_IP"}, {'p', "SPA_SERVER_PORT"},
	{optNAT, "NAT_ACCESS"}, {optTimeout, "FW_TIMEOUT"}, {optUser, "SPOOF_USER"},
}

// spaSettingsOf gathers the settings: the rc file's stanzas, then the key
// file, then the command line.
func (c *client) spaSettingsOf(r *getopt.Result) (*spaSettings, error) {
	s := &spaSettings{port: spa.DefaultPort}
	verbose := r.Has('v')
	if r.Has('n') || r.Has(optRCFile) {
		path := r.Last(optRCFile, "")
		if path == "" {
			home, err := c.home()
			if err != nil {
				return nil, fmt.Errorf("no home directory for ~/.fwknoprc (use --fwknoprc): %w", err)
			}
			path = filepath.Join(home, ".fwknoprc")
		}
		data, err := readPrivate(path)
		if err != nil {
			return nil, err
		}
		vars, err := fwknoprc.ParseRC(path, data, r.Last('n', ""))
		if err != nil {
			return nil, err
		}
		if err := c.applyFile(s, vars, verbose); err != nil {
			return nil, err
		}
	}
	if r.Has(optKeyFile) {
		path := r.Last(optKeyFile, "")
		data, err := readPrivate(path)
		if err != nil {
			return nil, err
		}
		vars, err := fwknoprc.ParseKeys(path, data)
		if err != nil {
			return nil, err
		}
		if err := c.applyFile(s, vars, verbose); err != nil {
			return nil, err
		}
	}
	for _, f := range flagVars {
		if r.Has(f.opt) {
			if err := s.set(f.name, r.Last(f.opt, "")); err != nil {
				return nil, fmt.Errorf("%s: %w", optName(f.opt), err)
			}
			if s.resolve != "" && f.opt == 'a' {
				s.resolve = "-a"
			}
		}
	}
	if r.Has('s') {
		s.allowSource, s.resolve = true, ""
	}
	if s.resolve != "" {
		return nil, fmt.Errorf("%s resolve (asking a web service for this host's public address) is not supported: "+
			"use source or an address, or -s or -a", s.resolve)
	}
	switch len(r.Args) {
	case 0:
	case 1:
		if err := s.set("SPA_SERVER", r.Args[0]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("SPA takes one host, not %q", strings.Join(r.Args, " "))
	}
	return s, nil
}

// runSPA sends one SPA packet to host as the fwknop client would.
func (c *client) runSPA(r *getopt.Result) int {
	if r.Has('h') || len(r.Args) > 1 || len(r.Args) == 0 && !r.Has('n') && !r.Has(optRCFile) {
		fmt.Fprint(c.stderr, spaUsage)
		return 1
	}
	s, err := c.spaSettingsOf(r)
	if err != nil {
		return c.fail("%v", err)
	}
	switch {
	case s.keys.Rijndael == nil:
		return c.fail("SPA needs --key or --key-base64 (or KEY or KEY_BASE64 in --key-file or -n's stanza)")
	case s.keys.HMAC == nil:
		return c.fail("SPA needs --hmac-key or --hmac-key-base64 (or HMAC_KEY or HMAC_KEY_BASE64 in --key-file or -n's stanza)")
	case s.access == nil:
		return c.fail("SPA needs -A, e.g. -A tcp/22 (or ACCESS in -n's stanza)")
	case s.server == "":
		return c.fail("SPA needs a host (or SPA_SERVER in -n's stanza)")
	}
	if err := s.keys.Validate(); err != nil {
		return c.fail("%v", err)
	}
	family := "ip"
	if r.Has('4') {
		family = "ip4"
	} else if r.Has('6') {
		family = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, family, strings.Trim(s.server, "[]"))
	if err != nil || len(ips) == 0 {
		return c.fail("cannot resolve %s: %v", s.server, err)
	}
	server := net.JoinHostPort(ips[0].String(), strconv.Itoa(s.port))
	conn, err := net.Dial("udp", server)
	if err != nil {
		return c.fail("%v", err)
	}
	defer conn.Close()

	user := s.user
	if user == "" {
		user = userName()
	}
	m := &spa.Message{User: user, Timestamp: c.now(), Ports: s.access, DigestType: s.digest}
	switch {
	case s.allowSource:
		m.Addr = netip.IPv4Unspecified()
	case s.allowIP.IsValid():
		m.Addr = s.allowIP
	default:
		la := conn.LocalAddr().(*net.UDPAddr)
		a, _ := netip.AddrFromSlice(la.IP)
		m.Addr = a.Unmap()
	}
	if s.nat.IsValid() {
		m.Type = spa.TypeNATAccess
		m.NATTo = s.nat
	}
	m.ClientTimeout = s.timeout
	pkt, err := spa.Encode(m, s.keys, nil)
	if err != nil {
		return c.fail("%v", err)
	}
	if r.Has('v') {
		fmt.Fprintf(c.stdout, "sending SPA packet (%d bytes) to udp %s for %s\n", len(pkt), server, m.Addr)
	}
	if _, err := conn.Write(pkt); err != nil {
		return c.fail("send: %v", err)
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
