package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/macaddr"
	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	spapkg "github.com/knockd-go/knockd-go/src/internal/spa"
)

// The directive table: one entry per directive of knockd.conf and UCI
// alike, in the order of the suggestions for an unknown one. knockd.conf
// names a directive in any case (NAME = value); UCI names it in lower case
// (option name 'value'), or by its uci name where it has one, and may give
// the list directives as lists (list name 'value'), whose values apply in
// turn. List directives (open, forward, wake, notify, interface, tcpflags)
// append; the others replace, like knockd.

// entry is one directive of a T (Options or Door).
type entry[T any] struct {
	name string // upper case
	uci  string // the UCI option's other name, lower case ("use_syslog")
	list bool   // UCI: may be a list option
	set  func(t *T, val string) error
}

// table is the directives of one kind of section.
type table[T any] []entry[T]

// set applies the directive key (upper case; with uci, a UCI option's name
// upper-cased) to t. An unknown key is errUnknown.
func (tb table[T]) set(t *T, key, val string, uci bool) error {
	e := tb.lookup(key, uci)
	if e == nil {
		return errUnknown
	}
	return e.set(t, val)
}

func (tb table[T]) lookup(key string, uci bool) *entry[T] {
	for i := range tb {
		if e := &tb[i]; e.name == key || (uci && e.uci != "" && strings.ToUpper(e.uci) == key) {
			return e
		}
	}
	return nil
}

// names returns the directives' names in lower case, for suggestions.
func (tb table[T]) names() []string {
	out := make([]string, len(tb))
	for i, e := range tb {
		out[i] = strings.ToLower(e.name)
	}
	return out
}

// Directive names, lower case: what suggestions for an unknown directive
// are chosen from.
var (
	optionNames = optionDirectives.names()
	doorNames   = doorDirectives.names()
)

// optionDirectives are the global directives ([options], config knockd).
var optionDirectives = table[Options]{
	{name: "USESYSLOG", uci: "use_syslog", set: func(o *Options, val string) (err error) {
		o.UseSyslog = true
		if val != "" {
			o.UseSyslog, err = ParseBool(val)
		}
		return err
	}},
	{name: "LOGFILE", set: func(o *Options, val string) error { o.LogFile = val; return nil }},
	{name: "PIDFILE", set: func(o *Options, val string) error { o.PidFile = val; return nil }},
	{name: "INTERFACE", set: func(o *Options, val string) error { return devices(&o.Interfaces, val) }},
	{name: "FIREWALL", set: func(o *Options, val string) error {
		switch v := strings.ToLower(val); v {
		case "auto", "iptables", "iptables-legacy", "iptables-nft", "fw4", "none":
			o.Firewall = v
			return nil
		}
		return fmt.Errorf("%q: want auto, iptables, iptables-legacy, iptables-nft, fw4 or none", val)
	}},
	{name: "SENDMAIL", set: func(o *Options, val string) error {
		if !strings.HasPrefix(val, "/") {
			return fmt.Errorf("%q: want the absolute path of a sendmail program", val)
		}
		o.Sendmail = val
		return nil
	}},
	{name: "MAIL_FROM", set: func(o *Options, val string) (err error) {
		o.MailFrom = mailaddr.Address{}
		if val != "" && !feature.Mail {
			return feature.Missing("mail", "knockd_nomail")
		}
		if val != "" {
			o.MailFrom, err = mailaddr.Parse(val)
		}
		return err
	}},
	{name: "MAX_ATTEMPTS", set: func(o *Options, val string) (err error) { o.MaxAttempts, err = positive(val, 1<<24); return err }},
	{name: "MAX_CHILDREN", set: func(o *Options, val string) (err error) { o.MaxChildren, err = positive(val, 4096); return err }},
	{name: "ENABLED", set: func(o *Options, val string) (err error) { o.Enabled, err = ParseBool(val); return err }},
	{name: "SPA_REPLAY_FILE", set: func(o *Options, val string) error {
		return absolute(&o.SPAReplayFile, val, "or empty: keep the cache in memory only")
	}},
	{name: "NOTIFY_INTERVAL", set: func(o *Options, val string) (err error) { o.NotifyInterval, err = ParseSeconds(val); return err }},
	{name: "NOTIFY_PER_HOUR", set: func(o *Options, val string) (err error) { o.NotifyPerHour, err = positive(val, 3600); return err }},
	{name: "CONTROL_SOCKET", set: func(o *Options, val string) error {
		if val != "" && !feature.Control {
			return feature.Missing("the control socket", "knockd_nocontrol")
		}
		return absolute(&o.ControlSocket, val, "or empty: no control socket")
	}},
	{name: "SENDMAIL_USER", set: func(o *Options, val string) (err error) { o.SendmailUser, err = parseUser(val); return err }},
	{name: "COMMAND_USER", set: func(o *Options, val string) (err error) { o.CommandUser, err = parseUser(val); return err }},
}

// doorDirectives are the directives of a door ([name], config door):
// the knock, its commands and grants, then the rotating knocks' and the
// SPA doors'.
var doorDirectives = table[Door]{
	{name: "SEQUENCE", set: func(d *Door, val string) (err error) { d.Sequence, err = ParseSequence(val); return err }},
	{name: "ONE_TIME_SEQUENCES", set: func(d *Door, val string) error {
		if val == "" {
			return fmt.Errorf("empty file name")
		}
		d.OneTimeFile = val
		return nil
	}},
	{name: "SEQ_TIMEOUT", set: seqTimeout},
	{name: "TIMEOUT", set: seqTimeout},
	{name: "TCPFLAGS", list: true, set: func(d *Door, val string) error { return l4.ParseFlags(val, &d.TCPFlags) }},
	{name: "START_COMMAND", set: startCommand},
	{name: "COMMAND", set: startCommand},
	{name: "START_COMMAND_6", set: startCommand6},
	{name: "COMMAND_6", set: startCommand6},
	{name: "CMD_TIMEOUT", set: func(d *Door, val string) (err error) { d.CmdTimeout, err = ParseSeconds(val); return err }},
	{name: "STOP_COMMAND", set: func(d *Door, val string) error { d.StopCommand = val; return nil }},
	{name: "STOP_COMMAND_6", set: func(d *Door, val string) error { d.StopCommand6, d.HasStop6 = val, true; return nil }},
	{name: "TARGET", set: func(d *Door, val string) error {
		a, err := netip.ParseAddr(val)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", val)
		}
		d.Target = a.WithZone("").Unmap()
		return nil
	}},
	{name: "DUPLICATE_KNOCKS", set: func(d *Door, val string) error {
		switch strings.ToLower(val) {
		case "ignore":
			d.StrictDupes = false
		case "strict":
			d.StrictDupes = true
		default:
			return fmt.Errorf("%q: want ignore or strict", val)
		}
		return nil
	}},
	{name: "COOLDOWN", set: func(d *Door, val string) (err error) { d.Cooldown, err = ParseSeconds(val); return err }},
	{name: "OPEN", list: true, set: func(d *Door, val string) error { return appendParsed(&d.Open, SplitList(val), l4.Parse) }},
	{name: "FORWARD", list: true, set: func(d *Door, val string) error {
		var items []string
		for _, it := range strings.Split(val, ",") {
			if strings.TrimSpace(it) != "" {
				items = append(items, it)
			}
		}
		return appendParsed(&d.Forward, items, grant.ParseForward)
	}},
	{name: "OPEN_DURATION", set: openDuration},
	{name: "DURATION", set: openDuration},
	{name: "WAKE", list: true, set: func(d *Door, val string) error { return appendParsed(&d.Wake, SplitList(val), macaddr.Parse) }},
	{name: "WAKE_INTERFACE", set: func(d *Door, val string) error {
		if err := CheckDevice(val); err != nil {
			return err
		}
		d.WakeInterface = val
		return nil
	}},
	{name: "INTERFACE", list: true, set: func(d *Door, val string) error { return devices(&d.Interfaces, val) }},
	{name: "WAKE_PASSWORD", set: func(d *Door, val string) (err error) {
		d.WakePassword, err = macaddr.ParsePassword(strings.TrimSpace(val))
		return err
	}},
	{name: "NOTIFY", list: true, set: func(d *Door, val string) error {
		if !feature.Mail {
			return feature.Missing("mail", "knockd_nomail")
		}
		return appendParsed(&d.Notify, SplitList(val), mailaddr.Parse)
	}},

	{name: "SEQUENCE_SECRET", set: func(d *Door, val string) (err error) {
		if !feature.Rotate {
			return noRotate()
		}
		rot(d).Secret, err = rotate.ParseSecret(val)
		return err
	}},
	{name: "SEQUENCE_LENGTH", set: func(d *Door, val string) (err error) {
		if !feature.Rotate {
			return noRotate()
		}
		rot(d).Length, err = positive(val, rotate.MaxLength)
		if err == nil && rot(d).Length < rotate.MinLength {
			err = fmt.Errorf("%d knocks: at least %d", rot(d).Length, rotate.MinLength)
		}
		return err
	}},
	{name: "SEQUENCE_STEP", set: func(d *Door, val string) (err error) {
		if !feature.Rotate {
			return noRotate()
		}
		rot(d).Step, err = ParseSeconds(val)
		if err == nil && (rot(d).Step < rotate.MinStep || rot(d).Step > rotate.MaxStep) {
			err = fmt.Errorf("%v: want %v to %v", rot(d).Step, rotate.MinStep, rotate.MaxStep)
		}
		return err
	}},
	{name: "SEQUENCE_PORTS", set: func(d *Door, val string) (err error) {
		if !feature.Rotate {
			return noRotate()
		}
		p := rot(d)
		p.Lo, p.Hi, err = rotate.ParseRange(val)
		return err
	}},
	{name: "SEQUENCE_PROTOCOL", set: func(d *Door, val string) (err error) {
		if !feature.Rotate {
			return noRotate()
		}
		rot(d).Proto, err = l4.ParseProto(val)
		return err
	}},

	{name: "SPA", set: func(d *Door, val string) error {
		if !feature.SPA {
			return feature.Missing("SPA (fwknop)", "knockd_nospa")
		}
		on, err := ParseBool(val)
		if err == nil {
			if on {
				spa(d)
			} else {
				d.SPA = nil
			}
		}
		return err
	}},
	{name: "SPA_PORT", set: func(d *Door, val string) (err error) { spa(d).Port, err = l4.ParseNum(val); return err }},
	{name: "SPA_KEY", set: func(d *Door, val string) error { spa(d).Key = []byte(val); return nil }},
	{name: "SPA_KEY_BASE64", set: func(d *Door, val string) (err error) {
		if !feature.SPA {
			return feature.Missing("SPA (fwknop)", "knockd_nospa")
		}
		spa(d).Key, err = spapkg.DecodeKey(val)
		return err
	}},
	{name: "SPA_HMAC_KEY", set: func(d *Door, val string) error { spa(d).HMACKey = []byte(val); return nil }},
	{name: "SPA_HMAC_KEY_BASE64", set: func(d *Door, val string) (err error) {
		if !feature.SPA {
			return feature.Missing("SPA (fwknop)", "knockd_nospa")
		}
		spa(d).HMACKey, err = spapkg.DecodeKey(val)
		return err
	}},
	{name: "SPA_HMAC_DIGEST", set: func(d *Door, val string) (err error) {
		if !feature.SPA {
			return feature.Missing("SPA (fwknop)", "knockd_nospa")
		}
		spa(d).HMACDigest, err = spapkg.ParseDigest(val)
		return err
	}},
	{name: "SPA_MAX_AGE", set: func(d *Door, val string) (err error) {
		spa(d).MaxAge, err = ParseSeconds(val)
		if err == nil && spa(d).MaxAge == 0 {
			err = fmt.Errorf("0 seconds would reject every packet")
		}
		return err
	}},
	{name: "SPA_ALLOW_NAT", set: func(d *Door, val string) (err error) { spa(d).AllowNAT, err = ParseBool(val); return err }},
	{name: "SPA_ALLOW_COMMANDS", set: func(d *Door, val string) (err error) { spa(d).AllowCommands, err = ParseBool(val); return err }},
	{name: "SPA_ALLOW_ANY_SOURCE", set: func(d *Door, val string) (err error) { spa(d).AllowAnySource, err = ParseBool(val); return err }},
	{name: "SPA_MAX_TIMEOUT", set: func(d *Door, val string) (err error) { spa(d).MaxClientTimeout, err = ParseSeconds(val); return err }},
}

// apply applies one value of the directive field (key: its upper-case
// name, or a UCI option's) to t, as knockd.conf (uci false) or UCI gives
// it. An unknown directive is "unknown WHAT" with the nearest name; a
// value that fails and holds " #" gets the inline-comment advice (in
// knockd.conf for an unknown directive too). warn reports a value that
// applies and holds " #".
func apply[T any](tb table[T], t *T, key, field, val string, uci bool, what string) (warn bool, err error) {
	err = tb.set(t, key, val, uci)
	switch {
	case errors.Is(err, errUnknown) && uci:
		return false, unknown(what, field, tb.names())
	case errors.Is(err, errUnknown):
		return false, commentHint(unknown(what, field, tb.names()), val)
	case err != nil:
		return false, commentHint(err, val)
	}
	return inlineComment(val), nil
}

// Setters shared by a directive and its alias.

func seqTimeout(d *Door, val string) (err error) {
	d.SeqTimeout, err = ParseSeconds(val)
	if err == nil && d.SeqTimeout == 0 {
		err = fmt.Errorf("0 seconds: no multi-knock sequence could ever complete")
	}
	return err
}

func startCommand(d *Door, val string) error { d.StartCommand = val; return nil }

func startCommand6(d *Door, val string) error { d.StartCommand6, d.HasStart6 = val, true; return nil }

func openDuration(d *Door, val string) (err error) {
	d.OpenDuration, err = ParseSeconds(val)
	if err == nil && d.OpenDuration == 0 {
		err = fmt.Errorf("0 seconds would close the door as it opens")
	}
	return err
}

// appendParsed parses each item and appends it to list; it stops at the
// first error.
func appendParsed[V any](list *[]V, items []string, parse func(string) (V, error)) error {
	for _, it := range items {
		v, err := parse(it)
		if err != nil {
			return err
		}
		*list = append(*list, v)
	}
	return nil
}

// devices appends the device names of a list to list.
func devices(list *[]string, val string) error {
	for _, it := range SplitList(val) {
		if err := CheckDevice(it); err != nil {
			return err
		}
		*list = append(*list, it)
	}
	return nil
}

// absolute sets *path to val, an absolute path or empty (what empty
// means is told in the error).
func absolute(path *string, val, empty string) error {
	if val != "" && !strings.HasPrefix(val, "/") {
		return fmt.Errorf("%q: want an absolute path (%s)", val, empty)
	}
	*path = val
	return nil
}

// parseUser checks a user name (the user is looked up when the daemon
// starts: it may not exist on the machine where -k runs).
func parseUser(s string) (string, error) {
	if s == "" || len(s) > 32 || strings.ContainsAny(s, ":/ \t\n") {
		return "", fmt.Errorf("%q is not a user name", s)
	}
	return s, nil
}

// CheckDevice reports why name cannot be a network device (or OpenWrt
// network) name: empty, longer than 15 bytes, or holding '/', ':', '=',
// ',' or white space.
func CheckDevice(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/:=, \t\n") {
		return fmt.Errorf("%q is not a network device name", name)
	}
	return nil
}

func positive(s string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || strconv.Itoa(n) != strings.TrimSpace(s) {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("%d out of range 1-%d", n, max)
	}
	return n, nil
}

var errUnknown = fmt.Errorf("unknown directive")

// noRotate refuses the directives of rotating knocks in a build without
// them (knockd_norotate).
func noRotate() error { return feature.Missing("rotating knocks", "knockd_norotate") }

func rot(d *Door) *rotate.Params {
	if d.Rotate == nil {
		p := rotate.Default(nil)
		d.Rotate = &p
	}
	return d.Rotate
}

func spa(d *Door) *SPA {
	if d.SPA == nil {
		d.SPA = &SPA{Port: DefaultSPAPort, HMACDigest: "sha256", MaxAge: DefaultSPAMaxAge}
	}
	return d.SPA
}

// finish validates a door after all its directives are read.
func finish(d *Door) error {
	if d.SPA != nil {
		s := d.SPA
		if len(s.Key) == 0 {
			return fmt.Errorf("SPA door needs spa_key or spa_key_base64")
		}
		if len(s.HMACKey) == 0 {
			return fmt.Errorf("SPA door needs spa_hmac_key or spa_hmac_key_base64 (fwknop HMAC is mandatory here)")
		}
		if d.has("SEQUENCE") || d.OneTimeFile != "" || d.Rotate != nil {
			return fmt.Errorf("a door is either a knock sequence or SPA, not both")
		}
		if len(d.Open) == 0 && len(d.Forward) == 0 && !s.AllowCommands && d.StartCommand == "" {
			return fmt.Errorf("SPA door grants nothing: give open, forward, or start_command")
		}
	} else if d.Rotate != nil {
		if d.has("SEQUENCE") || d.OneTimeFile != "" {
			return fmt.Errorf("a rotating knock (sequence_secret) has no fixed sequence or one_time_sequences")
		}
		if len(d.Rotate.Secret) == 0 {
			return fmt.Errorf("a rotating knock needs sequence_secret")
		}
		if err := d.Rotate.Validate(); err != nil {
			return err
		}
	} else if len(d.Sequence) == 0 && d.OneTimeFile == "" {
		return fmt.Errorf("empty knock sequence (give sequence, one_time_sequences or sequence_secret)")
	}
	if !d.has("OPEN_DURATION") {
		d.OpenDuration = d.CmdTimeout
		if d.OpenDuration == 0 && (len(d.Open) > 0 || len(d.Forward) > 0) {
			return fmt.Errorf("cmd_timeout 0 and no open_duration: grants would close as they open")
		}
	}
	return nil
}
