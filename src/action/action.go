// Package action performs a door's built-in router actions after a
// successful knock: firewall grants (open, forward), Wake-on-LAN and the
// notification mail. It implements daemon.Actions.
package action

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/firewall"
	"github.com/knockd-go/knockd-go/src/mail"
	"github.com/knockd-go/knockd-go/src/wake"
)

// Granter is the firewall side (firewall.Manager implements it).
type Granter interface {
	Grant(door string, src netip.Addr, s firewall.Spec, d time.Duration) (time.Time, error)
}

// Actions runs the actions. Nil fields disable the matching action (a door
// asking for it gets an error in its log and mail).
type Actions struct {
	Firewall Granter
	Waker    wake.Waker
	Mailer   mail.Mailer
	MailFrom string
	Log      func(format string, args ...any)
	// MailTimeout bounds one notification (default 30 s).
	MailTimeout time.Duration
}

var _ daemon.Actions = (*Actions)(nil)

// Spec converts a door's (or an SPA grant's) open and forward lists.
func Spec(open []config.Port, fwd []config.Forward) firewall.Spec {
	var s firewall.Spec
	for _, p := range open {
		s.Open = append(s.Open, firewall.Port{Proto: config.ProtoName(p.Proto), Port: p.Port})
	}
	for _, f := range fwd {
		s.Forward = append(s.Forward, firewall.Forward{Proto: config.ProtoName(f.Proto), Port: f.Port, To: f.To, Masquerade: f.Masquerade})
	}
	return s
}

// Do runs every action of door d for src. It returns when the firewall and
// wake actions are done; the mail is sent before returning too, bounded by
// MailTimeout (the daemon calls Do in a goroutine of its own).
func (a *Actions) Do(ctx context.Context, d *config.Door, src netip.Addr, at time.Time, g *daemon.Grant) {
	ip := src.String()
	var done, failed []string
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		failed = append(failed, msg)
		a.Log("%s: %s: error: %s", ip, d.Name, msg)
	}

	open, fwd, dur := d.Open, d.Forward, d.OpenDuration
	if g != nil {
		open, fwd = g.Open, g.Forward
		if g.Duration > 0 {
			dur = g.Duration
		}
	}
	if spec := Spec(open, fwd); !spec.Empty() {
		if a.Firewall == nil {
			fail("firewall disabled (firewall = none): cannot open %s", describe(open, fwd))
		} else if until, err := a.Firewall.Grant(d.Name, src, spec, dur); err != nil {
			fail("firewall: %v", err)
			if !until.IsZero() {
				done = append(done, fmt.Sprintf("opened %s until %s (partly)", describe(open, fwd), until.Format("15:04:05")))
			}
		} else {
			msg := fmt.Sprintf("opened %s until %s", describe(open, fwd), until.Format("15:04:05"))
			done = append(done, msg)
			a.Log("%s: %s: %s", ip, d.Name, msg)
		}
	}

	for _, mac := range d.Wake {
		if a.Waker == nil {
			fail("wake-on-LAN not available")
			break
		}
		if err := a.Waker.Wake(d.WakeInterface, mac, d.WakePassword); err != nil {
			fail("wake %s on %s: %v", mac, d.WakeInterface, err)
			continue
		}
		msg := fmt.Sprintf("sent a wake-on-LAN packet to %s on %s", mac, d.WakeInterface)
		done = append(done, msg)
		a.Log("%s: %s: %s", ip, d.Name, msg)
	}

	if start, _ := d.Commands(src.Is6()); start != "" {
		done = append(done, "ran: "+daemon.Expand(start, ip))
	}

	if len(d.Notify) == 0 {
		return
	}
	if a.Mailer == nil {
		a.Log("%s: %s: error: no mailer configured, notification not sent", ip, d.Name)
		return
	}
	subject, body := mail.Knock(d.Name, ip, at, done, failed)
	m := mail.Message{From: a.MailFrom, To: d.Notify, Subject: subject, Body: body, Date: at}
	timeout := a.MailTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	mctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := a.Mailer.Send(mctx, m); err != nil {
		a.Log("%s: %s: error: notification to %s failed: %v", ip, d.Name, strings.Join(d.Notify, ", "), err)
		return
	}
	a.Log("%s: %s: notified %s", ip, d.Name, strings.Join(d.Notify, ", "))
}

func describe(open []config.Port, fwd []config.Forward) string {
	var parts []string
	for _, p := range open {
		parts = append(parts, p.String())
	}
	for _, f := range fwd {
		parts = append(parts, "forward "+f.String())
	}
	return strings.Join(parts, ", ")
}
