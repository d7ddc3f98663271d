package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/macaddr"
	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	spapkg "github.com/knockd-go/knockd-go/src/internal/spa"
)

// setOption applies one global directive. key is upper case.
func setOption(o *Options, key, val string) error {
	var err error
	switch key {
	case "USESYSLOG":
		o.UseSyslog = true
		if val != "" {
			o.UseSyslog, err = ParseBool(val)
		}
	case "LOGFILE":
		o.LogFile = val
	case "PIDFILE":
		o.PidFile = val
	case "INTERFACE":
		for _, it := range SplitList(val) {
			if err := CheckDevice(it); err != nil {
				return err
			}
			o.Interfaces = append(o.Interfaces, it)
		}
	case "FIREWALL":
		switch v := strings.ToLower(val); v {
		case "auto", "iptables", "iptables-legacy", "iptables-nft", "fw4", "none":
			o.Firewall = v
		default:
			return fmt.Errorf("%q: want auto, iptables, iptables-legacy, iptables-nft, fw4 or none", val)
		}
	case "SENDMAIL":
		if !strings.HasPrefix(val, "/") {
			return fmt.Errorf("%q: want the absolute path of a sendmail program", val)
		}
		o.Sendmail = val
	case "MAIL_FROM":
		o.MailFrom = mailaddr.Address{}
		if val != "" {
			o.MailFrom, err = mailaddr.Parse(val)
		}
	case "MAX_ATTEMPTS":
		o.MaxAttempts, err = positive(val, 1<<24)
	case "MAX_CHILDREN":
		o.MaxChildren, err = positive(val, 4096)
	case "ENABLED":
		o.Enabled, err = ParseBool(val)
	case "SPA_REPLAY_FILE":
		if val != "" && !strings.HasPrefix(val, "/") {
			return fmt.Errorf("%q: want an absolute path (or empty: keep the cache in memory only)", val)
		}
		o.SPAReplayFile = val
	case "NOTIFY_INTERVAL":
		o.NotifyInterval, err = ParseSeconds(val)
	case "NOTIFY_PER_HOUR":
		o.NotifyPerHour, err = positive(val, 3600)
	case "CONTROL_SOCKET":
		if val != "" && !strings.HasPrefix(val, "/") {
			return fmt.Errorf("%q: want an absolute path (or empty: no control socket)", val)
		}
		o.ControlSocket = val
	case "SENDMAIL_USER":
		o.SendmailUser, err = parseUser(val)
	case "COMMAND_USER":
		o.CommandUser, err = parseUser(val)
	default:
		return errUnknown
	}
	return err
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

// setDoor applies one door directive. key is upper case. List directives
// (Open, Forward, Wake, Notify) append; the others replace, like knockd.
func setDoor(d *Door, key, val string) error {
	var err error
	switch key {
	case "SEQUENCE":
		d.Sequence, err = ParseSequence(val)
	case "ONE_TIME_SEQUENCES":
		if val == "" {
			return fmt.Errorf("empty file name")
		}
		d.OneTimeFile = val
	case "SEQ_TIMEOUT", "TIMEOUT":
		d.SeqTimeout, err = ParseSeconds(val)
		if err == nil && d.SeqTimeout == 0 {
			err = fmt.Errorf("0 seconds: no multi-knock sequence could ever complete")
		}
	case "TCPFLAGS":
		err = l4.ParseFlags(val, &d.TCPFlags)
	case "START_COMMAND", "COMMAND":
		d.StartCommand = val
	case "START_COMMAND_6", "COMMAND_6":
		d.StartCommand6, d.HasStart6 = val, true
	case "CMD_TIMEOUT":
		d.CmdTimeout, err = ParseSeconds(val)
	case "STOP_COMMAND":
		d.StopCommand = val
	case "STOP_COMMAND_6":
		d.StopCommand6, d.HasStop6 = val, true
	case "TARGET":
		var a netip.Addr
		a, err = netip.ParseAddr(val)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", val)
		}
		d.Target = a.WithZone("").Unmap()
	case "DUPLICATE_KNOCKS":
		switch strings.ToLower(val) {
		case "ignore":
			d.StrictDupes = false
		case "strict":
			d.StrictDupes = true
		default:
			return fmt.Errorf("%q: want ignore or strict", val)
		}
	case "COOLDOWN":
		d.Cooldown, err = ParseSeconds(val)
	case "OPEN":
		for _, it := range SplitList(val) {
			p, err := l4.Parse(it)
			if err != nil {
				return err
			}
			d.Open = append(d.Open, p)
		}
	case "FORWARD":
		for _, it := range strings.Split(val, ",") {
			if strings.TrimSpace(it) == "" {
				continue
			}
			f, err := grant.ParseForward(it)
			if err != nil {
				return err
			}
			d.Forward = append(d.Forward, f)
		}
	case "OPEN_DURATION", "DURATION":
		d.OpenDuration, err = ParseSeconds(val)
		if err == nil && d.OpenDuration == 0 {
			err = fmt.Errorf("0 seconds would close the door as it opens")
		}
	case "WAKE":
		for _, it := range SplitList(val) {
			m, err := macaddr.Parse(it)
			if err != nil {
				return err
			}
			d.Wake = append(d.Wake, m)
		}
	case "WAKE_INTERFACE":
		if err := CheckDevice(val); err != nil {
			return err
		}
		d.WakeInterface = val
	case "INTERFACE":
		for _, it := range SplitList(val) {
			if err := CheckDevice(it); err != nil {
				return err
			}
			d.Interfaces = append(d.Interfaces, it)
		}
	case "WAKE_PASSWORD":
		d.WakePassword, err = macaddr.ParsePassword(strings.TrimSpace(val))
	case "NOTIFY":
		for _, it := range SplitList(val) {
			a, err := mailaddr.Parse(it)
			if err != nil {
				return err
			}
			d.Notify = append(d.Notify, a)
		}
	default:
		if strings.HasPrefix(key, "SPA") {
			return setSPA(d, key, val)
		}
		if strings.HasPrefix(key, "SEQUENCE_") {
			return setRotate(d, key, val)
		}
		return errUnknown
	}
	return err
}

func rot(d *Door) *rotate.Params {
	if d.Rotate == nil {
		p := rotate.Default(nil)
		d.Rotate = &p
	}
	return d.Rotate
}

// setRotate applies a directive of a rotating knock.
func setRotate(d *Door, key, val string) error {
	var err error
	switch key {
	case "SEQUENCE_SECRET":
		rot(d).Secret, err = rotate.ParseSecret(val)
	case "SEQUENCE_LENGTH":
		rot(d).Length, err = positive(val, rotate.MaxLength)
		if err == nil && rot(d).Length < rotate.MinLength {
			err = fmt.Errorf("%d knocks: at least %d", rot(d).Length, rotate.MinLength)
		}
	case "SEQUENCE_STEP":
		rot(d).Step, err = ParseSeconds(val)
		if err == nil && (rot(d).Step < rotate.MinStep || rot(d).Step > rotate.MaxStep) {
			err = fmt.Errorf("%v: want %v to %v", rot(d).Step, rotate.MinStep, rotate.MaxStep)
		}
	case "SEQUENCE_PORTS":
		p := rot(d)
		p.Lo, p.Hi, err = rotate.ParseRange(val)
	case "SEQUENCE_PROTOCOL":
		rot(d).Proto, err = l4.ParseProto(val)
	default:
		return errUnknown
	}
	return err
}

func spa(d *Door) *SPA {
	if d.SPA == nil {
		d.SPA = &SPA{Port: DefaultSPAPort, HMACDigest: "sha256", MaxAge: DefaultSPAMaxAge}
	}
	return d.SPA
}

func setSPA(d *Door, key, val string) error {
	var err error
	switch key {
	case "SPA":
		var on bool
		if on, err = ParseBool(val); err == nil {
			if on {
				spa(d)
			} else {
				d.SPA = nil
			}
		}
	case "SPA_PORT":
		spa(d).Port, err = l4.ParseNum(val)
	case "SPA_KEY":
		spa(d).Key = []byte(val)
	case "SPA_KEY_BASE64":
		spa(d).Key, err = spapkg.DecodeKey(val)
	case "SPA_HMAC_KEY":
		spa(d).HMACKey = []byte(val)
	case "SPA_HMAC_KEY_BASE64":
		spa(d).HMACKey, err = spapkg.DecodeKey(val)
	case "SPA_HMAC_DIGEST":
		spa(d).HMACDigest, err = spapkg.ParseDigest(val)
	case "SPA_MAX_AGE":
		spa(d).MaxAge, err = ParseSeconds(val)
		if err == nil && spa(d).MaxAge == 0 {
			err = fmt.Errorf("0 seconds would reject every packet")
		}
	case "SPA_ALLOW_NAT":
		spa(d).AllowNAT, err = ParseBool(val)
	case "SPA_ALLOW_COMMANDS":
		spa(d).AllowCommands, err = ParseBool(val)
	case "SPA_ALLOW_ANY_SOURCE":
		spa(d).AllowAnySource, err = ParseBool(val)
	case "SPA_MAX_TIMEOUT":
		spa(d).MaxClientTimeout, err = ParseSeconds(val)
	default:
		return errUnknown
	}
	return err
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
