// Package config reads knockd.conf files (every directive of knockd 0.8,
// with the same meaning) and UCI files (/etc/config/knockd) into one
// validated model. Errors name the file, the line and the field.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Protocol numbers used in sequences and actions.
const (
	TCP uint8 = 6
	UDP uint8 = 17
)

// ProtoName returns "tcp" or "udp".
func ProtoName(p uint8) string {
	if p == UDP {
		return "udp"
	}
	return "tcp"
}

// Step is one knock of a sequence.
type Step struct {
	Proto uint8
	Port  uint16
}

func (s Step) String() string { return fmt.Sprintf("%d:%s", s.Port, ProtoName(s.Proto)) }

// Flags is a TCPFlags condition: bits in Set must be set, bits in Clear
// must be clear. The zero value accepts any flags.
type Flags struct{ Set, Clear uint8 }

// Match reports whether TCP flags f satisfy the condition.
func (f Flags) Match(b uint8) bool { return b&f.Set == f.Set && b&f.Clear == 0 }

// Port is a protocol and port, written tcp/22 in the config.
type Port struct {
	Proto uint8
	Port  uint16
}

func (p Port) String() string { return fmt.Sprintf("%s/%d", ProtoName(p.Proto), p.Port) }

// Forward sends a WAN port to a LAN host while a grant is open.
type Forward struct {
	Proto      uint8
	Port       uint16         // WAN port
	To         netip.AddrPort // LAN host and port
	Masquerade bool           // also SNAT to the router (LAN host without a route back)
}

func (f Forward) String() string {
	s := fmt.Sprintf("%s/%d->%s", ProtoName(f.Proto), f.Port, f.To)
	if f.Masquerade {
		s += " masquerade"
	}
	return s
}

// SPA configures a door that accepts fwknop Single Packet Authorization.
type SPA struct {
	Port            uint16 // UDP port, default 62201
	Key             []byte // Rijndael key (passphrase bytes or decoded base64)
	HMACKey         []byte
	HMACDigest      string        // md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512
	MaxAge          time.Duration // timestamp window, default 120 s
	AllowNAT        bool          // NAT access messages allowed (to the door's forwards)
	AllowCommands   bool          // command messages allowed (run as start_command)
	AllowAnySource  bool          // allow 0.0.0.0 / :: in the message
	MaxClientTimout time.Duration // upper bound of a client-requested timeout (0: door duration)
}

// Door is one [section] of knockd.conf or one `config door` of UCI.
type Door struct {
	Name string
	File string
	Line int // line of the section header

	Sequence    []Step
	OneTimeFile string // One_Time_Sequences: file of sequences, one used per success
	SeqTimeout  time.Duration
	TCPFlags    Flags

	StartCommand  string
	StartCommand6 string
	HasStart6     bool // Start_Command_6 was given (even empty)
	CmdTimeout    time.Duration
	StopCommand   string
	StopCommand6  string
	HasStop6      bool
	Target        netip.Addr // zero: any of the device's addresses
	StrictDupes   bool       // knockd's behaviour: a repeated knock breaks the attempt
	Cooldown      time.Duration
	Open          []Port
	Forward       []Forward
	OpenDuration  time.Duration // how long open/forward grants last (default CmdTimeout)
	Wake          []net.HardwareAddr
	WakeInterface string
	WakePassword  []byte
	Notify        []string
	SPA           *SPA
	hasOpenDur    bool
	seenSequence  bool
	seqLine       int
	tcpFlagsLines int
}

// Commands returns the start and stop commands for a knocker of the given
// family, with knockd's fallback from the _6 variants to the plain ones.
func (d *Door) Commands(ipv6 bool) (start, stop string) {
	start, stop = d.StartCommand, d.StopCommand
	if ipv6 {
		if d.HasStart6 {
			start = d.StartCommand6
		}
		if d.HasStop6 {
			stop = d.StopCommand6
		}
	}
	return start, stop
}

// HasActions reports whether the door does something besides commands.
func (d *Door) HasActions() bool {
	return len(d.Open) > 0 || len(d.Forward) > 0 || len(d.Wake) > 0 || len(d.Notify) > 0
}

// Options are the global settings ([options] in knockd.conf).
type Options struct {
	UseSyslog   bool
	LogFile     string
	PidFile     string
	Interface   string
	Firewall    string // auto, iptables, fw4, none
	Sendmail    string
	MailFrom    string
	MaxAttempts int // cap of the attempt table
	MaxChildren int // cap of concurrently running commands
	Enabled     bool
}

// Config is a whole validated configuration.
type Config struct {
	File    string
	Options Options
	Doors   []*Door
}

// Defaults of knockd 0.8 and of our additions.
const (
	DefaultSeqTimeout   = 25 * time.Second
	DefaultCmdTimeout   = 10 * time.Second
	DefaultInterface    = "eth0"
	DefaultPidFile      = "/var/run/knockd.pid"
	DefaultMaxAttempts  = 32768
	DefaultMaxChildren  = 32
	DefaultSendmail     = "/usr/sbin/sendmail"
	DefaultWakeIface    = "br-lan"
	DefaultSPAPort      = 62201
	DefaultSPAMaxAge    = 120 * time.Second
	MaxSequenceLength   = 256
	maxDoors            = 100000
	maxSecondsInTimeout = 365 * 24 * 3600
)

func newOptions() Options {
	return Options{
		PidFile:     DefaultPidFile,
		Firewall:    "auto",
		Sendmail:    DefaultSendmail,
		MaxAttempts: DefaultMaxAttempts,
		MaxChildren: DefaultMaxChildren,
		Enabled:     true,
	}
}

func newDoor(name, file string, line int) *Door {
	return &Door{
		Name:          name,
		File:          file,
		Line:          line,
		SeqTimeout:    DefaultSeqTimeout,
		CmdTimeout:    DefaultCmdTimeout,
		WakeInterface: DefaultWakeIface,
	}
}

// ParseSequence parses `port[:proto][,port[:proto]...]`. Whitespace around
// items is allowed; a trailing comma is ignored; an empty item elsewhere,
// port 0 or a port above 65535 are errors.
func ParseSequence(s string) ([]Step, error) {
	items := strings.Split(s, ",")
	if n := len(items); n > 1 && strings.TrimSpace(items[n-1]) == "" {
		items = items[:n-1]
	}
	var out []Step
	for i, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
		portStr, protoStr, hasProto := strings.Cut(it, ":")
		st := Step{Proto: TCP}
		if hasProto {
			switch strings.ToLower(strings.TrimSpace(protoStr)) {
			case "tcp":
			case "udp":
				st.Proto = UDP
			default:
				return nil, fmt.Errorf("item %d (%q): unknown protocol %q (want tcp or udp)", i+1, it, strings.TrimSpace(protoStr))
			}
		}
		p, err := parsePort(strings.TrimSpace(portStr))
		if err != nil {
			return nil, fmt.Errorf("item %d (%q): %w", i+1, it, err)
		}
		st.Port = p
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty knock sequence")
	}
	if len(out) > MaxSequenceLength {
		return nil, fmt.Errorf("%d knocks: at most %d", len(out), MaxSequenceLength)
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return uint16(n), nil
}

// ParseFlags parses a TCPFlags value (`syn,!ack`, spaces allowed) into f,
// accumulating like knockd does across several TCPFlags lines.
func ParseFlags(s string, f *Flags) error {
	names := map[string]uint8{"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20}
	for _, tok := range strings.Split(s, ",") {
		tok = strings.ToUpper(strings.TrimSpace(tok))
		if tok == "" {
			continue
		}
		neg := strings.HasPrefix(tok, "!")
		name := strings.TrimSpace(strings.TrimPrefix(tok, "!"))
		bit, ok := names[name]
		if !ok {
			return fmt.Errorf("unrecognized flag %q (want FIN, SYN, RST, PSH, ACK or URG, optionally with !)", tok)
		}
		if neg {
			f.Set &^= bit
			f.Clear |= bit
		} else {
			f.Clear &^= bit
			f.Set |= bit
		}
	}
	return nil
}

// ParseSeconds parses a whole number of seconds, 0 allowed.
func ParseSeconds(s string) (time.Duration, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	if n > maxSecondsInTimeout {
		return 0, fmt.Errorf("%d seconds is more than a year", n)
	}
	return time.Duration(n) * time.Second, nil
}

// ParsePort parses `tcp/22` (or `22/tcp`, `udp:53`); protocol defaults to tcp.
func ParsePort(s string) (Port, error) {
	s = strings.TrimSpace(s)
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		a, b, ok = strings.Cut(s, ":")
	}
	proto, port := "tcp", s
	if ok {
		proto, port = a, b
		if _, err := strconv.Atoi(strings.TrimSpace(a)); err == nil {
			proto, port = b, a
		}
	}
	var p Port
	switch strings.ToLower(strings.TrimSpace(proto)) {
	case "tcp":
		p.Proto = TCP
	case "udp":
		p.Proto = UDP
	default:
		return p, fmt.Errorf("%q: unknown protocol %q (want tcp or udp)", s, proto)
	}
	n, err := parsePort(strings.TrimSpace(port))
	if err != nil {
		return p, fmt.Errorf("%q: %w", s, err)
	}
	p.Port = n
	return p, nil
}

// ParseForward parses `tcp/1723->192.168.1.51:1723 [masquerade]`. The LAN
// port defaults to the WAN port; IPv6 hosts are written [fd00::5]:80.
func ParseForward(s string) (Forward, error) {
	var f Forward
	fields := strings.Fields(strings.Replace(s, "->", " -> ", 1))
	if len(fields) >= 4 && strings.EqualFold(fields[len(fields)-1], "masquerade") {
		f.Masquerade = true
		fields = fields[:len(fields)-1]
	}
	if len(fields) != 3 || fields[1] != "->" {
		return f, fmt.Errorf("%q: want proto/port->host[:port] [masquerade]", s)
	}
	p, err := ParsePort(fields[0])
	if err != nil {
		return f, err
	}
	f.Proto, f.Port = p.Proto, p.Port
	dst := fields[2]
	if ap, err := netip.ParseAddrPort(dst); err == nil {
		if ap.Port() == 0 {
			return f, fmt.Errorf("%q: port 0 out of range 1-65535", s)
		}
		f.To = ap
	} else if a, err := netip.ParseAddr(strings.Trim(dst, "[]")); err == nil {
		f.To = netip.AddrPortFrom(a, f.Port)
	} else {
		return f, fmt.Errorf("%q: %q is not an address or address:port", s, dst)
	}
	if f.To.Addr().Zone() != "" || f.To.Addr().IsUnspecified() || f.To.Addr().IsMulticast() {
		return f, fmt.Errorf("%q: %s cannot be a forward target", s, f.To.Addr())
	}
	f.To = netip.AddrPortFrom(f.To.Addr().Unmap(), f.To.Port())
	return f, nil
}

// ParseBool accepts 1/0, yes/no, on/off, true/false, enabled/disabled.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "on", "true", "enabled", "enable":
		return true, nil
	case "0", "no", "off", "false", "disabled", "disable":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want yes or no)", s)
}

// ParseMAC parses a 6-byte Ethernet address.
func ParseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("%q is not a 6-byte MAC address like aa:bb:cc:dd:ee:ff", s)
	}
	return m, nil
}

// ParseWakePassword parses a SecureOn password: 6 bytes written like a MAC
// address or 4 bytes written like an IPv4 address, as etherwake takes it.
func ParseWakePassword(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if m, err := net.ParseMAC(s); err == nil && len(m) == 6 {
		return []byte(m), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return b[:], nil
	}
	return nil, fmt.Errorf("%q is not a SecureOn password (aa:bb:cc:dd:ee:ff or 1.2.3.4)", s)
}

// SplitList splits a comma- or space-separated list, dropping empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}
