// Package action performs what a door does after a success (door.Success),
// off the packet path: the start command, firewall grants (open,
// forward), Wake-on-LAN and the notification mail.
//
// Work per success is bounded whatever the rate at which an attacker
// replays a knock: a start command goes to the command runner, which
// refuses it at once when its slots are taken and starts the others in
// order (a spawner that answers slowly delays the commands and their
// door's other actions, never the packet path); successes queue for a
// fixed set of workers and are
// dropped (and counted) when the queue is full; one door holds at most
// half of a queue; a success for a door and address whose grant is
// already queued merges into it, and one whose grant is active for longer
// than it would add is not queued at all; mail goes through a queue and
// workers of its own (so a slow sendmail never delays a grant), at most
// one per address and door per MailEvery and MailPerHour per door, the
// next mail telling how many were left out; a wake target gets at most
// one magic packet per WakeEvery.
package action

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/mail"
	"github.com/knockd-go/knockd-go/src/internal/wake"
)

// Commander starts door commands (command.Runner implements it). Its
// methods never block: they return false with a command that is not run
// (none, refused), or true and call done later, from another goroutine,
// once it was started or failed.
type Commander interface {
	Queue(door, ip, start, stop string, timeout time.Duration, done func(command.Outcome)) (command.Outcome, bool)
	QueueSPA(door, ip, cmd string, done func(command.Outcome)) (command.Outcome, bool)
}

// Granter is the firewall side (firewall.Manager implements it).
type Granter interface {
	Grant(door string, src netip.Addr, s grant.Spec, d time.Duration) (time.Time, error)
}

// Options configure Actions. Zero values mean the defaults.
type Options struct {
	// Firewall makes grants; nil means firewall = none (a door asking for
	// one gets an error in its log and mail).
	Firewall Granter
	// Commands starts the start commands; nil runs none (their successes
	// go on to the other actions, with no command).
	Commands Commander
	Waker    wake.Waker
	Mailer   mail.Mailer
	MailFrom mail.Address
	Log      *logx.Logger
	// Limit bounds the log lines of each door (their key); nil: none.
	Limit *logx.Limiter
	Now   func() time.Time

	Workers     int           // firewall and wake workers (default 2)
	MailWorkers int           // mails sent at once (default 4)
	Queue       int           // successes waiting for a worker (default 64)
	MailQueue   int           // mails waiting (default 16)
	MailTimeout time.Duration // one mail (default 30 s)
	MailEvery   time.Duration // per address and door (default 10 min)
	MailPerHour int           // per door (default 10)
	WakeEvery   time.Duration // per wake target (default 10 s)
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.MailWorkers <= 0 {
		o.MailWorkers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 64
	}
	if o.MailQueue <= 0 {
		o.MailQueue = 16
	}
	if o.MailTimeout <= 0 {
		o.MailTimeout = 30 * time.Second
	}
	if o.MailEvery <= 0 {
		o.MailEvery = 10 * time.Minute
	}
	if o.MailPerHour <= 0 {
		o.MailPerHour = 10
	}
	if o.WakeEvery <= 0 {
		o.WakeEvery = 10 * time.Second
	}
}

// Stats are the counters of Actions.
type Stats struct {
	Done, Merged, Skipped, Dropped uint64 // successes: acted on, merged into a queued one, already granted, queue full
	Mails, MailsSuppressed         uint64 // mails sent (or tried), left out by the rate limits
	MailsDropped                   uint64 // mail queue full
	Queued                         int    // successes waiting now
}

// Actions runs the actions of successes in its workers. Do never blocks.
type Actions struct {
	o      Options
	jobs   chan *job
	mails  chan *mailJob
	cmdWG  sync.WaitGroup // successes waiting for their start command
	fwWG   sync.WaitGroup
	mailWG sync.WaitGroup

	mu         sync.Mutex
	closed     bool                   // no more successes
	mailClosed bool                   // no more mails
	pending    map[grantKey]*job      // queued, not yet taken by a worker
	perDoor    map[string]int         // queued jobs per door
	mailPer    map[string]int         // queued mails per door
	until      map[grantKey]time.Time // when the last grant made ends
	lastMail   map[grantKey]time.Time
	hour       map[string]*mailHour
	lastWake   map[string]time.Time // per door and MAC
	stats      Stats
}

type grantKey struct {
	door string
	src  netip.Addr
}

type mailHour struct {
	start      time.Time
	n          int
	suppressed int // since the last mail of the door
}

type job struct {
	s          door.Success
	cmd        command.Outcome // what became of s's start command
	mail       bool            // send the notification
	suppressed int             // notifications left out since the last one
}

type mailJob struct {
	door string
	m    mail.Message
	src  netip.Addr
}

// New starts the workers. Close stops them.
func New(o Options) *Actions {
	o.defaults()
	a := &Actions{o: o,
		jobs:     make(chan *job, o.Queue),
		mails:    make(chan *mailJob, o.MailQueue),
		pending:  map[grantKey]*job{},
		perDoor:  map[string]int{},
		mailPer:  map[string]int{},
		until:    map[grantKey]time.Time{},
		lastMail: map[grantKey]time.Time{},
		hour:     map[string]*mailHour{},
		lastWake: map[string]time.Time{},
	}
	for i := 0; i < o.Workers; i++ {
		a.fwWG.Add(1)
		go a.worker()
	}
	for i := 0; i < o.MailWorkers; i++ {
		a.mailWG.Add(1)
		go a.mailer()
	}
	return a
}

// printf logs a line of a door within its budget.
func (a *Actions) printf(door, format string, args ...any) {
	if a.o.Limit != nil {
		a.o.Limit.Printf(door, format, args...)
		return
	}
	a.o.Log.Printf(format, args...)
}

// Do queues the actions of s; it never blocks. It returns false when s
// was dropped: its queue was full (or its door already holds half of
// it), or Actions is closed. A success whose start command the runner
// queued goes on once the command started, and then calls s.Report; one
// with a command not run calls s.Report at once.
func (a *Actions) Do(s door.Success) bool {
	a.mu.Lock()
	if a.closed {
		a.stats.Dropped++
		a.mu.Unlock()
		return false
	}
	if s.Start == "" || a.o.Commands == nil {
		defer a.mu.Unlock()
		return a.queue(s, command.Outcome{})
	}
	a.cmdWG.Add(1) // before Close can wait for it
	a.mu.Unlock()
	done := func(out command.Outcome) {
		defer a.cmdWG.Done()
		a.mu.Lock()
		ok := a.queue(s, out) // the jobs stay open until cmdWG is done
		a.mu.Unlock()
		if s.Report != nil {
			s.Report(out.String(), !ok)
		}
	}
	ip := s.Src.String()
	var out command.Outcome
	var queued bool
	if s.SPA {
		out, queued = a.o.Commands.QueueSPA(s.Door.Name, ip, s.Start, done)
	} else {
		out, queued = a.o.Commands.Queue(s.Door.Name, ip, s.Start, s.Stop, s.Timeout, done)
	}
	if queued {
		return true
	}
	a.mu.Lock()
	ok := a.queue(s, out)
	a.mu.Unlock()
	a.cmdWG.Done()
	if s.Report != nil {
		s.Report(out.String(), false)
	}
	return ok
}

// queue queues the router actions and the mail of s, whose start command
// came out as out. a.mu is held.
func (a *Actions) queue(s door.Success, out command.Outcome) bool {
	d := s.Door
	if !d.Actions.Any() && s.Grant.Empty() {
		return true
	}
	k := grantKey{d.Name, s.Src}
	mailDue, suppressed := a.mailDue(d, k, s.At)
	if j := a.pending[k]; j != nil && j.s.Grant.String() == s.Grant.String() {
		// The same grant is queued: it will last from this success on.
		j.s.At, j.cmd = s.At, out
		j.s.Duration = max(j.s.Duration, s.Duration)
		if mailDue && !j.mail {
			j.mail, j.suppressed = true, suppressed
		}
		a.stats.Merged++
		return true
	}
	if !mailDue && !a.wakeDue(d, s.At, false) && a.granted(k, s) {
		a.stats.Skipped++
		return true
	}
	if a.perDoor[d.Name] >= max(cap(a.jobs)/2, 1) {
		a.dropped(d, mailDue)
		return false
	}
	j := &job{s: s, cmd: out, mail: mailDue, suppressed: suppressed}
	select {
	case a.jobs <- j:
	default:
		a.dropped(d, mailDue)
		return false
	}
	a.pending[k] = j
	a.perDoor[d.Name]++
	return true
}

// dropped counts a success dropped for a full queue. a.mu is held.
func (a *Actions) dropped(d *door.Door, mailDue bool) {
	a.stats.Dropped++
	if mailDue { // it was counted as sent: count it as left out instead
		if h := a.hour[d.Name]; h != nil {
			h.n--
			h.suppressed++
		}
	}
	a.printf(d.Name, "%s: error: too many successes queued, actions dropped", d.Name)
}

// granted reports whether s's grant is already active for longer than s
// would make it last (less one second, the least extension worth a
// firewall call). a.mu is held.
func (a *Actions) granted(k grantKey, s door.Success) bool {
	if s.Grant.Empty() {
		return len(s.Door.Actions.Wake) == 0 // nothing left to do
	}
	u, ok := a.until[k]
	return ok && s.At.Add(s.Duration).Sub(u) < time.Second
}

// mailDue applies the mail limits to a success of door d for k.src at t:
// at most one per MailEvery per address and door, MailPerHour per door.
// It returns whether to mail, and how many were left out before. a.mu is
// held.
func (a *Actions) mailDue(d *door.Door, k grantKey, t time.Time) (bool, int) {
	if len(d.Actions.Notify) == 0 {
		return false, 0
	}
	h := a.hour[d.Name]
	if h == nil || t.Sub(h.start) >= time.Hour || t.Before(h.start) {
		if h == nil {
			h = &mailHour{}
			a.hour[d.Name] = h
		}
		h.start, h.n = t, 0
	}
	if last, ok := a.lastMail[k]; (ok && t.Sub(last) < a.o.MailEvery && !t.Before(last)) || h.n >= a.o.MailPerHour {
		h.suppressed++
		a.stats.MailsSuppressed++
		return false, 0
	}
	if len(a.lastMail) > 4096 { // bounded: forget addresses that are long past
		for key, last := range a.lastMail {
			if t.Sub(last) >= a.o.MailEvery {
				delete(a.lastMail, key)
			}
		}
	}
	a.lastMail[k] = t
	h.n++
	n := h.suppressed
	h.suppressed = 0
	return true, n
}

// wakeDue reports whether a wake target of d has not been woken for
// WakeEvery; with mark it records t. a.mu is held.
func (a *Actions) wakeDue(d *door.Door, t time.Time, mark bool) bool {
	due := false
	for _, w := range d.Actions.Wake {
		k := d.Name + " " + w.MAC.String()
		if last, ok := a.lastWake[k]; !ok || t.Sub(last) >= a.o.WakeEvery || t.Before(last) {
			due = true
			if mark {
				a.lastWake[k] = t
			}
		}
	}
	return due
}

func (a *Actions) worker() {
	defer a.fwWG.Done()
	for j := range a.jobs {
		k := grantKey{j.s.Door.Name, j.s.Src}
		a.mu.Lock()
		if a.pending[k] == j {
			delete(a.pending, k)
		}
		a.perDoor[j.s.Door.Name]--
		a.mu.Unlock()
		a.run(j)
	}
}

// run performs one success's firewall and wake actions, then queues its
// mail.
func (a *Actions) run(j *job) {
	s := j.s
	d := s.Door
	ip := s.Src.String()
	var done, failed []string
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		failed = append(failed, msg)
		a.printf(d.Name, "%s: %s: error: %s", ip, d.Name, msg)
	}
	if !s.Grant.Empty() {
		switch until, err := a.grant(s); {
		case a.o.Firewall == nil:
			fail("firewall disabled (firewall = none): cannot open %s", s.Grant)
		case err != nil:
			fail("firewall: %v", err)
			if !until.IsZero() {
				done = append(done, fmt.Sprintf("opened %s until %s (partly)", s.Grant, until.Format("15:04:05")))
			}
		default:
			msg := fmt.Sprintf("opened %s until %s", s.Grant, until.Format("15:04:05"))
			done = append(done, msg)
			a.printf(d.Name, "%s: %s: %s", ip, d.Name, msg)
		}
	}
	a.mu.Lock()
	wake := a.wakeDue(d, s.At, true)
	a.mu.Unlock()
	for _, w := range d.Actions.Wake {
		if !wake {
			break
		}
		if a.o.Waker == nil {
			fail("wake-on-LAN not available")
			break
		}
		if err := a.o.Waker.Wake(w.Device, w.MAC, w.Password); err != nil {
			fail("wake %s on %s: %v", w.MAC, w.Device, err)
			continue
		}
		msg := fmt.Sprintf("sent a wake-on-LAN packet to %s on %s", w.MAC, w.Device)
		done = append(done, msg)
		a.printf(d.Name, "%s: %s: %s", ip, d.Name, msg)
	}
	switch j.cmd.State {
	case command.Started:
		done = append(done, j.cmd.String())
	case command.Refused, command.Failed:
		failed = append(failed, j.cmd.String())
	}
	if j.mail {
		a.queueMail(j, done, failed)
	}
}

// grant makes the firewall grant and records its end.
func (a *Actions) grant(s door.Success) (time.Time, error) {
	if a.o.Firewall == nil {
		return time.Time{}, nil
	}
	until, err := a.o.Firewall.Grant(s.Door.Name, s.Src, s.Grant, s.Duration)
	if !until.IsZero() {
		k := grantKey{s.Door.Name, s.Src}
		a.mu.Lock()
		if len(a.until) > 4096 {
			now := a.o.Now()
			for key, u := range a.until {
				if u.Before(now) {
					delete(a.until, key)
				}
			}
		}
		a.until[k] = until
		a.mu.Unlock()
	}
	return until, err
}

func (a *Actions) queueMail(j *job, done, failed []string) {
	d := j.s.Door
	if a.o.Mailer == nil || !feature.Mail {
		a.printf(d.Name, "%s: %s: error: no mailer configured, notification not sent", j.s.Src, d.Name)
		return
	}
	if j.suppressed > 0 {
		done = append(done, fmt.Sprintf("(%d earlier notifications of this door were not sent: at most one per address every %v and %d an hour)",
			j.suppressed, a.o.MailEvery, a.o.MailPerHour))
	}
	subject, body := mail.Knock(d.Name, j.s.Src.String(), j.s.At, done, failed)
	mj := &mailJob{door: d.Name, src: j.s.Src,
		m: mail.Message{From: a.o.MailFrom, To: d.Actions.Notify, Subject: subject, Body: body, Date: j.s.At, Door: d.Name, Source: j.s.Src.String()}}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mailClosed || a.mailPer[d.Name] >= max(cap(a.mails)/2, 1) {
		a.stats.MailsDropped++
		return
	}
	select {
	case a.mails <- mj:
		a.mailPer[d.Name]++
	default:
		a.stats.MailsDropped++
	}
}

func (a *Actions) mailer() {
	defer a.mailWG.Done()
	for mj := range a.mails {
		a.mu.Lock()
		a.mailPer[mj.door]--
		a.stats.Mails++
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), a.o.MailTimeout)
		err := a.o.Mailer.Send(ctx, mj.m)
		cancel()
		to := joinAddresses(mj.m.To)
		if err != nil {
			a.printf(mj.door, "%s: %s: error: notification to %s failed: %v", mj.src, mj.door, to, err)
			continue
		}
		a.printf(mj.door, "%s: %s: notified %s", mj.src, mj.door, to)
	}
}

// Forget drops what Actions knows of the grant of door for src (revoked):
// the next success makes it again.
func (a *Actions) Forget(door string, src netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.until, grantKey{door, src})
}

// Stats returns the counters.
func (a *Actions) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Queued = len(a.jobs)
	return s
}

// Close stops taking successes, lets the workers finish what is queued
// (start commands and mails included) until ctx ends, and returns. Work
// left when ctx ends is abandoned with the goroutines that hold it.
func (a *Actions) Close(ctx context.Context) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.cmdWG.Wait() // no start command left to queue its job
		close(a.jobs)
		a.fwWG.Wait() // no worker can queue a mail any more
		a.mu.Lock()
		a.mailClosed = true
		close(a.mails)
		a.mu.Unlock()
		a.mailWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func joinAddresses(as []mail.Address) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s
}
