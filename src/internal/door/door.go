// Package door compiles a parsed configuration into the doors the daemon
// runs: immutable values holding the knock the matcher follows, the SPA
// verifier, the firewall grant, the wake targets and the mail recipients,
// each checked once. `knockd -k`, start-up and every reload compile
// through here, so what -k accepts is exactly what runs, and a door that
// changes (a one-time sequence used, a reload) is replaced whole, never
// edited.
package door

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
	"github.com/knockd-go/knockd-go/src/internal/match"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

// Kind is what opens a door.
type Kind int

// Kinds of door.
const (
	Knock    Kind = iota // a fixed knock sequence (or one-time sequences)
	SPA                  // one fwknop SPA packet
	Rotating             // a sequence derived from a secret and the time
)

func (k Kind) String() string {
	switch k {
	case SPA:
		return "spa"
	case Rotating:
		return "rotating"
	}
	return "knock"
}

// Door is one compiled door. It is never modified once compiled.
type Door struct {
	Name string
	Kind Kind
	// Knock is what the matcher follows: the steps of a Knock door (none
	// when a one-time door has used its last sequence), the flags, target,
	// timeouts and devices of every kind. SPA doors have no steps.
	Knock match.Door
	// OneTime is set for doors with One_Time_Sequences.
	OneTime *OneTime
	// SPA is set for SPA doors.
	SPA *SPADoor
	// Rotate is set for rotating knocks; Knock then has no steps, the
	// daemon derives them from the time.
	Rotate *rotate.Params
	// NotBefore, for a rotating knock, burns every step current at or
	// before it (the start of a daemon that could not read its journal:
	// a sequence seen before the start may have opened the door already).
	NotBefore time.Time
	// Devices names the capture devices the door listens on; empty means
	// all of them.
	Devices []string
	// Down are the networks of Devices that are not up: the configuration
	// lists them (interface), but -i gave them no device. The door does
	// not listen there (at all, when it names nothing else) until knockd
	// is restarted with them, as the init script does when one comes up.
	Down    []string
	Actions Actions

	conf *config.Door // where it was configured, for messages
}

// OneTime is a door's One_Time_Sequences file and the sequence in use.
type OneTime struct {
	File string
	Seq  config.OneTimeSeq
	// open opens File for reading and writing (Env.OpenOneTime).
	open func(path string) (*os.File, error)
}

// Actions are what a door does when it opens.
type Actions struct {
	start, stop, start6, stop6 string
	CmdTimeout                 time.Duration
	// Grant is what the door opens in the firewall for the knocker.
	Grant    grant.Spec
	Duration time.Duration // of the grant
	Wake     []Wake
	Notify   []mailaddr.Address
}

// Commands returns the start and stop commands for a knocker of the given
// family, with knockd's fallback from the _6 variants to the plain ones.
func (a *Actions) Commands(ipv6 bool) (start, stop string) {
	if ipv6 {
		return a.start6, a.stop6
	}
	return a.start, a.stop
}

// Any reports whether the door does anything besides its commands.
func (a *Actions) Any() bool {
	return !a.Grant.Empty() || len(a.Wake) > 0 || len(a.Notify) > 0
}

// Wake is one Wake-on-LAN target.
type Wake struct {
	Device   string
	MAC      net.HardwareAddr
	Password []byte // SecureOn, 0, 4 or 6 bytes
}

// AtCounter returns the door of a rotating knock for one time step: its
// knock is the step's sequence.
func (d *Door) AtCounter(counter uint64) *Door {
	n := *d
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return &n
	}
	n.Knock.Steps = d.Rotate.Sequence(counter)
	return &n
}

// Fresh reports whether step counter of a rotating knock may open the
// door: it began after NotBefore's step.
func (d *Door) Fresh(counter uint64) bool {
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return false
	}
	return d.NotBefore.IsZero() || counter > d.Rotate.Counter(d.NotBefore)
}

// Where returns the door's place in its configuration file: "file:line".
func (d *Door) Where() string {
	if d.conf == nil {
		return d.Name
	}
	return fmt.Sprintf("%s:%d", d.conf.File, d.conf.Line)
}

// Set is a compiled configuration.
type Set struct {
	Doors   []*Door
	Options config.Options
	// Devices are the devices to capture on, in order; a packet's device
	// index refers to this list.
	Devices []string
	// SendmailUser and CommandUser are who the sendmail program and door
	// commands run as; nil: root (as the daemon).
	SendmailUser, CommandUser *syscall.Credential
}

// Env is what compiling needs from the running daemon.
type Env struct {
	// Now is the clock of the SPA verifiers (time.Now when nil).
	Now func() time.Time
	// Replay returns the replay cache of an SPA door whose timestamp
	// window is window, kept across reloads; nil gives each door a new one.
	Replay func(door string, window time.Duration) *spa.ReplayCache
	// NotBefore refuses SPA packets stamped earlier and burns the steps
	// of rotating knocks current at or before it (the daemon's start,
	// when the replay journal did not survive a restart).
	NotBefore time.Time
	// Interfaces override the configuration's capture devices (-i): each
	// "device", or "network=device" to let doors name the device by its
	// OpenWrt network (the init script resolves wan and wan6 so).
	Interfaces []string
	// NoIPv6 ignores IPv6 (knockd -4).
	NoIPv6 bool
	// OpenOneTime opens a one_time_sequences file for reading and
	// writing (config.OpenOneTime when nil; the spawner's, for a daemon
	// that runs as a user who may not open it).
	OpenOneTime func(path string) (*os.File, error)
}

// Compile turns a parsed configuration into doors. Every error names the
// file, line, door and directive, as parse errors do.
func Compile(cfg *config.Config, env Env) (*Set, error) {
	if env.Now == nil {
		env.Now = time.Now
	}
	s := &Set{Options: cfg.Options}
	names, down, err := s.devices(cfg, env.Interfaces)
	if err != nil {
		return nil, err
	}
	var errs []error // every door's, not only the first
	mails, commands := false, false
	for _, c := range cfg.Doors {
		d, err := compileDoor(c, names, down, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Doors = append(s.Doors, d)
		mails = mails || len(d.Actions.Notify) > 0
		commands = commands || d.Actions.start != "" || d.Actions.start6 != "" || d.SPA != nil && d.SPA.AllowCommands
	}
	// A user is looked up only for a feature the configuration uses: a
	// router without "nobody" in /etc/passwd starts when nothing mails.
	if mails {
		if s.SendmailUser, err = user(cfg.Options.SendmailUser); err != nil {
			return nil, &config.Error{File: cfg.File, Field: "sendmail_user", Err: err}
		}
	}
	if commands {
		if s.CommandUser, err = user(cfg.Options.CommandUser); err != nil {
			return nil, &config.Error{File: cfg.File, Field: "command_user", Err: err}
		}
	}
	if err := config.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// user looks a user up; root is nil (run as the daemon).
func user(name string) (*syscall.Credential, error) {
	if name == "" || name == "root" {
		return nil, nil
	}
	return privs.LookupUser(name)
}

// MaxDevices is how many devices one daemon captures on.
const MaxDevices = 63

// noDevice is the device mask of a door whose networks are all down: a
// bit that no capture device has (MaxDevices leaves it free), so that the
// door matches nothing (0 would mean every device).
const noDevice = uint64(1) << MaxDevices

// devices sets s.Devices from -i, else the configuration, else the
// default, and returns the names doors may use: each device's own, and
// the network names given as network=device. With -i, down holds the
// configuration's interfaces that -i left out: the init script resolves
// the configured networks and leaves out those that are not up.
func (s *Set) devices(cfg *config.Config, override []string) (names map[string]int, down map[string]bool, err error) {
	list := override
	if len(list) == 0 {
		list = cfg.Options.Interfaces
	}
	if len(list) == 0 {
		list = []string{config.DefaultInterface}
	}
	names = map[string]int{}
	for _, it := range list {
		alias, dev, ok := strings.Cut(it, "=")
		if !ok {
			alias, dev = "", it
		} else if err := config.CheckDevice(alias); err != nil {
			return nil, nil, fmt.Errorf("interface: %q: %w", it, err)
		}
		if err := config.CheckDevice(dev); err != nil {
			return nil, nil, fmt.Errorf("interface: %w", err)
		}
		i, seen := names[dev]
		if !seen {
			if len(s.Devices) == MaxDevices {
				return nil, nil, fmt.Errorf("interface: more than %d devices", MaxDevices)
			}
			i = len(s.Devices)
			s.Devices = append(s.Devices, dev)
			names[dev] = i
		}
		if alias != "" {
			names[alias] = i
		}
	}
	if len(override) > 0 {
		for _, n := range cfg.Options.Interfaces {
			if _, ok := names[n]; !ok {
				if down == nil {
					down = map[string]bool{}
				}
				down[n] = true
			}
		}
	}
	return names, down, nil
}

// compileDoor compiles one door of the configuration for the devices devs
// (down: those not up). It is long because it checks and converts each of
// the door's settings, one short block each.
func compileDoor(c *config.Door, devs map[string]int, down map[string]bool, env Env) (*Door, error) {
	d := &Door{Name: c.Name, conf: c}
	for _, n := range c.Interfaces {
		i, ok := devs[n]
		if !ok && down[n] {
			d.Down = append(d.Down, n)
			d.Devices = append(d.Devices, n)
			continue
		}
		if !ok {
			known := make([]string, 0, len(devs))
			for k := range devs {
				known = append(known, k)
			}
			// sort.Slice, not slices.Sort: that one instantiates a sort for
			// strings (about 12 KB on MIPS) that nothing else in knockd needs.
			sort.Slice(known, func(i, j int) bool { return known[i] < known[j] })
			return nil, c.Errorf("INTERFACE", "%s is not a device the daemon listens on (%s)", n, strings.Join(known, ", "))
		}
		d.Knock.Devices |= 1 << uint(i)
		d.Devices = append(d.Devices, n)
	}
	if d.Knock.Devices == 0 && len(d.Down) > 0 {
		d.Knock.Devices = noDevice
	}
	d.Knock = match.Door{
		Devices:  d.Knock.Devices,
		Steps:    c.Sequence,
		Flags:    c.TCPFlags,
		Target:   c.Target,
		Timeout:  c.SeqTimeout,
		Strict:   c.StrictDupes,
		Cooldown: c.Cooldown,
	}
	a := &d.Actions
	a.start, a.stop = c.StartCommand, c.StopCommand
	a.start6, a.stop6 = a.start, a.stop
	if c.HasStart6 {
		a.start6 = c.StartCommand6
	}
	if c.HasStop6 {
		a.stop6 = c.StopCommand6
	}
	a.CmdTimeout = c.CmdTimeout
	a.Grant = grant.Spec{Open: c.Open, Forward: c.Forward}
	a.Duration = c.OpenDuration
	for _, m := range c.Wake {
		a.Wake = append(a.Wake, Wake{Device: c.WakeInterface, MAC: m, Password: c.WakePassword})
	}
	a.Notify = c.Notify
	for _, f := range c.Forward {
		if f.To.Addr().Is6() && env.NoIPv6 {
			return nil, c.Errorf("FORWARD", "%s: an IPv6 target with -4 (IPv6 ignored)", f)
		}
	}
	switch {
	case c.SPA != nil:
		d.Kind = SPA
		d.Knock.Steps = nil
		s, err := compileSPA(c, env)
		if err != nil {
			return nil, err
		}
		d.SPA = s
	case c.Rotate != nil:
		d.Kind = Rotating
		d.Knock.Steps = nil
		p := *c.Rotate
		d.Rotate = &p
		d.NotBefore = env.NotBefore
	case c.OneTimeFile != "":
		open := env.OpenOneTime
		if open == nil {
			open = config.OpenOneTime
		}
		seqs, err := config.ReadOneTimeWith(open, c.OneTimeFile)
		if err != nil {
			return nil, c.Errorf("ONE_TIME_SEQUENCES", "%v", err)
		}
		if len(seqs) == 0 {
			return nil, c.Errorf("ONE_TIME_SEQUENCES", "no more sequences left in %s", c.OneTimeFile)
		}
		d.OneTime = &OneTime{File: c.OneTimeFile, Seq: seqs[0], open: open}
		d.Knock.Steps = seqs[0].Steps
	}
	if d.Knock.Target.IsValid() && d.Knock.Target.Is6() && env.NoIPv6 {
		return nil, c.Errorf("TARGET", "%s is IPv6, which -4 ignores", d.Knock.Target)
	}
	return d, nil
}

// compileSPA makes the verifier of an SPA door. The client may ask for a
// timeout up to spa_max_timeout, which defaults to the door's duration.
func compileSPA(c *config.Door, env Env) (*SPADoor, error) {
	if !feature.SPA { // no SPA in this build (knockd_nospa): drops what follows
		return nil, c.Errorf("SPA", "%v", feature.Missing("SPA (fwknop)", "knockd_nospa"))
	}
	s := c.SPA
	maxT := s.MaxClientTimeout
	if maxT == 0 {
		maxT = c.OpenDuration
	}
	if maxT == 0 {
		maxT = c.CmdTimeout
	}
	p := spa.Policy{
		Keys:               spa.Keys{Rijndael: s.Key, HMAC: s.HMACKey, HMACDigest: s.HMACDigest},
		MaxAge:             s.MaxAge,
		NotBefore:          env.NotBefore,
		AllowAnySource:     s.AllowAnySource,
		RequireSourceMatch: true,
		MaxClientTimeout:   maxT,
		AllowCommands:      s.AllowCommands,
		AllowNAT:           s.AllowNAT && len(c.Forward) > 0,
	}
	p.AllowPorts = append(p.AllowPorts, c.Open...)
	for _, f := range c.Forward {
		p.AllowPorts = append(p.AllowPorts, f.Port)
		p.AllowNATTo = append(p.AllowNATTo, netip.PrefixFrom(f.To.Addr(), f.To.Addr().BitLen()))
	}
	var replay *spa.ReplayCache
	if env.Replay != nil {
		replay = env.Replay(c.Name, s.MaxAge)
	}
	v, err := spa.NewVerifier(p, env.Now, replay)
	if err != nil {
		key := "SPA"
		if ke, ok := err.(*spa.KeyError); ok {
			key = map[string]string{"Rijndael": "SPA_KEY", "HMAC": "SPA_HMAC_KEY", "HMACDigest": "SPA_HMAC_DIGEST"}[ke.Field]
		}
		return nil, c.Errorf(key, "%v", err)
	}
	return &SPADoor{Port: s.Port, AllowCommands: s.AllowCommands, v: v, open: c.Open, forward: c.Forward}, nil
}
