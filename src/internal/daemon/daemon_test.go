package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/action"
	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/firewall/firewalltest"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/mail/mailtest"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/spa"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
	"github.com/knockd-go/knockd-go/src/internal/wake/waketest"
)

var (
	router  = netip.MustParseAddr("192.0.2.1")
	router6 = netip.MustParseAddr("2001:db8::1")
	srcA    = netip.MustParseAddr("198.51.100.1")
	srcB    = netip.MustParseAddr("198.51.100.2")
)

func tcp(n uint16) l4.Port { return l4.Port{Proto: l4.TCP, Num: n} }
func udp(n uint16) l4.Port { return l4.Port{Proto: l4.UDP, Num: n} }

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a whole packet path without privileges: a fake source, the real
// runner, the real action pool with a firewall manager over firewalltest.Fake,
// a wake recorder and a mail recorder.
type rig struct {
	t      *testing.T
	dir    string
	conf   string
	src    *testsrc.Source
	d      *Daemon
	log    *logxtest.Recorder
	logger *logx.Logger
	fw     *firewalltest.Fake
	mgr    *firewall.Manager
	wake   *waketest.Recorder
	mail   *mailtest.Recorder
	runner *command.Runner
	acts   *action.Actions
	clk    *clock
	cancel context.CancelFunc
	done   chan error
	once   sync.Once // stop runs once (a test may stop a rig before its cleanup)
}

func compile(t testing.TB, path string, now func() time.Time) *door.Set {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := door.Compile(cfg, door.Env{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// newRig starts a packet path for conf ("DIR" stands for a directory of
// its own); files are written there first: name, content, name, ...
func newRig(t *testing.T, conf string, files ...string) *rig {
	t.Helper()
	return newRigWith(t, conf, nil, files...)
}

// newRigWith is newRig with edit applied to the daemon's options.
func newRigWith(t *testing.T, conf string, edit func(*Options), files ...string) *rig {
	t.Helper()
	return newRigStarter(t, conf, edit, nil, files...)
}

// newRigStarter is newRigWith with the command runner's starter st (nil:
// commands start from this process).
func newRigStarter(t *testing.T, conf string, edit func(*Options), st spawn.Starter, files ...string) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: time.Unix(1800000000, 0)}}
	for i := 0; i+1 < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(r.dir, files[i]), []byte(files[i+1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.conf = filepath.Join(r.dir, "knockd.conf")
	r.write(conf)
	r.logger, r.log = logxtest.NewRecorder(false)
	r.src = testsrc.New([]netip.Addr{router, router6}, []netip.Addr{netip.MustParseAddr("10.9.0.1")})
	r.fw = firewalltest.NewFake()
	r.mgr = firewall.NewManager(r.fw, firewall.ManagerOptions{Log: r.logger, ReassertEvery: -1})
	r.wake, r.mail = &waketest.Recorder{}, &mailtest.Recorder{}
	lines := DoorLines(r.logger, r.clk.now)
	r.runner = command.NewRunner(command.Options{Max: 8, Log: r.logger, Limit: lines, Starter: st})
	r.acts = r.newActs(lines)
	var err error
	o := Options{Log: r.logger, DoorLines: lines, Source: r.src, Runner: r.runner, Acter: r.acts, Now: r.clk.now}
	if edit != nil {
		edit(&o)
	}
	r.d, err = New(compile(t, r.conf, r.clk.now), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- run(ctx, r.d) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) newActs(lines *logx.Limiter) *action.Actions {
	return action.New(action.Options{Firewall: r.mgr, Commands: r.runner, Waker: r.wake, Mailer: r.mail, Log: r.logger, Limit: lines, Now: r.clk.now})
}

func (r *rig) write(conf string) {
	if err := os.WriteFile(r.conf, []byte(strings.ReplaceAll(conf, "DIR", r.dir)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.runner.Shutdown(ctx)
		r.acts.Close(ctx)
		_ = r.mgr.Close()
	})
}

func (r *rig) knock(src netip.Addr, seq ...l4.Port) {
	r.t.Helper()
	dst := router
	if src.Is6() {
		dst = router6
	}
	if !r.src.Sequence(0, src, dst, seq...) {
		r.t.Fatal("source not running")
	}
}

// reload re-reads the rig's file.
func (r *rig) reload() {
	r.t.Helper()
	if err := r.d.Reload(compile(r.t, r.conf, r.clk.now), r.acts); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) waitLog(s string) {
	r.t.Helper()
	if !r.log.Wait(s, 5*time.Second) {
		r.t.Fatalf("no log line with %q in:\n%s", s, r.log.String())
	}
}

func (r *rig) waitGrant(src netip.Addr) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range r.mgr.Active() {
			if g.Src == src {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	r.t.Fatalf("no grant for %s; log:\n%s", src, r.log.String())
}

// TestSuccessPath: a knock opens the door; the command runs, the grant is
// in the firewall, the wake packet and the mail go out, all without root.
func TestSuccessPath(t *testing.T) {
	r := newRig(t, `[options]
[ssh]
  sequence = 7000,8000:udp,9000
  open = tcp/22
  duration = 30
  wake = 00:11:22:33:44:55
  notify = admin@example.com
  command = touch DIR/opened-%IP%
`)
	r.knock(srcA, tcp(7000), udp(8000), tcp(9000))
	r.waitLog("198.51.100.1: ssh: OPEN SESAME")
	r.waitGrant(srcA)
	if r.mail.Wait(1, 5*time.Second) == nil || r.wake.Wait(1, 5*time.Second) == nil {
		t.Fatal("no mail or no wake")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(r.dir, "opened-198.51.100.1")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("command did not run")
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, want := range []string{"198.51.100.1: ssh: Stage 1", "198.51.100.1: ssh: Stage 3", "ssh: running command: touch"} {
		r.waitLog(want)
	}
	// Another address did nothing; a wrong sequence opens nothing.
	r.knock(srcB, tcp(7000), tcp(9000), udp(8000))
	if r.log.Has("198.51.100.2: ssh: OPEN SESAME") || len(r.mgr.Active()) != 1 {
		t.Fatal("a wrong sequence opened")
	}
	if s := r.d.Stats(); !strings.Contains(s, "successes 1,") {
		t.Fatalf("stats: %s", s)
	}
}

// TestOneTimeCrash is the regression test of a remote crash: one-time
// sequences of different lengths, A at stage 3 of the first, B completes
// it, A knocks on. The matcher indexed A's attempt into the new, shorter
// sequence and panicked.
func TestOneTimeCrash(t *testing.T) {
	r := newRig(t, "[otp]\n  one_time_sequences = DIR/otp\n  command = true\n", "otp", "1000,2000,3000,4000\n5000,6000\n")
	r.knock(srcA, tcp(1000), tcp(2000), tcp(3000))
	r.knock(srcB, tcp(1000), tcp(2000), tcp(3000), tcp(4000))
	r.waitLog("198.51.100.2: otp: OPEN SESAME")
	r.d.Settle()
	r.knock(srcA, tcp(4000)) // used up: opens nothing
	r.knock(srcA, tcp(5000))
	r.knock(srcA, tcp(6000))
	r.waitLog("198.51.100.1: otp: OPEN SESAME")
	if r.log.Has("panic") || strings.Contains(r.d.Stats(), "panics 1") {
		t.Fatalf("panicked:\n%s", r.log.String())
	}
	r.d.Settle()
	b, _ := os.ReadFile(filepath.Join(r.dir, "otp"))
	if string(b) != "#000,2000,3000,4000\n#000,6000\n" {
		t.Fatalf("one-time file: %q", b)
	}
	r.waitLog("no more sequences left")
	r.knock(srcB, tcp(5000), tcp(6000))
	if n := r.log.Count("OPEN SESAME"); n != 2 {
		t.Fatalf("%d successes, want 2", n)
	}
}

// panicActer panics on its first success.
type panicActer struct {
	mu     sync.Mutex
	n      int
	inner  Acter
	panics int
	nilMap map[string]int // never made: writing to it panics
}

func (p *panicActer) Do(s door.Success) bool {
	p.mu.Lock()
	p.n++
	first := p.n <= p.panics
	p.mu.Unlock()
	if first {
		p.nilMap["boom"]++ // a nil map write: a runtime panic
	}
	return p.inner.Do(s)
}

// TestPanicRecovered: a panic in the packet path is logged once with its
// stack, counted, and the daemon goes on.
func TestPanicRecovered(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 1,2\n  open = tcp/22\n")
	p := &panicActer{inner: r.acts, panics: 3}
	r.d.mu.Lock()
	r.d.acter = p
	r.d.mu.Unlock()
	for i := 0; i < 3; i++ {
		r.knock(srcA, tcp(1), tcp(2))
	}
	r.waitLog("recovered from a panic in the packet path")
	if n := r.log.Count("[running]"); n != 1 {
		t.Fatalf("%d stacks logged, want 1:\n%s", n, r.log.String())
	}
	r.knock(srcA, tcp(1), tcp(2))
	r.waitGrant(srcA)
	if s := r.d.Stats(); !strings.Contains(s, "panics 3") {
		t.Fatalf("stats: %s", s)
	}
}

// TestReloadKeepsUnchangedDoors: a knock in progress on a door whose knock
// did not change survives a reload that changes another door.
func TestReloadKeepsUnchangedDoors(t *testing.T) {
	r := newRig(t, "[keep]\n  sequence = 1,2,3\n  open = tcp/22\n[change]\n  sequence = 4,5,6\n  open = tcp/23\n")
	r.knock(srcA, tcp(1), tcp(2))
	r.knock(srcB, tcp(4), tcp(5))
	r.write("[new]\n  sequence = 7,8\n  open = tcp/25\n[change]\n  sequence = 4,5,7\n  open = tcp/23\n[keep]\n  sequence = 1,2,3\n  open = tcp/22\n")
	r.reload()
	r.knock(srcA, tcp(3))
	r.waitLog("198.51.100.1: keep: OPEN SESAME")
	r.knock(srcB, tcp(7))
	if r.log.Has("198.51.100.2: change: OPEN SESAME") {
		t.Fatal("an attempt on a changed door survived the reload")
	}
	r.knock(srcB, tcp(4), tcp(5), tcp(7))
	r.waitLog("198.51.100.2: change: OPEN SESAME")
}

// TestIgnoredSources: sources that cannot be a knocker on the WAN are
// ignored and counted; an IPv4-mapped source is not granted as IPv4.
func TestIgnoredSources(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 1\n  open = tcp/22\n")
	for _, s := range []string{"::ffff:198.51.100.9", "127.0.0.1", "::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "fe80::1", "169.254.1.1", "255.255.255.255"} {
		a := netip.MustParseAddr(s)
		dst := router
		if a.Is6() {
			dst = router6
		}
		r.src.Knock(0, a, dst, tcp(1))
	}
	if r.log.Has("OPEN SESAME") {
		t.Fatalf("an ignored source opened:\n%s", r.log.String())
	}
	if s := r.d.Stats(); !strings.Contains(s, "ignored sources 10,") {
		t.Fatalf("stats: %s", s)
	}
}

// TestIgnoredOwnSources: knocks spoofed "from" one of the router's own
// addresses (of the receiving device or another) or from a broadcast or
// network address of one of its subnets open nothing and are counted
// with the ignored sources.
func TestIgnoredOwnSources(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 1\n  open = tcp/22\n")
	r.src.SetSubnets(netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("10.9.0.1/30"))
	for _, s := range []string{"192.0.2.1", "10.9.0.1", "2001:db8::1", "192.0.2.255", "192.0.2.0", "10.9.0.3", "10.9.0.0"} {
		a := netip.MustParseAddr(s)
		dst := router
		if a.Is6() {
			dst = router6
		}
		r.src.Knock(0, a, dst, tcp(1))
	}
	if r.log.Has("OPEN SESAME") || len(r.fw.Installed()) != 0 {
		t.Fatalf("a spoofed own source opened:\n%s", r.log.String())
	}
	if s := r.d.Stats(); !strings.Contains(s, "ignored sources 7,") {
		t.Fatalf("stats: %s", s)
	}
	r.knock(netip.MustParseAddr("10.9.0.2"), tcp(1)) // a neighbour on the /30 may knock
	r.waitLog("10.9.0.2: d: OPEN SESAME")
}

// TestForeignDestinationAndDevices: knocks count only to the receiving
// device's addresses (or the door's target) and on the door's devices.
func TestForeignDestinationAndDevices(t *testing.T) {
	r := newRig(t, "[options]\n  interface = eth0 wg0\n[d]\n  sequence = 1,2\n  open = tcp/22\n  interface = wg0\n")
	r.src.Sequence(0, srcA, router, tcp(1), tcp(2)) // device 0 is not the door's
	wg := netip.MustParseAddr("10.9.0.1")
	r.src.Sequence(1, srcA, router, tcp(1), tcp(2)) // device 1, but not its address
	if r.log.Has("OPEN SESAME") {
		t.Fatal("opened on the wrong device or address")
	}
	r.src.Sequence(1, srcA, wg, tcp(1), tcp(2))
	r.waitLog("198.51.100.1: d: OPEN SESAME")
}

// TestFloodLogBounded: spoofed first knocks and their timeouts reach the
// log at most firstKnocksPerSecond a second each.
func TestFloodLogBounded(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n")
	const flood = 1000
	for i := 0; i < flood; i++ {
		r.src.Knock(0, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	if n := r.log.Count(": d: Stage 1"); n != firstKnocksPerSecond {
		t.Fatalf("%d first-knock lines for %d spoofed knocks, want %d", n, flood, firstKnocksPerSecond)
	}
	r.clk.add(6 * time.Second)
	r.d.expire()
	if n := r.log.Count("sequence timeout (stage 1)"); n > doorLinesBurst {
		t.Fatalf("%d timeout lines for %d spoofed knocks", n, flood)
	}
	r.waitLog("first knocks: 980 log lines suppressed")
}

func spaConf(extra string) string {
	return "[s]\n  spa = yes\n  spa_key_base64 = " + spaKey + "\n  spa_hmac_key_base64 = " + spaHMAC + "\n  open = tcp/22\n  duration = 30\n" + extra
}

const (
	spaKey  = "wo9bKGW3PtdizvMVQw9xe4Zz5Oh8c2hyUbbvO3U1h4o="
	spaHMAC = "BIq5YrYa1kQmGqYiuD2rJSdXRDpGeyoRBwbODowKKf6mJ0VUK1UY8G1gIlEn84V7f8uQLhVE7uEZQ9GfxxyHtw=="
)

// TestSPA: an SPA packet opens its door; its replay is refused; garbage
// is counted and limited in the log.
func TestSPA(t *testing.T) {
	r := newRig(t, spaConf(""))
	payload := sealSPA(t, srcA, r.clk.now())
	frame := pktbuild.UDP4(srcA, router, 40000, 62201, payload)
	r.src.Send(0, frame)
	r.waitLog("198.51.100.1: s: SPA accepted")
	r.waitGrant(srcA)
	for i := 0; i < 1000; i++ { // one captured packet, replayed at full rate
		r.src.Send(0, frame)
	}
	r.waitLog("198.51.100.1: s: SPA packet rejected: replayed packet")
	if n := r.log.Count("replayed packet"); n != 1 {
		t.Fatalf("%d lines for 1000 replays, want 1 (then one line a second)", n)
	}
	for i := 0; i < 500; i++ {
		r.src.Send(0, pktbuild.UDP4(srcB, router, 40000, 62201, []byte(strings.Repeat("A", 200))))
	}
	if n := r.log.Count("198.51.100.2: s: SPA packet rejected"); n > firstKnocksPerSecond {
		t.Fatalf("%d garbage lines", n)
	}
	if s := r.d.Stats(); !strings.Contains(s, "SPA accepted 1, SPA rejected 1500") {
		t.Fatalf("stats: %s", s)
	}
}

// TestConcurrentKnockLoad drives the packet handler from several
// goroutines (as several devices do), with reloads, stats and the expiry
// loop running at the same time: run under -race.
func TestConcurrentKnockLoad(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 7000,8000:udp,9000\n  seq_timeout = 1\n  open = tcp/22\n  target = 192.0.2.1\n")
	const workers, per = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				src := netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)})
				r.src.Sequence(0, src, router, tcp(7000), udp(8000), tcp(9000))
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			r.reload()
			_ = r.d.Stats()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	// Reloads keep attempts of unchanged doors: every sequence completes.
	if n := strings.Count(r.d.Stats(), ""); n == 0 {
		t.Fatal()
	}
	if s := r.d.Stats(); !strings.Contains(s, fmt.Sprintf("successes %d,", workers*per)) {
		t.Fatalf("stats: %s", s)
	}
}

// sealSPA returns an SPA payload from src asking for tcp/22 at t.
func sealSPA(t *testing.T, src netip.Addr, at time.Time) []byte {
	t.Helper()
	k, _ := spa.DecodeKey(spaKey)
	h, _ := spa.DecodeKey(spaHMAC)
	b, err := spa.Encode(&spa.Message{User: "u", Timestamp: at, Addr: src, Ports: []l4.Port{tcp(22)}},
		spa.Keys{Rijndael: k, HMAC: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStatusAndNames: the status lists doors with their attempts and the
// last successes; -l names appear once resolved; debug lines are written.
func TestStatusAndNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 1,2,3\n[b]\n  sequence = 4\n"), 0o600)
	log, rec := logxtest.NewRecorder(true)
	src := testsrc.New([]netip.Addr{router})
	runner := command.NewRunner(command.Options{Max: 2, Log: log})
	d, err := New(compile(t, path, time.Now), Options{Log: log, Source: src, Runner: runner,
		Lookup: func(a netip.Addr) string { return "host.example" }})
	if err != nil {
		t.Fatal(err)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), time.Time{}) // starts the lookup
	deadline := time.Now().Add(5 * time.Second)
	for d.names.name(srcA) == srcA.String() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), time.Time{})
	d.handle(0, testsrc.Frame(srcB, router, tcp(4)), time.Time{})
	d.handle(0, []byte{0x45, 0}, time.Time{}) // truncated: a debug line
	if !rec.Has("198.51.100.1 (host.example): a: Stage 2") || !rec.Has("dropping packet: decode: truncated packet") ||
		!rec.Has("filter accepts: tcp/1 tcp/2 tcp/3 tcp/4") || !rec.Has("tcp: 198.51.100.1:40000 -> 192.0.2.1:2") {
		t.Fatalf("log:\n%s", rec.String())
	}
	st := d.Status()
	if len(st.Doors) != 2 || st.Doors[0].Attempts != 1 || st.Doors[0].Door.Name != "a" || st.Doors[1].Attempts != 0 {
		t.Fatalf("doors %+v", st.Doors)
	}
	if len(st.Opened) != 1 || st.Opened[0].Door != "b" || st.Opened[0].Src != srcB || st.Counters.Successes != 1 || st.Counters.Attempts != 1 {
		t.Fatalf("status %+v", st)
	}
	// The history keeps the last historyLen, newest first.
	var h history
	for i := 0; i < historyLen+5; i++ {
		h.add(Event{Door: fmt.Sprint(i)})
	}
	if l := h.list(); len(l) != historyLen || l[0].Door != fmt.Sprint(historyLen+4) || l[historyLen-1].Door != "5" {
		t.Fatalf("history %v", l)
	}
}

// TestRotatingKnock: the current sequence opens; replayed from another
// address it is refused (burnt); the next step's sequence opens; the
// window moves with the clock, keeping attempts on steps still in it.
func TestRotatingKnock(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	r := newRig(t, "[rot]\n  sequence_secret = "+secret+"\n  sequence_step = 30\n  seq_timeout = 60\n  open = tcp/22\n  duration = 60\n")
	p := rotate.Default([]byte("12345678901234567890"))
	c := p.Counter(r.clk.now())
	r.knock(srcA, p.Sequence(c)...)
	r.waitLog("198.51.100.1: rot: OPEN SESAME")
	r.knock(srcB, p.Sequence(c)...) // a sniffed knock, replayed
	r.knock(srcB, p.Sequence(c-2)...)
	if r.log.Has("198.51.100.2: rot: OPEN SESAME") {
		t.Fatal("a used sequence opened again")
	}
	r.knock(srcA, p.Sequence(c+1)...)
	if n := r.log.Count("198.51.100.1: rot: OPEN SESAME"); n != 2 {
		t.Fatalf("the next step's sequence: %d successes, want 2", n)
	}
	// The clock moves a step: c+2 enters the window. B starts on it, the
	// clock moves another step (c+2 stays in the window, its attempt
	// too) and B completes it.
	r.clk.add(30 * time.Second)
	r.d.expire()
	seq := p.Sequence(c + 2)
	r.knock(srcB, seq[:2]...)
	r.clk.add(30 * time.Second)
	r.d.expire()
	r.knock(srcB, seq[2:]...)
	r.waitLog("198.51.100.2: rot: OPEN SESAME")
	r.knock(srcB, p.Sequence(c)...) // left the window
	if n := r.log.Count("198.51.100.2: rot: OPEN SESAME"); n != 1 {
		t.Fatalf("%d successes of B, want 1", n)
	}
	// A reload keeps what was burnt.
	r.reload()
	r.knock(netip.MustParseAddr("198.51.100.3"), p.Sequence(c+1)...)
	if r.log.Has("198.51.100.3: rot: OPEN SESAME") {
		t.Fatal("a burnt sequence opened after a reload")
	}
	st := r.d.Status()
	if len(st.Doors) != 1 || st.Doors[0].Door.Kind != door.Rotating {
		t.Fatalf("status doors %+v", st.Doors)
	}
}

// TestLastKnockPerDoor: the status says, per door, the last knock seen
// (knockd doctor's "last knock"): none before any, the stage reached,
// then "opened".
func TestLastKnockPerDoor(t *testing.T) {
	r := newRig(t, `[options]
[ssh]
  sequence = 7000,8000,9000
  open = tcp/22
[web]
  sequence = 7100,8100
  open = tcp/80
`)
	last := func(name string) Last {
		for _, ds := range r.d.Status().Doors {
			if ds.Door.Name == name {
				return ds.Last
			}
		}
		t.Fatalf("no door %s", name)
		return Last{}
	}
	if l := last("ssh"); !l.At.IsZero() || l.What() != "" {
		t.Fatalf("before any knock: %+v", l)
	}
	r.knock(srcA, tcp(7000), tcp(8000))
	r.waitLog("ssh: Stage 2")
	if l := last("ssh"); l.Src != srcA || l.What() != "stage 2 of 3" || l.At.IsZero() {
		t.Fatalf("after two knocks: %+v %q", l, l.What())
	}
	r.knock(srcA, tcp(9000))
	r.waitLog("ssh: OPEN SESAME")
	if l := last("ssh"); l.What() != "opened" {
		t.Fatalf("after the knock: %q", l.What())
	}
	if l := last("web"); !l.At.IsZero() {
		t.Fatalf("web saw a knock: %+v", l)
	}
}

// TestNamesRefuseNonHostNames: a name from the -l resolver that is not a
// host name (a PTR answer with a newline and ANSI escapes) is never
// logged: the line names the address only, on one line.
func TestNamesRefuseNonHostNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 1,2,3\n"), 0o600)
	log, rec := logxtest.NewRecorder(false)
	src := testsrc.New([]netip.Addr{router})
	runner := command.NewRunner(command.Options{Max: 2, Log: log})
	d, err := New(compile(t, path, time.Now), Options{Log: log, Source: src, Runner: runner,
		Lookup: func(a netip.Addr) string { return "x\n10.201.0.99: a: OPEN SESAME\x1b[2K" }})
	if err != nil {
		t.Fatal(err)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), time.Time{}) // starts the lookup
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		d.names.mu.Lock()
		done := d.names.running == 0
		d.names.mu.Unlock()
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), time.Time{})
	if !rec.Has("198.51.100.1: a: Stage 2") || strings.Contains(rec.String(), "OPEN SESAME") || strings.Contains(rec.String(), "\x1b") {
		t.Fatalf("log:\n%q", rec.String())
	}
}

// TestProgressingKnockLoggedUnderFlood: spoofed first knocks (and their
// timeouts) do not use up the door's log budget: the lines of a knock
// that progresses meanwhile are all written.
func TestProgressingKnockLoggedUnderFlood(t *testing.T) {
	r := newRig(t, "[d]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n")
	r.knock(srcA, tcp(7000))
	for i := 0; i < 1000; i++ {
		r.src.Knock(0, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	r.clk.add(6 * time.Second)
	r.d.expire() // 1001 first-knock timeouts
	for i := 0; i < 1000; i++ {
		r.src.Knock(0, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	r.knock(srcB, tcp(7000), tcp(8000), tcp(9000))
	r.waitLog("198.51.100.2: d: OPEN SESAME")
	if !r.log.Has("198.51.100.2: d: Stage 2") || !r.log.Has("198.51.100.2: d: Stage 3") {
		t.Fatalf("the progressing knock's lines are missing:\n%s", r.log)
	}
}

// TestSPAReplayInStatus: a replayed SPA packet shows under the status's
// last rejections (as often as it is logged: one a second per door, so
// that a replay at full rate does not push the others out).
func TestSPAReplayInStatus(t *testing.T) {
	r := newRig(t, spaConf(""))
	frame := pktbuild.UDP4(srcA, router, 40000, 62201, sealSPA(t, srcA, r.clk.now()))
	r.src.Send(0, frame)
	r.waitGrant(srcA)
	for i := 0; i < 100; i++ {
		r.src.Send(0, frame)
	}
	r.waitLog("198.51.100.1: s: SPA packet rejected: replayed packet")
	rej := r.d.Status().Rejected
	if len(rej) != 1 || rej[0].Door != "s" || rej[0].Src != srcA || !strings.Contains(rej[0].What, "replayed packet") {
		t.Fatalf("last rejections %+v, want the replay once", rej)
	}
}

// run runs the packet path and the expiry, as service.Run's tasks do.
func run(ctx context.Context, d *Daemon) error {
	done := make(chan struct{})
	go func() { defer close(done); d.Expire(ctx) }()
	err := d.Capture(ctx)
	<-done
	return err
}

// TestFloodReadsTheClockOncePerKnock: a first knock reads the clock once,
// for the matcher and the log budget alike: on 32-bit MIPS, Go has no
// vDSO clock and each reading is two system calls.
func TestFloodReadsTheClockOncePerKnock(t *testing.T) {
	var reads atomic.Int64
	var clk *clock
	r := newRigWith(t, "[d]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n", func(o *Options) {
		clk = &clock{t: time.Unix(1800000000, 0)}
		o.Now = func() time.Time { reads.Add(1); return clk.now() }
	})
	const flood = 1000
	before := reads.Load()
	for i := 0; i < flood; i++ {
		r.src.Knock(0, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	// The expiry loop reads it too when it arms its timer: a few times.
	if n := reads.Load() - before; n > flood+20 {
		t.Fatalf("%d spoofed first knocks read the clock %d times, want %d at most", flood, n, flood+20)
	}
}

// TestCaptureTimes: a packet is at the time its capture read it, not when
// the daemon handles it; one read before the last packet's (another
// device's, handled meanwhile) counts as the last packet's, so attempts
// are made in the order of their times.
func TestCaptureTimes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 1,2,3\n"), 0o600)
	log, _ := logxtest.NewRecorder(false)
	clock := time.Unix(5000, 0)
	now := func() time.Time { return clock }
	runner := command.NewRunner(command.Options{Max: 1, Log: log})
	d, err := New(compile(t, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}), Runner: runner, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	read := clock.Add(-300 * time.Millisecond)
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), read)
	if got := d.Status().Doors[0].Last.At; !got.Equal(read) {
		t.Fatalf("first knock at %v, want the capture's %v (the daemon's clock says %v)", got, read, clock)
	}
	d.handle(0, testsrc.Frame(srcB, router, tcp(1)), read.Add(-time.Millisecond))
	if got := d.Status().Doors[0].Last.At; !got.Equal(read) {
		t.Fatalf("an earlier reading handled later at %v, want the last packet's %v", got, read)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), time.Time{})
	if got := d.Status().Doors[0].Last.At; !got.Equal(clock) {
		t.Fatalf("a packet with no capture time at %v, want the daemon's clock %v", got, clock)
	}
}

// TestBatchLogLines: the log file gets the lines of a batch of packets
// when the batch ends, in one write, stamped with the capture's time; a
// second's expiries likewise.
func TestBatchLogLines(t *testing.T) {
	clock := time.Date(2026, 12, 7, 10, 30, 0, 0, time.Local)
	d, read := logFileDaemon(t, &clock)
	at := clock.Add(-2 * time.Minute) // a capture time the daemon's clock is not
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), at)
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), at)
	d.handle(0, testsrc.Frame(srcB, router, tcp(1)), at)
	if got := read(); got != "" {
		t.Fatalf("lines written before the batch ended: %q", got)
	}
	d.handle(0, nil, time.Time{})
	want := fmt.Sprintf("[%s] %s: a: Stage 1\n[%[1]s] %[2]s: a: Stage 2\n[%[1]s] %[3]s: a: Stage 1\n", at.Format("2006-01-02 15:04"), srcA, srcB)
	if got := read(); got != want {
		t.Fatalf("after the batch:\n%q\nwant\n%q", got, want)
	}
	clock = clock.Add(10 * time.Second)
	d.expire()
	if got := read(); strings.Count(got, "sequence timeout") != 2 {
		t.Fatalf("after the expiries:\n%s", got)
	}
}

// TestBatchExpiresDueAttempts: the end of a batch of packets expires the
// attempts whose time is up by the batch's last packet and logs their
// timeouts with the batch's lines, so that on a link with traffic the
// expiry loop (which wakes at most every expiryTick) finds little to do.
func TestBatchExpiresDueAttempts(t *testing.T) {
	clock := time.Date(2026, 12, 7, 10, 30, 0, 0, time.Local)
	d, read := logFileDaemon(t, &clock)
	srcC := netip.MustParseAddr("198.51.100.3")
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), clock)
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), clock)
	d.handle(0, nil, time.Time{})
	// Four seconds on, nothing is due yet.
	clock = clock.Add(4 * time.Second)
	d.handle(0, testsrc.Frame(srcB, router, tcp(1)), clock)
	d.handle(0, nil, time.Time{})
	if got := read(); strings.Contains(got, "timeout") || d.Status().Counters.Attempts != 2 {
		t.Fatalf("an attempt expired before its time:\n%s", got)
	}
	// Six seconds on, srcA's attempt is due: the batch expires it.
	clock = clock.Add(2 * time.Second)
	d.handle(0, testsrc.Frame(srcC, router, tcp(9)), clock)
	d.handle(0, nil, time.Time{})
	want := fmt.Sprintf("[%s] %s: a: sequence timeout (stage 2)\n", clock.Format("2006-01-02 15:04"), srcA)
	if got := read(); !strings.HasSuffix(got, want) {
		t.Fatalf("after the batch:\n%s\nwant it to end with\n%s", got, want)
	}
	if n := d.Status().Counters.Attempts; n != 1 {
		t.Fatalf("%d attempts tracked after the batch, want srcB's alone", n)
	}
}

// TestExpiryWakesSeldom: the expiry loop wakes for timeouts at most once
// per expiryTick (they are enforced on time anyway, at the source's next
// knock, and expired at the end of each batch of packets), and at the
// exact time a rotating knock's window moves.
func TestExpiryWakesSeldom(t *testing.T) {
	base := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	const none = -time.Hour
	for _, c := range []struct {
		name               string
		attempt, rot, last time.Duration // offsets from base; none: zero
		want               time.Duration
		wantOK             bool
	}{
		{"nothing", none, none, none, 0, false},
		{"nothing but a last wake", none, none, 0, 0, false},
		{"attempt, never woken", time.Second, none, none, time.Second, true},
		{"attempt long after the last wake", expiryTick + time.Second, none, 0, expiryTick + time.Second, true},
		{"attempt soon after the last wake", time.Second, none, 0, expiryTick, true},
		{"rotation alone, exact", none, 2500 * time.Millisecond, 0, 2500 * time.Millisecond, true},
		{"rotation before the attempt's wake", time.Second, 3 * time.Second, 0, 3 * time.Second, true},
		{"attempt's wake before the rotation", time.Second, expiryTick + time.Second, 0, expiryTick, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := func(d time.Duration) time.Time {
				if d == none {
					return time.Time{}
				}
				return base.Add(d)
			}
			got, ok := wakeFor(at(c.attempt), at(c.rot), at(c.last))
			if ok != c.wantOK || (ok && !got.Equal(base.Add(c.want))) {
				t.Fatalf("wakeFor(%v, %v, %v) = %v, %v; want %v, %v", c.attempt, c.rot, c.last, got.Sub(base), ok, c.want, c.wantOK)
			}
		})
	}
}

// logFileDaemon returns a daemon with door a (1,2,3, seq_timeout 5) that
// logs to a file, on the clock *clock, and a function reading that file.
func logFileDaemon(t *testing.T, clock *time.Time) (*Daemon, func() string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(path, []byte("[a]\n  sequence = 1,2,3\n  seq_timeout = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return *clock }
	logFile := filepath.Join(dir, "log")
	log, err := logx.New(logx.Options{LogFile: logFile, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	runner := command.NewRunner(command.Options{Max: 1, Log: log})
	d, err := New(compile(t, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}), Runner: runner, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d, func() string { b, _ := os.ReadFile(logFile); return string(b) }
}

// startActer hands each success to a goroutine that waits for it, as the
// command runner's does.
type startActer struct {
	ch   chan struct{}
	sent atomic.Bool
}

func (a *startActer) Do(door.Success) bool {
	select {
	case a.ch <- struct{}{}:
		a.sent.Store(true)
	default:
	}
	return true
}

// TestOpenedDoorStartsFirst: with one processor (tune.Procs), a door that
// opened gets the goroutine that starts its command running before the
// batch's log lines are written and its expiries done: knock -> command
// latency on x86 was 0.3 ms worse with them first.
func TestOpenedDoorStartsFirst(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dir := t.TempDir()
	logFile := filepath.Join(dir, "log")
	a := &startActer{ch: make(chan struct{})}
	var waiting atomic.Bool
	logged := make(chan int64, 1) // the log file's size when the goroutine ran
	go func() {
		waiting.Store(true)
		<-a.ch
		fi, err := os.Stat(logFile)
		if err != nil {
			logged <- -1
			return
		}
		logged <- fi.Size()
	}()
	for !waiting.Load() {
		runtime.Gosched()
	}
	runtime.Gosched() // it waits on the channel now
	clock := time.Date(2026, 12, 7, 10, 30, 0, 0, time.Local)
	now := func() time.Time { return clock }
	log, err := logx.New(logx.Options{LogFile: logFile, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	path := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(path, []byte("[a]\n  sequence = 1,2\n  command = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(compile(t, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}), Acter: a, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), clock)
	d.handle(0, testsrc.Frame(srcA, router, tcp(2)), clock)
	d.handle(0, nil, time.Time{})
	if !a.sent.Load() {
		t.Fatal("the door did not open")
	}
	select {
	case n := <-logged:
		if n != 0 {
			t.Fatalf("the command's goroutine ran with %d bytes of the batch's log lines written, want it to run first", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command's goroutine never ran")
	}
}
