package spawn

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Kind is what a request asks the spawner to run.
type Kind uint8

// Kinds of requests.
const (
	DoorStart   Kind = 1 + iota // the door's start command for the address
	DoorStop                    // the stop command pending for the door and address
	DoorCommand                 // an SPA client's command, on a door that allows them
	Notify                      // the door's notification (the sendmail program)
	lastKind    = Notify
)

func (k Kind) String() string {
	switch k {
	case DoorStart:
		return "start command"
	case DoorStop:
		return "stop command"
	case DoorCommand:
		return "SPA command"
	case Notify:
		return "notification"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Request names a child by what it is for: the spawner (a monitor, not a
// proxy) builds its command line, environment and user from its own
// Policy. Direct ignores it and runs the Cmd it is given.
type Request struct {
	Kind Kind
	Door string
	Addr string // the knocker's address, as netip.Addr.String gives it
	// Command is an SPA client's command (DoorCommand), else empty.
	Command string
}

// Policy is what the spawner runs: built from the configuration the
// spawner reads itself, at its start and on every reload.
type Policy struct {
	Doors map[string]DoorPolicy
	// CommandUser runs door commands (nil: root, knockd's way).
	CommandUser *syscall.Credential
	// Sendmail is the sendmail program and the arguments before -i (the
	// envelope sender); SendmailUser runs it (nil: root's uid without
	// any capability).
	Sendmail     []string
	SendmailUser *syscall.Credential
	// Journal keeps the pending stop commands across restarts ("": none).
	Journal string
	// Files are what the daemon may have the spawner open for it.
	Files Files
}

// DoorPolicy is what one door may have run.
type DoorPolicy struct {
	// Start, Stop and their IPv6 variants, with %IP% in them.
	Start, Stop, Start6, Stop6 string
	Timeout                    time.Duration // cmd_timeout
	AllowCommands              bool          // SPA command mode
	Notify                     []string      // recipients
}

// MaxCommand bounds an SPA client's command.
const MaxCommand = 1024

// Expand replaces every %IP% in cmd with ip, as knockd does.
func Expand(cmd, ip string) string { return strings.ReplaceAll(cmd, "%IP%", ip) }

// checkAddr returns a as an address, refusing anything but the canonical
// text of an IPv4 or IPv6 address without a zone: it goes into a shell
// command line.
func checkAddr(a string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Zone() != "" || ip.String() != a || ip.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an address", a)
	}
	return ip, nil
}

// errRefused marks a request the policy does not allow.
var errRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRefused, fmt.Sprintf(format, args...))
}

// build returns the child a request asks for, or why the policy refuses
// it. For DoorStart it also returns the stop command that the start
// promises (with the address in it; "" for none) and when it is due.
func (p *Policy) build(r Request, now time.Time, env []string) (c Cmd, stop string, due time.Time, err error) {
	d, ok := p.Doors[r.Door]
	if !ok {
		return Cmd{}, "", time.Time{}, refuse("no door %q", r.Door)
	}
	ip, err := checkAddr(r.Addr)
	if err != nil {
		return Cmd{}, "", time.Time{}, refuse("door %s: %v", r.Door, err)
	}
	if r.Kind != DoorCommand && r.Command != "" {
		return Cmd{}, "", time.Time{}, refuse("door %s: a %s takes no command line", r.Door, r.Kind)
	}
	start, stop := d.Start, d.Stop
	if ip.Is6() {
		start, stop = d.Start6, d.Stop6
	}
	var line string
	switch r.Kind {
	case DoorStart:
		if start == "" {
			return Cmd{}, "", time.Time{}, refuse("door %s has no start command", r.Door)
		}
		line = Expand(start, r.Addr)
		if stop != "" {
			stop, due = Expand(stop, r.Addr), now.Add(d.Timeout)
		}
	case DoorCommand:
		if !d.AllowCommands {
			return Cmd{}, "", time.Time{}, refuse("door %s does not allow SPA commands", r.Door)
		}
		if r.Command == "" || len(r.Command) > MaxCommand || strings.ContainsAny(r.Command, "\x00\n\r") {
			return Cmd{}, "", time.Time{}, refuse("door %s: bad SPA command", r.Door)
		}
		line = Expand(r.Command, r.Addr)
	case Notify:
		if len(d.Notify) == 0 || len(p.Sendmail) == 0 {
			return Cmd{}, "", time.Time{}, refuse("door %s has no notify", r.Door)
		}
		args := append(append(append([]string{}, p.Sendmail...), "-i"), d.Notify...)
		c = Cmd{Path: args[0], Args: args, Env: env, Cred: p.SendmailUser, NoNewPrivs: p.SendmailUser != nil, NoCaps: p.SendmailUser == nil}
		return c, "", time.Time{}, nil
	default:
		// DoorStop is the journal's: see server.stop.
		return Cmd{}, "", time.Time{}, refuse("%s", r.Kind)
	}
	return p.command(line, env), stop, due, nil
}

// command returns a door command line as the command user runs it.
func (p *Policy) command(line string, env []string) Cmd {
	c := CommandLine("/bin/sh", line)
	c.Env, c.Cred, c.NoNewPrivs = env, p.CommandUser, p.CommandUser != nil
	return c
}

// CommandLine returns the process for a door command. Like knockd it
// runs `/bin/sh -c cmd`; a command made only of plain words (no quotes,
// variables, redirections or other shell syntax) means the same without
// a shell, so it is executed directly, saving a fork and exec per knock.
func CommandLine(shell, cmd string) Cmd {
	if Plain(cmd) {
		f := strings.Fields(cmd)
		if strings.HasPrefix(f[0], "/") {
			return Cmd{Path: f[0], Args: f}
		}
		if p, err := exec.LookPath(f[0]); err == nil {
			return Cmd{Path: p, Args: f}
		}
	}
	return Cmd{Path: shell, Args: []string{shell, "-c", cmd}}
}

// Plain reports whether cmd contains nothing a shell would interpret
// besides splitting words on blanks.
func Plain(cmd string) bool {
	if strings.TrimSpace(cmd) == "" {
		return false
	}
	for _, r := range cmd {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" \t/._-+:,@%=", r):
		default:
			return false
		}
	}
	// A leading VAR=value is an assignment in sh.
	f := strings.Fields(cmd)
	return !strings.Contains(f[0], "=")
}
