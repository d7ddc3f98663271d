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

	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// SPA configures a door that accepts fwknop Single Packet Authorization.
type SPA struct {
	Port             uint16 // UDP port, default 62201
	Key              []byte // Rijndael key (passphrase bytes or decoded base64)
	HMACKey          []byte
	HMACDigest       string        // md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512
	MaxAge           time.Duration // timestamp window, default 120 s
	AllowNAT         bool          // NAT access messages allowed (to the door's forwards)
	AllowCommands    bool          // command messages allowed (run as start_command)
	AllowAnySource   bool          // allow 0.0.0.0 / :: in the message
	MaxClientTimeout time.Duration // upper bound of a client-requested timeout (0: door duration)
}

// Door is one [section] of knockd.conf or one `config door` of UCI.
type Door struct {
	Name string
	File string
	Line int // line of the section header

	Sequence    []l4.Port
	OneTimeFile string // One_Time_Sequences: file of sequences, one used per success
	SeqTimeout  time.Duration
	TCPFlags    l4.Flags

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
	Open          []l4.Port
	Forward       []grant.Forward
	OpenDuration  time.Duration // how long open/forward grants last (default CmdTimeout)
	Wake          []net.HardwareAddr
	WakeInterface string
	WakePassword  []byte
	Notify        []mailaddr.Address
	SPA           *SPA
	Rotate        *rotate.Params // a rotating knock (sequence_secret) instead of a fixed sequence
	Interfaces    []string       // limit the door to these of the daemon's devices

	// directives records where each directive was given (upper-case key),
	// so that later checks can name the line.
	directives map[string]Directive
}

// Directive is where a directive of a door was given.
type Directive struct {
	_    [0]func() // not comparable: no equality function in the binary
	Name string    // as written
	Line int
}

// Where returns where the directive key (upper case, e.g. "SPA_HMAC_KEY")
// was last given, or the door's header when it was not.
func (d *Door) Where(key string) Directive {
	if w, ok := d.directives[key]; ok {
		return w
	}
	return Directive{Line: d.Line}
}

// Errorf returns an error at the place of the door's directive key, in the
// form every configuration error has: `file:line: door "x": field: reason`.
func (d *Door) Errorf(key string, format string, args ...any) error {
	w := d.Where(key)
	return &Error{File: d.File, Line: w.Line, Door: d.Name, Field: w.Name, Err: fmt.Errorf(format, args...)}
}

// alias maps directives to the name Where knows them by (a switch: a
// map literal costs more code to fill at start-up than to search).
func alias(key string) string {
	switch key {
	case "COMMAND":
		return "START_COMMAND"
	case "COMMAND_6":
		return "START_COMMAND_6"
	case "TIMEOUT":
		return "SEQ_TIMEOUT"
	case "DURATION":
		return "OPEN_DURATION"
	case "SPA_KEY_BASE64":
		return "SPA_KEY"
	case "SPA_HMAC_KEY_BASE64":
		return "SPA_HMAC_KEY"
	}
	return key
}

func (d *Door) saw(key, name string, line int) {
	if d.directives == nil {
		d.directives = map[string]Directive{}
	}
	d.directives[alias(key)] = Directive{Name: name, Line: line}
}

func (d *Door) has(key string) bool { _, ok := d.directives[key]; return ok }

// Options are the global settings ([options] in knockd.conf).
type Options struct {
	UseSyslog   bool
	LogFile     string
	PidFile     string
	Interfaces  []string // devices to capture on (or OpenWrt networks the init script resolved)
	Firewall    string   // auto, iptables, fw4, none
	Sendmail    string
	MailFrom    mailaddr.Address // zero: none
	MaxAttempts int              // cap of the attempt table
	MaxChildren int              // cap of concurrently running commands
	Enabled     bool
	// SPAReplayFile keeps the SPA replay caches and the used rotating
	// sequences across restarts.
	SPAReplayFile string
	// NotifyInterval and NotifyPerHour bound the notification mails: one
	// per address and door per interval, so many per door an hour.
	NotifyInterval time.Duration
	NotifyPerHour  int
	// SendmailUser runs the sendmail program; CommandUser the doors'
	// commands ("root": as the daemon, knockd's way).
	SendmailUser string
	CommandUser  string
	// ControlSocket is where `knockd status` and rpcd ask the daemon ("":
	// no socket).
	ControlSocket string
}

// Config is a whole validated configuration.
type Config struct {
	File    string
	Options Options
	Doors   []*Door
	// Warnings are what the file holds that works but is likely not
	// meant (a value holding " #": inline comments are not supported).
	Warnings []error
}

// Defaults of knockd 0.8 and of our additions.
const (
	DefaultSeqTimeout    = 25 * time.Second
	DefaultCmdTimeout    = 10 * time.Second
	DefaultInterface     = "eth0"
	DefaultPidFile       = "/var/run/knockd.pid"
	DefaultMaxAttempts   = 32768
	DefaultMaxChildren   = 32
	DefaultSendmail      = "/usr/sbin/sendmail"
	DefaultWakeIface     = "br-lan"
	DefaultSPAPort       = 62201
	DefaultSPAMaxAge     = 120 * time.Second
	DefaultReplayFile    = "/var/run/knockd.spa-replay"
	DefaultNotifyEvery   = 10 * time.Minute
	DefaultNotifyHour    = 10
	DefaultSendmailUser  = "root"
	DefaultCommandUser   = "root"
	DefaultControlSocket = "/var/run/knockd.sock"
	MaxSequenceLength    = 256
	maxDoors             = 100000
	maxSecondsInTimeout  = 365 * 24 * 3600
)

func newOptions() Options {
	return Options{
		PidFile:     DefaultPidFile,
		Firewall:    "auto",
		Sendmail:    DefaultSendmail,
		MaxAttempts: DefaultMaxAttempts,
		MaxChildren: DefaultMaxChildren,
		Enabled:     true,

		SPAReplayFile:  DefaultReplayFile,
		NotifyInterval: DefaultNotifyEvery,
		NotifyPerHour:  DefaultNotifyHour,
		SendmailUser:   DefaultSendmailUser,
		CommandUser:    DefaultCommandUser,
		ControlSocket:  DefaultControlSocket,
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
func ParseSequence(s string) ([]l4.Port, error) {
	items := strings.Split(s, ",")
	if n := len(items); n > 1 && strings.TrimSpace(items[n-1]) == "" {
		items = items[:n-1]
	}
	var out []l4.Port
	for i, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
		portStr, protoStr, hasProto := strings.Cut(it, ":")
		st := l4.Port{Proto: l4.TCP}
		if hasProto {
			p, err := l4.ParseProto(protoStr)
			if err != nil {
				return nil, fmt.Errorf("item %d (%q): %w", i+1, it, err)
			}
			st.Proto = p
		}
		n, err := l4.ParseNum(portStr)
		if err != nil {
			return nil, fmt.Errorf("item %d (%q): %w", i+1, it, err)
		}
		st.Num = n
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

// SplitList splits a comma- or space-separated list, dropping empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}
