package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/daemon"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/firewall/firewalltest"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
	"github.com/knockd-go/knockd-go/src/internal/wake/waketest"
)

var (
	router = netip.MustParseAddr("192.0.2.1")
	srcA   = netip.MustParseAddr("198.51.100.1")
)

func tcp(n uint16) l4.Port { return l4.Port{Proto: l4.TCP, Num: n} }

// svcRig runs a whole service on a fake source and fake firewalls.
type svcRig struct {
	t        *testing.T
	dir      string
	path     string
	src      *testsrc.Source
	rec      *logxtest.Recorder
	s        *Service
	mu       sync.Mutex
	backends []*firewalltest.Fake
	initErr  error // the next backend's Init fails with it, until Ensure
	hold     bool  // and Ensure fails too, until late.release
	late     *lateFW
	cancel   context.CancelFunc
	done     chan error
}

// lateFW is a backend whose firewall is not up yet: Init fails until
// Ensure succeeds once.
type lateFW struct {
	*firewalltest.Fake
	mu   sync.Mutex
	up   bool
	hold bool // Ensure fails with err too
	err  error
}

func (l *lateFW) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hold = false
}

func (l *lateFW) Init() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up {
		return l.err
	}
	return l.Fake.Init()
}

func (l *lateFW) Ensure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hold {
		return l.err
	}
	l.up = true
	return nil
}

func newSvc(t *testing.T, conf string) *svcRig {
	t.Helper()
	return newSvcSrc(t, conf, testsrc.New([]netip.Addr{router}))
}

// newSvcSrc is newSvc on the given source.
func newSvcSrc(t *testing.T, conf string, src *testsrc.Source) *svcRig {
	t.Helper()
	return newSvcWith(t, conf, src, nil)
}

// newSvcWith is newSvcSrc with the options edited by edit (when not nil)
// before the service is made; DIR/ exists before.
func newSvcWith(t *testing.T, conf string, src *testsrc.Source, edit func(dir string, o *Options)) *svcRig {
	t.Helper()
	r := &svcRig{t: t, dir: t.TempDir()}
	r.path = filepath.Join(r.dir, "knockd.conf")
	r.write(conf)
	log, rec := logxtest.NewRecorder(false)
	r.rec = rec
	r.src = src
	cfg, err := config.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Load:          func() (*config.Config, error) { return config.Load(r.path) },
		ConfigPath:    r.path,
		Log:           log,
		NewSource:     func([]string) daemon.Source { return r.src },
		Backend:       r.backend,
		Detect:        func() string { return "iptables" },
		Waker:         &waketest.Recorder{},
		ReassertEvery: -1,
		FirewallRetry: 10 * time.Millisecond,
	}
	if edit != nil {
		edit(r.dir, &o)
	}
	r.s, err = New(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.s.Run(ctx) }()
	<-r.s.Ready()
	t.Cleanup(func() {
		cancel()
		<-r.done
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		r.s.Shutdown(sctx)
	})
	return r
}

func (r *svcRig) backend(kind string, o firewall.Options) (firewall.Backend, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := firewalltest.NewFake()
	r.backends = append(r.backends, f)
	if r.initErr != nil {
		l := &lateFW{Fake: f, err: r.initErr, hold: r.hold}
		r.initErr, r.late = nil, l
		return l, nil
	}
	return f, nil
}

func (r *svcRig) fw(i int) *firewalltest.Fake {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backends[i]
}

func (r *svcRig) write(conf string) {
	if err := os.WriteFile(r.path, []byte(strings.ReplaceAll(conf, "DIR", r.dir)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *svcRig) knock(seq ...l4.Port) { r.src.Sequence(0, srcA, router, seq...) }

func (r *svcRig) wait(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not in time; log:\n%s", what, r.rec.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendmailStub writes a sendmail program that records its arguments in
// DIR/<name>.
func (r *svcRig) sendmailStub(name string) string {
	p := filepath.Join(r.dir, name)
	// Written whole, then renamed: the test polls for the file.
	script := "#!/bin/sh\necho \"$@\" > " + p + ".tmp.$$\ncat > /dev/null\nmv " + p + ".tmp.$$ " + p + ".args\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *svcRig) mailed(name string) bool {
	_, err := os.Stat(filepath.Join(r.dir, name+".args"))
	return err == nil
}

// TestReloadRebuildsActions: sendmail changed by a reload takes effect,
// and a knock in progress on an unchanged door survives it.
func TestReloadRebuildsActions(t *testing.T) {
	r := newSvc(t, "[options]\n  sendmail = DIR/a\n  sendmail_user = root\n[d]\n  sequence = 1,2,3\n  notify = root@localhost\n  command = true\n")
	r.sendmailStub("a")
	r.sendmailStub("b")
	r.knock(tcp(1), tcp(2), tcp(3))
	r.wait("mail through a", func() bool { return r.mailed("a") })
	r.knock(tcp(1), tcp(2))
	r.write("[options]\n  sendmail = DIR/b\n  sendmail_user = root\n  mail_from = knockd@router\n[d]\n  sequence = 1,2,3\n  notify = root@localhost\n  command = true\n")
	if err := r.s.Reload(); err != nil {
		t.Fatal(err)
	}
	// The knock in progress completes; the same address is within the
	// mail interval of its first mail, so another address knocks too.
	r.knock(tcp(3))
	r.src.Sequence(0, netip.MustParseAddr("198.51.100.2"), router, tcp(1), tcp(2), tcp(3))
	r.wait("mail through b", func() bool { return r.mailed("b") })
	b, _ := os.ReadFile(filepath.Join(r.dir, "b.args"))
	if !strings.Contains(string(b), "-f knockd@router -i root@localhost") {
		t.Fatalf("sendmail b got %q", b)
	}
	if n := r.rec.Count("198.51.100.1: d: OPEN SESAME"); n != 2 {
		t.Fatalf("%d successes of A, want 2 (the knock across the reload completes)", n)
	}
}

// TestReloadBadConfigKeepsRunning: a broken file leaves the running doors.
func TestReloadBadConfigKeepsRunning(t *testing.T) {
	r := newSvc(t, "[d]\n  sequence = 1,2\n  open = tcp/22\n")
	r.write("[d]\n  sequence = 1,0\n")
	if err := r.s.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if !r.rec.Has("config not reloaded: keeping the running configuration") {
		t.Fatalf("log:\n%s", r.rec.String())
	}
	r.knock(tcp(1), tcp(2))
	r.wait("grant", func() bool { return len(r.fw(0).Installed()) == 1 })
}

// TestReloadLogsEveryError: a reload of a file with several mistakes logs
// each, one a line with its place, and keeps the running doors.
func TestReloadLogsEveryError(t *testing.T) {
	r := newSvc(t, "[d]\n  sequence = 1,2\n  open = tcp/22\n")
	r.write("[d]\n  sequence = 1,0\n[e]\n  sequence = 3\n  Seq_Timout = 5\n")
	if err := r.s.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	for _, want := range []string{
		"error: " + r.path + `:2: door "d": sequence: item 2 ("0"): port 0 out of range 1-65535`,
		"error: " + r.path + `:5: door "e": Seq_Timout: unknown directive in door (did you mean seq_timeout?)`,
	} {
		if !r.rec.Has(want) {
			t.Errorf("no log line %q:\n%s", want, r.rec.String())
		}
	}
}

// TestFirewallStartsLate: a firewall that is not up when the daemon
// starts (fw4 after knockd at boot) is waited for; grants made meanwhile
// are installed once it is, and never emptied by its set-up.
func TestFirewallStartsLate(t *testing.T) {
	s := newSvcLate(t, "[options]\n  firewall = fw4\n[d]\n  sequence = 1,2\n  open = tcp/22\n  duration = 60\n", errors.New("table inet fw4 not found"))
	s.knock(tcp(1), tcp(2))
	s.wait("firewall ready", func() bool { return s.rec.Has("firewall fake is ready") })
	s.wait("grant restored", func() bool { return len(s.fw(0).Installed()) == 1 })
	if n := s.fw(0).Count("Init"); n != 0 {
		t.Fatalf("Init ran %d times after the firewall came up: it would empty the sets", n)
	}
}

// TestFirewallLateGrantEnds: a grant made while the firewall is not up
// yet ends on time, not only once the firewall comes up, and is not made
// then.
func TestFirewallLateGrantEnds(t *testing.T) {
	s := newSvcLate(t, "[options]\n  firewall = fw4\n[d]\n  sequence = 1,2\n  open = tcp/22\n  duration = 1\n", errors.New("table inet fw4 not found"), true)
	s.knock(tcp(1), tcp(2))
	s.wait("grant closed", func() bool { return s.rec.Has("d: closed tcp/22") })
	if s.rec.Has("is ready") {
		t.Fatal("the firewall came up")
	}
	s.late.release()
	s.wait("firewall ready", func() bool { return s.rec.Has("firewall fake is ready") })
	if n := len(s.fw(0).Installed()); n != 0 {
		t.Fatalf("%d grant(s) installed after the firewall came up, want none", n)
	}
}

func newSvcLate(t *testing.T, conf string, initErr error, hold ...bool) *svcRig {
	t.Helper()
	r := &svcRig{t: t, dir: t.TempDir(), initErr: initErr, hold: len(hold) > 0 && hold[0]}
	r.path = filepath.Join(r.dir, "knockd.conf")
	r.write(conf)
	log, rec := logxtest.NewRecorder(false)
	r.rec = rec
	r.src = testsrc.New([]netip.Addr{router})
	cfg, err := config.Load(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.s, err = New(Options{Load: func() (*config.Config, error) { return config.Load(r.path) }, Log: log,
		NewSource: func([]string) daemon.Source { return r.src }, Backend: r.backend, Waker: &waketest.Recorder{},
		ReassertEvery: -1, FirewallRetry: 10 * time.Millisecond}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.s.Run(ctx) }()
	<-r.s.Ready()
	t.Cleanup(func() {
		cancel()
		<-done
		r.s.Shutdown(context.Background())
	})
	return r
}

// TestFirewallFailureRefusesStart: a backend that cannot be set up stops
// the start with the reason.
func TestFirewallFailureRefusesStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[options]\n  firewall = iptables\n[d]\n  sequence = 1\n  open = tcp/22\n"), 0o600)
	cfg, _ := config.Load(path)
	_, err := New(Options{Log: logx.Discard(), NewSource: func([]string) daemon.Source { return testsrc.New() },
		Backend: func(string, firewall.Options) (firewall.Backend, error) {
			f := firewalltest.NewFake()
			f.FailWith("Init", errors.New("iptables: command not found"))
			return f, nil
		}}, cfg)
	if err == nil || err.Error() != "firewall: fake Init: iptables: command not found" {
		t.Fatalf("New: %v", err)
	}
}

// TestFirewallKindChange: firewall = none, then a reload to a backend.
func TestFirewallKindChange(t *testing.T) {
	r := newSvc(t, "[options]\n  firewall = none\n[d]\n  sequence = 1,2\n  open = tcp/22\n")
	r.knock(tcp(1), tcp(2))
	r.wait("refusal logged", func() bool { return r.rec.Has("firewall disabled (firewall = none)") })
	r.write("[options]\n  firewall = iptables\n[d]\n  sequence = 1,2\n  open = tcp/22\n")
	if err := r.s.Reload(); err != nil {
		t.Fatal(err)
	}
	r.knock(tcp(1), tcp(2))
	r.wait("grant", func() bool { return len(r.fw(0).Installed()) == 1 })
	// Reassert after a firewall reload restores what it wiped.
	r.fw(0).Wipe()
	r.s.Reassert()
	if len(r.fw(0).Installed()) != 1 {
		t.Fatal("reassert did not restore the grant")
	}
	if s := r.s.Stats(); !strings.Contains(s, "successes 2") || r.s.Config().Options.Firewall != "iptables" || r.s.Devices()[0] != "eth0" {
		t.Fatalf("stats %s", s)
	}
}

// TestStatusAndRevoke: the status shows the door and the grant; a revoke
// closes it and a new knock opens it again.
func TestStatusAndRevoke(t *testing.T) {
	r := newSvc(t, "[ssh]\n  sequence = 1,2\n  open = tcp/22\n  duration = 60\n  wake = 00:11:22:33:44:55\n  notify = root@localhost\n  command = /bin/true %IP%\n[s]\n  spa = yes\n  spa_key = k\n  spa_hmac_key = h\n  open = tcp/23\n  interface = eth0\n")
	r.knock(tcp(1))
	st := r.s.Status()
	if len(st.Doors) != 2 || st.Doors[0].Attempts != 1 || st.Doors[1].Kind != "spa" || st.Doors[1].Devices[0] != "eth0" ||
		strings.Join(st.Doors[0].Actions, "|") != "open tcp/22|wake 00:11:22:33:44:55 on br-lan|notify root@localhost|command /bin/true" {
		t.Fatalf("doors %+v", st.Doors)
	}
	r.knock(tcp(2))
	r.wait("grant", func() bool { return len(r.s.Status().Grants) == 1 })
	st = r.s.Status()
	if g := st.Grants[0]; g.Door != "ssh" || g.Source != srcA || g.What != "tcp/22" || !st.Running || len(st.Opened) != 1 || st.Devices[0].Name != "eth0" {
		t.Fatalf("status %+v", st)
	}
	if n, err := r.s.Revoke("ssh", srcA); n != 1 || err != nil {
		t.Fatalf("revoke %d %v", n, err)
	}
	if len(r.s.Status().Grants) != 0 || len(r.fw(0).Installed()) != 0 || !r.rec.Has("198.51.100.1: ssh: grant revoked") {
		t.Fatal("the grant is still there")
	}
	r.knock(tcp(1), tcp(2))
	r.wait("grant again", func() bool { return len(r.fw(0).Installed()) == 1 })
}

// TestReloadChangedDevicesKeepsDoorDevices: a reload whose configuration
// lists the devices in another order, or with another one, keeps the
// running capture; a door limited to one device stays on that device.
func TestReloadChangedDevicesKeepsDoorDevices(t *testing.T) {
	door := "[wg]\n  sequence = 1,2\n  interface = wg0\n  command = true\n[any]\n  sequence = 1,2\n  command = true\n"
	for i, devs := range []string{"wg0 eth0", "eth0 wan6 wg0"} {
		r := newSvcSrc(t, "[options]\n  interface = eth0 wg0\n"+door, testsrc.New([]netip.Addr{router}, []netip.Addr{router}))
		r.write("[options]\n  interface = " + devs + "\n" + door)
		if err := r.s.Reload(); err != nil {
			t.Fatal(err)
		}
		if !r.rec.Has("need a restart; still listening on [eth0 wg0]") {
			t.Fatalf("%q: no warning; log:\n%s", devs, r.rec.String())
		}
		a, b := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i)})
		r.src.Sequence(0, a, router, tcp(1), tcp(2)) // eth0
		r.src.Sequence(1, b, router, tcp(1), tcp(2)) // wg0
		r.wait("both doors open on wg0", func() bool {
			return r.rec.Has(b.String()+": wg: OPEN SESAME") && r.rec.Has(b.String()+": any: OPEN SESAME")
		})
		if !r.rec.Has(a.String()+": any: OPEN SESAME") || r.rec.Has(a.String()+": wg: ") {
			t.Fatalf("%q: a knock on eth0 did not open only the door of every device; log:\n%s", devs, r.rec.String())
		}
	}
}

// TestReloadWarnsOnlyForWhatNeedsARestart: sendmail_user is applied by a
// reload (the actions are rebuilt); command_user needs a restart, and
// the warning says so.
func TestReloadWarnsOnlyForWhatNeedsARestart(t *testing.T) {
	const conf = "[options]\n  sendmail_user = %s\n  command_user = %s\n[d]\n  sequence = 1,2,3\n  notify = root@localhost\n  command = true\n"
	r := newSvc(t, fmt.Sprintf(conf, "root", "root"))
	r.write(fmt.Sprintf(conf, "nobody", "root"))
	if err := r.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.rec.Has("need a restart") {
		t.Fatalf("a sendmail_user change warned of a restart:\n%s", r.rec.String())
	}
	r.write(fmt.Sprintf(conf, "nobody", "nobody"))
	if err := r.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if !r.rec.Has("command_user changes need a restart") {
		t.Fatalf("no warning for a command_user change:\n%s", r.rec.String())
	}
}

// TestCommandSessionStatusAndRevoke: a command door's session (its stop
// command pending) shows under the grants with its time; revoking it
// runs the stop command now and it is gone.
func TestCommandSessionStatusAndRevoke(t *testing.T) {
	r := newSvc(t, "[cmd]\n  sequence = 1,2\n  start_command = touch DIR/started-%IP%\n  stop_command = touch DIR/stopped-%IP%\n  cmd_timeout = 600\n")
	r.knock(tcp(1), tcp(2))
	r.wait("the session", func() bool { return len(r.s.Status().Grants) == 1 })
	st := r.s.Status()
	g := st.Grants[0]
	if g.Door != "cmd" || g.Source != srcA || !strings.Contains(g.What, "command") || g.Until.Sub(st.Now) < 590*time.Second {
		t.Fatalf("session %+v (now %v)", g, st.Now)
	}
	if n, err := r.s.Revoke("cmd", netip.MustParseAddr("198.51.100.99")); n != 0 || err != nil {
		t.Fatalf("revoke of another address: %d %v", n, err)
	}
	if n, err := r.s.Revoke("cmd", srcA); n != 1 || err != nil {
		t.Fatalf("revoke %d %v", n, err)
	}
	stopped := filepath.Join(r.dir, "stopped-"+srcA.String())
	r.wait("the stop command", func() bool { _, err := os.Stat(stopped); return err == nil })
	if len(r.s.Status().Grants) != 0 || !r.rec.Has("198.51.100.1: cmd: command session revoked") {
		t.Fatalf("after the revoke: %+v\n%s", r.s.Status().Grants, r.rec)
	}
}
