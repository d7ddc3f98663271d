package action

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/mail"
	"github.com/knockd-go/knockd-go/src/internal/mail/mailtest"
	"github.com/knockd-go/knockd-go/src/internal/wake/waketest"
)

type fakeGranter struct {
	mu    sync.Mutex
	calls []string
	err   error
	block chan struct{} // when set, Grant waits on it
}

func (f *fakeGranter) Grant(door string, src netip.Addr, s grant.Spec, d time.Duration) (time.Time, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %v %v", door, src, s, d))
	if f.err != nil {
		return time.Time{}, f.err
	}
	return time.Unix(1700000000, 0).Add(d), nil
}

func (f *fakeGranter) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// doors compiles a configuration.
func doors(t *testing.T, conf string) []*door.Door {
	t.Helper()
	c, err := config.Parse("test.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	set, err := door.Compile(c, door.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return set.Doors
}

// success is a success of d as the packet path hands it over.
func success(d *door.Door, src string, at time.Time) door.Success {
	s := door.Success{Door: d, Src: netip.MustParseAddr(src), At: at, Grant: d.Actions.Grant, Duration: d.Actions.Duration,
		Timeout: d.Actions.CmdTimeout}
	s.Start, s.Stop = d.Actions.Commands(s.Src.Is6())
	return s
}

// fixedCommander starts no command: every start comes out as out, told
// from another goroutine as a runner tells it.
type fixedCommander struct{ out command.Outcome }

func (f fixedCommander) Queue(door, ip, start, stop string, timeout time.Duration, done func(command.Outcome)) (command.Outcome, bool) {
	go done(f.out)
	return command.Outcome{}, true
}

func (f fixedCommander) QueueSPA(door, ip, cmd string, done func(command.Outcome)) (command.Outcome, bool) {
	return f.Queue(door, ip, cmd, "", 0, done)
}

func closeAll(a *Actions) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.Close(ctx)
}

func TestDoAllActions(t *testing.T) {
	d := doors(t, `[vpn]
  sequence = 1,2
  forward = tcp/1723 -> 192.168.1.51:1723
  open = udp/1194
  duration = 20
  wake = 00:11:22:33:44:55
  wake_interface = br-lan
  notify = admin@example.com
  command = logger %IP%
`)[0]
	fw := &fakeGranter{}
	wk := &waketest.Recorder{}
	ml := &mailtest.Recorder{}
	log, rec := logxtest.NewRecorder(false)
	from, _ := mail.ParseAddress("knockd@router")
	cmd := fixedCommander{command.Outcome{Cmd: "logger 203.0.113.7", State: command.Started}}
	a := New(Options{Firewall: fw, Commands: cmd, Waker: wk, Mailer: ml, MailFrom: from, Log: log})
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := success(d, "203.0.113.7", at)
	if !a.Do(s) {
		t.Fatal("Do refused")
	}
	closeAll(a)

	if len(fw.calls) != 1 || !strings.Contains(fw.calls[0], "vpn 203.0.113.7") || !strings.Contains(fw.calls[0], "20s") ||
		!strings.Contains(fw.calls[0], "1723") || !strings.Contains(fw.calls[0], "1194") {
		t.Errorf("firewall calls: %q", fw.calls)
	}
	calls := wk.Calls()
	if len(calls) != 1 || calls[0].Ifname != "br-lan" || calls[0].MAC.String() != "00:11:22:33:44:55" {
		t.Errorf("wake calls: %+v", calls)
	}
	msgs := ml.Calls()
	if len(msgs) != 1 {
		t.Fatalf("%d mails", len(msgs))
	}
	m := msgs[0]
	for _, want := range []string{"forward tcp/1723->192.168.1.51:1723", "udp/1194", "wake-on-LAN packet to 00:11:22:33:44:55", "started: logger 203.0.113.7"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.From.Addr != "knockd@router" || m.To[0].Addr != "admin@example.com" || !strings.Contains(m.Subject, `"vpn"`) || !m.Date.Equal(at) {
		t.Errorf("mail headers: %+v", m)
	}
	if !rec.Has("203.0.113.7: vpn: opened udp/1194, forward tcp/1723->192.168.1.51:1723 until") ||
		!rec.Has("203.0.113.7: vpn: notified admin@example.com") {
		t.Errorf("log: %q", rec.Lines())
	}
}

// TestMailSaysWhatHappened: a refused or failed command is a failure in
// the mail, never "ran".
func TestMailSaysWhatHappened(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  notify = root@localhost\n  command = /bin/true\n")[0]
	for _, tt := range []struct {
		out  command.Outcome
		want string
	}{
		{command.Outcome{Cmd: "/bin/true", State: command.Refused, Err: command.ErrBusy}, "not run (too many commands running): /bin/true"},
		{command.Outcome{Cmd: "/bin/true", State: command.Failed, Err: errors.New("fork/exec: no such file")}, "failed to start: /bin/true: fork/exec: no such file"},
	} {
		ml := &mailtest.Recorder{}
		a := New(Options{Mailer: ml, Commands: fixedCommander{tt.out}, Log: logx.Discard()})
		a.Do(success(d, "192.0.2.9", time.Now()))
		closeAll(a)
		msgs := ml.Calls()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "Failures:\n  - "+tt.want) || strings.Contains(msgs[0].Body, "ran:") ||
			!strings.Contains(msgs[0].Subject, "(1 action failed)") {
			t.Fatalf("mail for %v: %+v", tt.out.State, msgs)
		}
	}
}

func TestFailuresAreMailedNotFatal(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  open = tcp/22\n  wake = 00:11:22:33:44:55\n  notify = root@localhost\n")[0]
	fw := &fakeGranter{err: errors.New("iptables: exit status 4")}
	wk := &waketest.Recorder{Err: errors.New("no such device br-lan")}
	ml := &mailtest.Recorder{}
	log, rec := logxtest.NewRecorder(false)
	a := New(Options{Firewall: fw, Waker: wk, Mailer: ml, Log: log})
	a.Do(success(d, "2001:db8::7", time.Now()))
	closeAll(a)
	msgs := ml.Calls()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "2 actions failed") ||
		!strings.Contains(msgs[0].Body, "iptables: exit status 4") || !strings.Contains(msgs[0].Body, "no such device") {
		t.Fatalf("failures not reported in the mail: %+v", msgs)
	}
	if !rec.Has("2001:db8::7: d: error: firewall: iptables: exit status 4") {
		t.Errorf("log: %q", rec.Lines())
	}
}

func TestMailFailureLogged(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  wake = 00:11:22:33:44:55\n  notify = root@localhost\n")[0]
	ml := &mailtest.Recorder{Err: errors.New("sendmail: exit status 1")}
	log, rec := logxtest.NewRecorder(false)
	a := New(Options{Waker: &waketest.Recorder{}, Mailer: ml, Log: log})
	a.Do(success(d, "192.0.2.9", time.Now()))
	closeAll(a)
	if !rec.Has("notification to root@localhost failed: sendmail: exit status 1") {
		t.Fatalf("log: %q", rec.Lines())
	}
}

func TestNoFirewall(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  open = tcp/22\n")[0]
	log, rec := logxtest.NewRecorder(false)
	a := New(Options{Log: log})
	a.Do(success(d, "192.0.2.9", time.Now()))
	closeAll(a)
	if !rec.Has("firewall disabled (firewall = none): cannot open tcp/22") {
		t.Fatalf("log: %q", rec.Lines())
	}
}

func TestSPAGrantOverridesDoor(t *testing.T) {
	d := doors(t, "[d]\n  spa = yes\n  spa_key = k\n  spa_hmac_key = h\n  open = tcp/22, tcp/443\n  duration = 30\n")[0]
	fw := &fakeGranter{}
	a := New(Options{Firewall: fw, Log: logx.Discard()})
	s := success(d, "192.0.2.9", time.Now())
	s.Grant = grant.Spec{Open: d.Actions.Grant.Open[:1]}
	s.Duration = 7 * time.Second
	a.Do(s)
	closeAll(a)
	if len(fw.calls) != 1 || strings.Contains(fw.calls[0], "443") || !strings.Contains(fw.calls[0], "7s") {
		t.Fatalf("SPA grant not used: %q", fw.calls)
	}
}

// TestStormIsBounded: one address completing a door 10,000 times makes a
// bounded number of firewall calls and mails; successes beyond the queue
// are dropped and counted; another door's success still goes through.
func TestStormIsBounded(t *testing.T) {
	ds := doors(t, "[storm]\n  sequence = 1\n  open = tcp/22\n  duration = 30\n  notify = root@localhost\n"+
		"[other]\n  sequence = 2\n  open = tcp/23\n  duration = 30\n")
	storm, other := ds[0], ds[1]
	fw := &fakeGranter{block: make(chan struct{})}
	ml := &mailtest.Recorder{}
	log, rec := logxtest.NewRecorder(false)
	now := time.Unix(1800000000, 0)
	a := New(Options{Firewall: fw, Mailer: ml, Log: log, Limit: logx.NewLimiter(log, 3, 20, func() time.Time { return now }),
		Queue: 8, Workers: 1, Now: func() time.Time { return now }})
	for i := 0; i < 10000; i++ {
		a.Do(success(storm, "198.51.100.7", now))
	}
	// One job is with the (blocked) worker, the rest merged into one
	// queued job: the storm holds one slot of the queue, not half.
	if st := a.Stats(); st.Queued > 1 || st.Merged < 9998 {
		t.Fatalf("after the storm: %+v", st)
	}
	// Other sources of the same door fill at most half the queue.
	for i := 0; i < 100; i++ {
		a.Do(success(storm, fmt.Sprintf("198.51.100.%d", 100+i), now))
	}
	if !a.Do(success(other, "203.0.113.9", now)) {
		t.Fatal("another door's success was dropped")
	}
	st := a.Stats()
	if st.Dropped == 0 || st.Queued > 8 {
		t.Fatalf("queue not bounded: %+v", st)
	}
	close(fw.block)
	closeAll(a)
	if n := fw.n(); n > 8 {
		t.Fatalf("%d firewall calls for the storm", n)
	}
	// Mails: one per address (each new address is due), at most 10 an hour.
	if n := len(ml.Calls()); n > 10 {
		t.Fatalf("%d mails", n)
	}
	if n := len(rec.Lines()); n > 40 {
		t.Fatalf("%d log lines", n)
	}
}

// TestActiveGrantNotRepeated: a success for a grant active for longer
// than it would add costs no firewall call.
func TestActiveGrantNotRepeated(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  open = tcp/22\n  duration = 30\n")[0]
	fw := &fakeGranter{}
	now := time.Unix(1700000000, 0)
	a := New(Options{Firewall: fw, Log: logx.Discard(), Now: func() time.Time { return now }})
	defer closeAll(a)
	a.Do(success(d, "198.51.100.7", now))
	deadline := time.Now().Add(5 * time.Second)
	for fw.n() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	// The fake grants until 1700000000+30s; a success 0.5 s later would
	// extend it by less than a second.
	a.Do(success(d, "198.51.100.7", now.Add(500*time.Millisecond)))
	if st := a.Stats(); st.Skipped != 1 {
		t.Fatalf("repeat within a second not skipped: %+v", st)
	}
	a.Do(success(d, "198.51.100.7", now.Add(5*time.Second)))
	closeAll(a)
	if n := fw.n(); n != 2 {
		t.Fatalf("%d firewall calls, want 2 (the first, and the extension of 5 s)", n)
	}
}

// TestMailLimits: at most one mail per address and door per MailEvery, at
// most MailPerHour per door, and the next mail says how many were left out.
func TestMailLimits(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  notify = root@localhost\n  command = true\n")[0]
	ml := &mailtest.Recorder{}
	a := New(Options{Mailer: ml, Log: logx.Discard(), MailEvery: 10 * time.Minute, MailPerHour: 3})
	t0 := time.Unix(1700000000, 0)
	// Each success waits for the last to be taken: minutes pass between
	// them on the fake clock, not the milliseconds a queued one waits.
	do := func(src string, after time.Duration) { waitIdle(t, a); a.Do(success(d, src, t0.Add(after))) }
	do("198.51.100.1", 0)
	do("198.51.100.1", time.Minute)   // same address: left out
	do("198.51.100.2", 2*time.Minute) // another address: sent
	do("198.51.100.3", 3*time.Minute) // third of the hour
	do("198.51.100.4", 4*time.Minute) // fourth: left out
	do("198.51.100.1", 61*time.Minute)
	closeAll(a)
	msgs := ml.Calls()
	if len(msgs) != 4 {
		t.Fatalf("%d mails, want 4", len(msgs))
	}
	// Each mail counts what was left out since the one before. The mail
	// workers send in any order: each mail is found by its address and
	// time.
	for _, w := range []struct {
		src   string
		after time.Duration
		want  string
	}{
		{"198.51.100.1", 0, ""},
		{"198.51.100.2", 2 * time.Minute, "(1 earlier notifications"},
		{"198.51.100.3", 3 * time.Minute, ""},
		{"198.51.100.1", 61 * time.Minute, "(1 earlier notifications"},
	} {
		var body string
		for _, m := range msgs {
			if strings.Contains(m.Body, "Address: "+w.src+"\n") && strings.Contains(m.Body, "Time:    "+t0.Add(w.after).UTC().String()) {
				body = m.Body
			}
		}
		if body == "" {
			t.Fatalf("no mail for %s at +%v among:\n%v", w.src, w.after, msgs)
		}
		if got := strings.Contains(body, "earlier notifications"); got != (w.want != "") || !strings.Contains(body, w.want) {
			t.Fatalf("the mail for %s at +%v does not count what was left out (want %q):\n%s", w.src, w.after, w.want, body)
		}
	}
	if st := a.Stats(); st.MailsSuppressed != 2 || st.Mails != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSlowMailDoesNotDelayGrants: mails have workers of their own.
func TestSlowMailDoesNotDelayGrants(t *testing.T) {
	ds := doors(t, "[m]\n  sequence = 1\n  notify = root@localhost\n  open = tcp/25\n[g]\n  sequence = 2\n  open = tcp/22\n")
	release := make(chan struct{})
	fw := &fakeGranter{}
	a := New(Options{Firewall: fw, Mailer: blockingMailer{release}, Log: logx.Discard(), MailWorkers: 1})
	for i := 0; i < 50; i++ {
		a.Do(success(ds[0], fmt.Sprintf("198.51.100.%d", i), time.Now()))
	}
	a.Do(success(ds[1], "203.0.113.1", time.Now()))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		fw.mu.Lock()
		found := strings.Contains(strings.Join(fw.calls, "\n"), "g 203.0.113.1")
		fw.mu.Unlock()
		if found {
			close(release)
			closeAll(a)
			return
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	t.Fatal("a grant waited for a mail")
}

type blockingMailer struct{ release chan struct{} }

func (b blockingMailer) Send(ctx context.Context, m mail.Message) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

// TestWakeLimited: one magic packet per target per WakeEvery.
func TestWakeLimited(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  wake = 00:11:22:33:44:55\n")[0]
	wk := &waketest.Recorder{}
	a := New(Options{Waker: wk, Log: logx.Discard()})
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 100; i++ {
		waitIdle(t, a)
		a.Do(success(d, "198.51.100.1", t0.Add(time.Duration(i)*10*time.Millisecond)))
	}
	waitIdle(t, a)
	a.Do(success(d, "198.51.100.1", t0.Add(11*time.Second)))
	closeAll(a)
	if n := len(wk.Calls()); n != 2 {
		t.Fatalf("%d magic packets, want 2", n)
	}
}

// waitIdle waits until no success is queued.
func waitIdle(t *testing.T, a *Actions) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("queue did not drain")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClosedDrops(t *testing.T) {
	d := doors(t, "[d]\n  sequence = 1\n  open = tcp/22\n")[0]
	a := New(Options{Firewall: &fakeGranter{}, Log: logx.Discard()})
	closeAll(a)
	closeAll(a) // twice is fine
	if a.Do(success(d, "198.51.100.1", time.Now())) {
		t.Fatal("Do after Close accepted")
	}
}

// heldCommander holds every start command until the test calls its done
// functions: a spawner that does not answer. It refuses the commands of
// door "busy" at once.
type heldCommander struct {
	mu     sync.Mutex
	queued []string
	done   []func(command.Outcome)
}

func (h *heldCommander) Queue(door, ip, start, stop string, timeout time.Duration, done func(command.Outcome)) (command.Outcome, bool) {
	out := command.Outcome{Cmd: start + " " + ip}
	if door == "busy" {
		out.State, out.Err = command.Refused, command.ErrBusy
		return out, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queued = append(h.queued, fmt.Sprintf("%s %s: %s, then %s after %v", door, ip, start, stop, timeout))
	h.done = append(h.done, func(command.Outcome) { out.State = command.Started; done(out) })
	return command.Outcome{}, true
}

func (h *heldCommander) QueueSPA(door, ip, cmd string, done func(command.Outcome)) (command.Outcome, bool) {
	return h.Queue(door, ip, cmd, "", 0, done)
}

// TestCommandThenActions: Do does not wait for a start command; the
// command goes to the runner with its stop command and timeout, and the
// success's grant and mail wait for its outcome, which the mail tells and
// Report gets. A command refused at once is reported at once, and its
// grant goes on.
func TestCommandThenActions(t *testing.T) {
	ds := doors(t, `[d]
  sequence = 1
  open = tcp/22
  notify = root@localhost
  start_command = start %IP%
  stop_command = stop %IP%
  cmd_timeout = 7
[busy]
  sequence = 2
  open = tcp/23
  command = true
`)
	h := &heldCommander{}
	fw := &fakeGranter{}
	ml := &mailtest.Recorder{}
	a := New(Options{Firewall: fw, Commands: h, Mailer: ml, Log: logx.Discard()})
	var mu sync.Mutex
	var reports []string
	report := func(s door.Success) door.Success {
		s.Report = func(what string, dropped bool) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, fmt.Sprintf("%s %s: %s dropped=%v", s.Door.Name, s.Src, what, dropped))
		}
		return s
	}
	if !a.Do(report(success(ds[1], "203.0.113.9", time.Now()))) {
		t.Fatal("Do dropped the success of the busy door")
	}
	mu.Lock()
	if len(reports) != 1 || reports[0] != "busy 203.0.113.9: not run (too many commands running): true 203.0.113.9 dropped=false" {
		t.Fatalf("reports: %q", reports)
	}
	mu.Unlock()
	for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
		if !a.Do(report(success(ds[0], ip, time.Now()))) {
			t.Fatal("Do dropped a success")
		}
	}
	// The busy door's grant: a worker takes it from the queue (waitIdle)
	// before it calls the firewall, so wait for the call itself.
	waitIdle(t, a)
	for deadline := time.Now().Add(5 * time.Second); fw.n() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := fw.n(); n != 1 {
		t.Fatalf("%d grants before the commands started, want the busy door's", n)
	}
	h.mu.Lock()
	if want := []string{"d 198.51.100.1: start %IP%, then stop %IP% after 7s", "d 198.51.100.2: start %IP%, then stop %IP% after 7s"}; !slices.Equal(h.queued, want) {
		t.Fatalf("queued %q, want %q", h.queued, want)
	}
	done := h.done
	h.mu.Unlock()
	for _, f := range done {
		f(command.Outcome{})
	}
	closeAll(a)
	if fw.n() != 3 || len(reports) != 3 || reports[1] != "d 198.51.100.1: started: start %IP% 198.51.100.1 dropped=false" {
		t.Fatalf("%d grants, reports %q", fw.n(), reports)
	}
	msgs := ml.Calls()
	if len(msgs) != 2 || !strings.Contains(msgs[0].Body+msgs[1].Body, "started: start %IP% 198.51.100.1") {
		t.Fatalf("mails: %+v", msgs)
	}
}
