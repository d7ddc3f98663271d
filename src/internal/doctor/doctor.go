// Package doctor answers "I knocked, why did nothing open?": `knockd
// doctor` checks the running configuration against the system — devices,
// firewall backend and rule order, knock ports dropped silently,
// forwarding, the clock, the mailer — and asks the running daemon for the
// last knock it saw per door. Each finding says in plain words what is
// wrong and how to fix it.
//
// The system is reached through System (files, programs, devices, the
// clock, the control socket), so the checks are tested with a fake; the
// real one is in system_linux.go.
package doctor

import (
	"context"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/mail"
)

// Level is how bad a finding is.
type Level int

// Levels: OK, a note (worth knowing, not an error) and a problem (a
// knock cannot work, or betrays itself).
const (
	OK Level = iota
	Note
	Problem
)

func (l Level) String() string {
	switch l {
	case Note:
		return "note"
	case Problem:
		return "problem"
	}
	return "ok"
}

// Finding is one result.
type Finding struct {
	Check string // device, firewall, rule order, knock ports, forwarding, clock, mail, daemon, last knock
	Level Level
	Text  string    // what was found, in plain words
	Fix   string    // what to do (problems and notes)
	_     [0]func() // not comparable: no equality function in the binary
}

// Report is every finding, in the order checked.
type Report struct {
	Findings []Finding
}

// Problems counts the problems.
func (r *Report) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == Problem {
			n++
		}
	}
	return n
}

func (r *Report) add(check string, l Level, text, fix string) {
	r.Findings = append(r.Findings, Finding{Check: check, Level: l, Text: text, Fix: fix})
}

// Link is a network device as the kernel has it.
type Link struct {
	Up, Running bool
	Addrs       []netip.Prefix
}

// File is what Stat tells of a file (after symlinks).
type File struct {
	Path     string // the resolved path
	Mode     fs.FileMode
	Uid, Gid uint32
	_        [0]func() // not comparable: no equality function in the binary
}

// Clock is the system clock and what the kernel knows of its sync.
type Clock struct {
	Now    time.Time
	Known  bool      // adjtimex answered
	Synced bool      // the kernel's clock is synchronised (no STA_UNSYNC)
	_      [0]func() // not comparable: no equality function in the binary
}

// System is what the checks read of the machine.
type System interface {
	// Link returns the device, ok false when there is none.
	Link(name string) (l Link, ok bool)
	ReadFile(path string) ([]byte, error)
	// Run runs a program and returns its standard output.
	Run(name string, args ...string) (string, error)
	LookPath(name string) (string, error)
	Stat(path string) (File, error)
	Clock() Clock
	// Daemon asks the running daemon at socket for its status (flat
	// form, see control.Status.Flat).
	Daemon(socket string) (map[string]string, error)
}

// Input is what the checks check: the compiled configuration, as the
// daemon compiles it from the same flags.
type Input struct {
	Set *door.Set
	// Config names the configuration for messages.
	Config string
	// MailerConfigs are the configuration files of sendmail programs
	// that have one, by program name (nil: msmtp's and ssmtp's).
	MailerConfigs map[string]string
}

// Run runs every check.
func Run(in Input, sys System) *Report {
	r := &Report{}
	c := &checker{in: in, sys: sys, r: r, devs: in.Set.Devices}
	c.daemon()
	if n, _ := strconv.Atoi(c.status["devices"]); n > 0 {
		c.devs = nil
		for i := 0; i < n && i < 64; i++ {
			c.devs = append(c.devs, c.status["device."+strconv.Itoa(i)+".name"])
		}
	}
	c.devices()
	c.firewall()
	c.forwarding()
	c.clock()
	c.mail()
	c.lastKnocks()
	return r
}

type checker struct {
	in     Input
	sys    System
	r      *Report
	status map[string]string // the daemon's flat status, nil when not running
	// devs are the capture devices: the running daemon's (the init
	// script gives it the devices of OpenWrt's networks with -i), else
	// the configuration's.
	devs []string
}

// doors are the compiled doors.
func (c *checker) doors() []*door.Door { return c.in.Set.Doors }

// devicesOf returns the capture devices a door listens on.
func (c *checker) devicesOf(d *door.Door) []string {
	if len(d.Devices) == 0 {
		return c.devs
	}
	var out []string
	for _, n := range d.Devices {
		for _, dev := range c.devs {
			if dev == n {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return c.devs
	}
	return out
}

func (c *checker) daemon() {
	sock := c.in.Set.Options.ControlSocket
	if sock == "" {
		c.r.add("daemon", Note, "no control socket (control_socket is empty): the last knocks cannot be asked",
			"set control_socket (default /var/run/knockd.sock) and restart knockd")
		return
	}
	st, err := c.sys.Daemon(sock)
	if err != nil {
		text := err.Error()
		if !strings.HasPrefix(text, "knockd is not running") {
			text = "cannot ask knockd: " + text
		}
		c.r.add("daemon", Problem, text,
			"start it (/etc/init.d/knockd start, or knockd -d -c "+c.in.Config+"); see its log for why it stopped")
		return
	}
	c.status = st
	text := "knockd " + st["version"] + " is running"
	if s, err := strconv.ParseInt(st["started"], 10, 64); err == nil && s > 0 {
		text += ", since " + time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05 UTC")
	}
	c.r.add("daemon", OK, text, "")
}

func (c *checker) devices() {
	for _, name := range c.devs {
		l, ok := c.sys.Link(name)
		switch {
		case !ok:
			c.r.add("device", Problem, name+": no such device: knockd waits for it and sees no knock until it appears",
				"name the WAN device in interface (ip -br link lists them), or bring "+name+" up")
		case !l.Up:
			c.r.add("device", Problem, name+": down: no knock arrives",
				"ip link set "+name+" up (or bring the connection up)")
		case len(l.Addrs) == 0:
			c.r.add("device", Problem, name+": up but has no address: knocks to the router's address cannot arrive",
				"check the connection of "+name+" (ip addr show "+name+")")
		default:
			var a []string
			for _, p := range l.Addrs {
				a = append(a, p.String())
			}
			lvl, text, fix := OK, name+": up, "+strings.Join(a, " "), ""
			if !l.Running {
				lvl, text, fix = Note, name+": up but no carrier (cable or link down), "+strings.Join(a, " "), "check the link of "+name
			}
			c.r.add("device", lvl, text, fix)
		}
	}
	for _, d := range c.doors() {
		for _, n := range d.Down {
			c.r.add("device", Note, "door "+d.Name+": network "+n+" is not up: the door does not listen there",
				"knockd is restarted with it when it comes up (ifup "+n+")")
		}
	}
}

// knockPorts returns the ports a door's knocks arrive on: its steps, its
// SPA port, or samples of a rotating knock's range.
func knockPorts(d *door.Door) []l4.Port {
	switch {
	case d.SPA != nil:
		return []l4.Port{{Proto: l4.UDP, Num: d.SPA.Port}}
	case d.Rotate != nil:
		p := d.Rotate
		return []l4.Port{{Proto: p.Proto, Num: p.Lo}, {Proto: p.Proto, Num: p.Lo + (p.Hi-p.Lo)/2}, {Proto: p.Proto, Num: p.Hi}}
	}
	var out []l4.Port
	for _, s := range d.Knock.Steps {
		if !containsPort(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsPort(ps []l4.Port, p l4.Port) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func (c *checker) forwarding() {
	v4, v6 := false, false
	for _, d := range c.doors() {
		for _, f := range d.Actions.Grant.Forward {
			if f.To.Addr().Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
	}
	for _, x := range []struct {
		need       bool
		path, name string
	}{{v4, "/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward"}, {v6, "/proc/sys/net/ipv6/conf/all/forwarding", "net.ipv6.conf.all.forwarding"}} {
		if !x.need {
			continue
		}
		b, err := c.sys.ReadFile(x.path)
		switch v := strings.TrimSpace(string(b)); {
		case err != nil:
			c.r.add("forwarding", Problem, x.name+": cannot be read: "+err.Error(), "")
		case v != "1":
			c.r.add("forwarding", Problem, x.name+" is "+v+": a forward door opens, but the router does not forward",
				"sysctl -w "+x.name+"=1 (and set it in /etc/sysctl.conf to keep it)")
		default:
			c.r.add("forwarding", OK, x.name+" is 1", "")
		}
	}
}

// minYear is a year before which the clock is certainly not set (a
// router without an RTC boots in 1970 or at its build date).
const minYear = 2025

func (c *checker) clock() {
	var timed []string
	for _, d := range c.doors() {
		if d.SPA != nil || d.Rotate != nil {
			timed = append(timed, d.Name)
		}
	}
	if len(timed) == 0 {
		return
	}
	who := "doors " + strings.Join(timed, ", ")
	if len(timed) == 1 {
		who = "door " + timed[0]
	}
	k := c.sys.Clock()
	fix := "enable NTP (OpenWrt: System → Time Synchronization, or uci set system.ntp.enabled=1; Debian: timedatectl set-ntp true)"
	switch {
	case k.Now.Year() < minYear:
		c.r.add("clock", Problem, "the clock says "+k.Now.UTC().Format("2006-01-02 15:04:05 UTC")+": not set, "+who+
			" compare times (SPA timestamps, rotating steps) and refuse every knock", fix)
	case k.Known && !k.Synced:
		c.r.add("clock", Note, "the kernel says the clock is not synchronised ("+k.Now.UTC().Format("2006-01-02 15:04:05 UTC")+
			"); "+who+" fail when it is off by more than their time window", fix)
	default:
		text := "the clock says " + k.Now.UTC().Format("2006-01-02 15:04:05 UTC")
		if k.Known {
			text += ", synchronised"
		}
		c.r.add("clock", OK, text, "")
	}
}

// mailerConfigs are the configuration files of sendmail programs that
// have one, by program name.
var mailerConfigs = map[string]string{"msmtp": "/etc/msmtprc", "ssmtp": "/etc/ssmtp/ssmtp.conf"}

func (c *checker) mail() {
	notify := false
	for _, d := range c.doors() {
		if len(d.Actions.Notify) > 0 {
			notify = true
		}
	}
	if !notify {
		return
	}
	o := c.in.Set.Options
	f, err := c.sys.Stat(o.Sendmail)
	if err != nil || f.Mode.IsDir() || f.Mode&0o111 == 0 {
		c.r.add("mail", Problem, "the mailer "+o.Sendmail+" is missing or not executable: no notification is sent",
			"install msmtp (opkg install msmtp / apt install msmtp-mta) or set sendmail to your mailer's path")
		return
	}
	c.r.add("mail", OK, "mailer "+o.Sendmail+" ("+f.Path+")", "")
	user, cred := "root", c.in.Set.SendmailUser
	if cred != nil {
		user = o.SendmailUser
	}
	base := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
	configs := c.in.MailerConfigs
	if configs == nil {
		configs = mailerConfigs
	}
	conf, ok := configs[base]
	if !ok {
		return
	}
	cf, err := c.sys.Stat(conf)
	switch {
	case err != nil:
		c.r.add("mail", Problem, base+"'s configuration "+conf+" is missing: the mailer cannot send", "write "+conf+" (the account, server and password)")
	case !readable(cf, cred):
		fix := "chgrp " + groupOf(cred) + " " + conf + " && chmod 0640 " + conf
		if cred == nil {
			fix = "chmod u+r " + conf
		}
		c.r.add("mail", Problem, conf+" (mode "+strconv.FormatUint(uint64(cf.Mode.Perm()), 8)+", owner "+
			strconv.Itoa(int(cf.Uid))+") is not readable by "+user+", who runs the mailer (sendmail_user): the mail fails",
			fix+", or set sendmail_user to a user who can read it")
	default:
		c.r.add("mail", OK, conf+" is readable by "+user, "")
	}
}

func groupOf(cred *syscall.Credential) string {
	if cred == nil {
		return "0"
	}
	return strconv.Itoa(int(cred.Gid))
}

// readable reports whether the user of cred (nil: root) may read f.
func readable(f File, cred *syscall.Credential) bool {
	if cred == nil || cred.Uid == 0 {
		return true
	}
	m := f.Mode.Perm()
	if f.Uid == cred.Uid {
		return m&0o400 != 0
	}
	inGroup := f.Gid == cred.Gid
	for _, g := range cred.Groups {
		inGroup = inGroup || g == f.Gid
	}
	if inGroup {
		return m&0o040 != 0
	}
	return m&0o004 != 0
}

func (c *checker) lastKnocks() {
	if c.status == nil {
		return
	}
	now := c.sys.Clock().Now
	n, _ := strconv.Atoi(c.status["doors"])
	for i := 0; i < n && i < 100000; i++ {
		p := "door." + strconv.Itoa(i) + "."
		name := c.status[p+"name"]
		t, _ := strconv.ParseInt(c.status[p+"last_time"], 10, 64)
		if t == 0 {
			ports, dev := "", "DEVICE"
			for _, d := range c.doors() {
				if d.Name == name {
					ports = portList(knockPorts(d))
					if devs := c.devicesOf(d); len(devs) > 0 {
						dev = devs[0]
					}
				}
			}
			c.r.add("last knock", Note, "door "+name+": no knock seen since knockd started",
				"knock again and watch: tcpdump -ni "+dev+" "+ports+" (nothing arriving: the knock is sent to the wrong address or port, or blocked upstream)")
			continue
		}
		ago := now.Sub(time.Unix(t, 0)).Round(time.Second)
		text := "door " + name + ": " + c.status[p+"last_what"] + ", from " + c.status[p+"last_source"] + ", " + ago.String() + " ago"
		c.r.add("last knock", OK, text, "")
	}
}

// portList is a tcpdump filter for ports: "tcp port 7000 or udp port 8000".
func portList(ps []l4.Port) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(p.Proto.String() + " port " + strconv.Itoa(int(p.Num)))
	}
	return "'" + b.String() + "'"
}

// SendTestMail sends a test mail to the address to through m, as the
// daemon's notifications go, and reports the outcome.
func SendTestMail(r *Report, set *door.Set, to string, m mail.Mailer) {
	addr, err := mail.ParseAddress(to)
	if err != nil {
		r.add("mail", Problem, "test mail: "+err.Error(), "give an address such as admin@example.org")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg := mail.Message{From: set.Options.MailFrom, To: []mail.Address{addr}, Subject: "knockd doctor: test mail",
		Body: "This is a test mail of knockd doctor: the door notifications reach you the same way.\n"}
	if err := m.Send(ctx, msg); err != nil {
		r.add("mail", Problem, "test mail to "+addr.Addr+" failed: "+err.Error(),
			"run the mailer by hand as sendmail_user ("+set.Options.Sendmail+" "+addr.Addr+") and read its error")
		return
	}
	r.add("mail", OK, "test mail to "+addr.Addr+" handed to "+set.Options.Sendmail+" (check the mailbox)", "")
}
