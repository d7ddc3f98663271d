// Package daemon wires knockd-go together: configuration, capture, the
// knock matcher, commands and router actions, signals and reloads.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/capture"
	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/decode"
	"github.com/knockd-go/knockd-go/src/filter"
	"github.com/knockd-go/knockd-go/src/match"
)

// Logger is what the daemon logs through (logx.Logger implements it).
type Logger interface {
	Printf(format string, args ...any)
	Debugf(format string, args ...any)
	Debugging() bool
}

// Actions perform a door's built-in router actions (open, forward, wake,
// notify) after a successful knock. It must not block for long: the daemon
// calls it from its own goroutine per success.
type Actions interface {
	Do(ctx context.Context, d *config.Door, src netip.Addr, at time.Time, grant *Grant)
}

// Grant is an SPA-requested variation of a door's actions.
type Grant struct {
	Open     []config.Port
	Forward  []config.Forward
	Duration time.Duration // 0: the door's duration
	Command  string        // an SPA command message (only where the door allows them)
}

// SPAChecker authenticates SPA payloads for a door.
type SPAChecker interface {
	// Check returns the grant requested by an authentic packet, or an
	// error naming why it was rejected.
	Check(payload []byte, src netip.Addr) (*Grant, string, error)
}

// Options configure a Daemon.
type Options struct {
	ConfigPath string
	Load       func() (*config.Config, error) // re-reads the configuration
	Interface  string                         // overrides the config's Interface (-i)
	NoIPv6     bool                           // -4
	Lookup     bool                           // -l: resolve knocker names
	Log        Logger
	Actions    Actions
	// NewSPA makes the SPA checker of a door (nil: SPA doors are refused).
	NewSPA func(d *config.Door) (SPAChecker, error)
	Now    func() time.Time
}

// Daemon is a running knockd.
type Daemon struct {
	o   Options
	log Logger
	now func() time.Time

	mu      sync.Mutex
	cfg     *config.Config
	doors   []*config.Door
	spa     map[uint16][]spaDoor
	m       *match.Matcher
	armed   time.Time // when the expiry timer fires; zero: not armed
	kick    chan struct{}
	cap     *capture.Capture
	runner  *Runner
	ctx     context.Context
	actWG   sync.WaitGroup
	names   map[netip.Addr]string
	ifname  string
	Packets uint64 // decoded packets (for stats)

	kernelPackets, kernelDrops uint64
	spaLimit                   logLimit
	stage1Limit                logLimit
	timeout1Limit              logLimit // timeouts of attempts at stage 1
}

type spaDoor struct {
	door  *config.Door
	check SPAChecker
}

// New validates the configuration and prepares the daemon.
func New(cfg *config.Config, o Options) (*Daemon, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Daemon{o: o, log: o.Log, now: o.Now, kick: make(chan struct{}, 1), names: map[netip.Addr]string{}}
	d.ifname = o.Interface
	if d.ifname == "" {
		d.ifname = cfg.Options.Interface
	}
	if d.ifname == "" {
		d.ifname = config.DefaultInterface
	}
	d.runner = NewRunner(cfg.Options.MaxChildren, d.log.Printf, d.log.Debugf)
	if err := d.install(cfg); err != nil {
		return nil, err
	}
	prog, err := d.filterProgram()
	if err != nil {
		return nil, err
	}
	d.cap = capture.New(d.ifname, prog, d.log.Printf, d.log.Debugf)
	return d, nil
}

// Interface returns the capture device name.
func (d *Daemon) Interface() string { return d.ifname }

// Capture returns the capture (for tests and statistics).
func (d *Daemon) Capture() *capture.Capture { return d.cap }

// install makes cfg the running configuration.
func (d *Daemon) install(cfg *config.Config) error {
	spa := map[uint16][]spaDoor{}
	var doors []*config.Door
	for _, door := range cfg.Doors {
		if door.SPA != nil {
			if d.o.NewSPA == nil {
				return fmt.Errorf("%s:%d: door %q: SPA is not available in this build", door.File, door.Line, door.Name)
			}
			c, err := d.o.NewSPA(door)
			if err != nil {
				return fmt.Errorf("%s:%d: door %q: %w", door.File, door.Line, door.Name, err)
			}
			spa[door.SPA.Port] = append(spa[door.SPA.Port], spaDoor{door, c})
		}
		doors = append(doors, door)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg, d.doors, d.spa = cfg, doors, spa
	d.m = match.New(doors, cfg.Options.MaxAttempts, d.now, d.event)
	d.armed = time.Time{}
	return nil
}

func (d *Daemon) filterProgram() ([]bpfRaw, error) {
	d.mu.Lock()
	var ports []filter.Port
	for _, door := range d.doors {
		if door.SPA != nil {
			ports = append(ports, filter.Port{Proto: config.UDP, Port: door.SPA.Port})
			continue
		}
		for _, s := range door.Sequence {
			p := filter.Port{Proto: s.Proto, Port: s.Port}
			if s.Proto == config.TCP {
				p.Flags = filter.FlagTest{Set: door.TCPFlags.Set, Clear: door.TCPFlags.Clear}
			}
			ports = append(ports, p)
		}
	}
	d.mu.Unlock()
	if d.log.Debugging() {
		var s []string
		for _, p := range ports {
			s = append(s, fmt.Sprintf("%s/%d", config.ProtoName(p.Proto), p.Port))
		}
		d.log.Debugf("filter accepts: %s", strings.Join(s, " "))
	}
	return filter.Assemble(filter.Options{Ports: ports, IncomingOnly: true, NoIPv6: d.o.NoIPv6})
}

// Run captures and acts until ctx ends, then closes everything it opened:
// pending stop commands run (bounded), actions are finished.
func (d *Daemon) Run(ctx context.Context) error {
	d.ctx = ctx
	d.log.Printf("starting up, listening on %s", d.ifname)
	timerDone := make(chan struct{})
	go func() { defer close(timerDone); d.expiryLoop(ctx) }()
	err := d.cap.Run(ctx, d.handle)
	<-timerDone
	return err
}

// Shutdown runs pending stop commands and waits for running actions, at
// most until ctx ends.
func (d *Daemon) Shutdown(ctx context.Context) {
	d.runner.Shutdown(ctx)
	done := make(chan struct{})
	go func() { d.actWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	d.log.Printf("shutting down")
}

// Reload re-reads the configuration. A bad configuration keeps the running
// one and the error is logged and returned.
func (d *Daemon) Reload() error {
	d.log.Printf("re-reading config file: %s", d.o.ConfigPath)
	cfg, err := d.o.Load()
	if err != nil {
		d.log.Printf("error: %v", err)
		d.log.Printf("config not reloaded: keeping the running configuration")
		return err
	}
	if cfg.Options.Interface != "" && d.o.Interface == "" && cfg.Options.Interface != d.ifname {
		d.log.Printf("warning: interface change to %s needs a restart; still listening on %s", cfg.Options.Interface, d.ifname)
	}
	old := d.snapshot()
	if err := d.install(cfg); err != nil {
		d.log.Printf("error: %v", err)
		d.log.Printf("config not reloaded: keeping the running configuration")
		_ = d.install(old)
		return err
	}
	prog, err := d.filterProgram()
	if err == nil {
		err = d.cap.SetFilter(prog)
	}
	if err != nil {
		d.log.Printf("error: %v", err)
		return err
	}
	return nil
}

func (d *Daemon) snapshot() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Config returns the running configuration.
func (d *Daemon) Config() *config.Config { return d.snapshot() }

// handle runs in the capture goroutine for each packet the filter passed.
func (d *Daemon) handle(b []byte) {
	var p decode.Packet
	if err := decode.Decode(b, &p); err != nil {
		if d.log.Debugging() {
			d.log.Debugf("dropping packet: %v", err)
		}
		return
	}
	src, dst := p.Src.Unmap(), p.Dst.Unmap()
	if d.o.NoIPv6 && src.Is6() {
		return
	}
	local := d.cap.Local(dst)
	if d.log.Debugging() {
		d.log.Debugf("%s: %s: %s -> %s %d bytes", d.now().Format("2006-01-02 15:04:05"), config.ProtoName(p.Proto),
			netip.AddrPortFrom(src, p.SrcPort), netip.AddrPortFrom(dst, p.DstPort), len(b))
	}
	d.mu.Lock()
	d.Packets++
	if p.Proto == config.UDP {
		if doors := d.spa[p.DstPort]; len(doors) > 0 {
			d.handleSPA(doors, src, dst, local, p.Payload)
		}
	}
	d.m.Process(match.Packet{Src: src, Dst: dst, Local: local, Proto: p.Proto, Port: p.DstPort, Flags: p.Flags})
	next, ok := d.m.NextDeadline()
	kick := ok && (d.armed.IsZero() || next.Before(d.armed))
	d.mu.Unlock()
	if kick {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// handleSPA checks an SPA payload against each door on its port. Called
// with d.mu held.
func (d *Daemon) handleSPA(doors []spaDoor, src, dst netip.Addr, local bool, payload []byte) {
	for _, sd := range doors {
		if sd.door.Target.IsValid() {
			if dst != sd.door.Target {
				continue
			}
		} else if !local {
			continue
		}
		g, user, err := sd.check.Check(payload, src)
		if err != nil {
			if d.spaLimit.allow(d.now(), isUnauthenticated(err)) {
				d.log.Printf("%s: %s: SPA packet rejected: %s", d.name(src), sd.door.Name, strings.TrimPrefix(err.Error(), "spa: "))
			} else if n := d.spaLimit.flush(); n > 0 {
				d.log.Printf("%s: SPA packets rejected without a log line: %d (garbage flood)", sd.door.Name, n)
			}
			continue
		}
		if user != "" {
			d.log.Printf("%s: %s: SPA accepted (user %s)", d.name(src), sd.door.Name, user)
		} else {
			d.log.Printf("%s: %s: SPA accepted", d.name(src), sd.door.Name)
		}
		d.log.Printf("%s: %s: OPEN SESAME", d.name(src), sd.door.Name)
		d.success(sd.door, src, g)
		return
	}
}

// event receives matcher events; called with d.mu held.
func (d *Daemon) event(e match.Event) {
	door := d.doors[e.Door]
	switch e.Kind {
	case match.Stage:
		if e.Stage == 1 {
			// Anyone can send first knocks from spoofed addresses: past
			// 20 a second they are counted, not logged one by one.
			if !d.stage1Limit.allow(e.At, true) {
				return
			}
			if n := d.stage1Limit.suppressedSince(); n > 0 {
				d.log.Printf("%d first knocks not logged in the last seconds (flood)", n)
			}
			if d.o.Lookup {
				d.lookup(e.Src)
			}
		}
		d.log.Printf("%s: %s: Stage %d", d.name(e.Src), door.Name, e.Stage)
	case match.Open:
		d.log.Printf("%s: %s: OPEN SESAME", d.name(e.Src), door.Name)
		d.success(door, e.Src, nil)
	case match.Timeout:
		if e.Stage == 1 {
			// Each spoofed first knock ends in a timeout too: limited
			// like the first knocks themselves.
			if !d.timeout1Limit.allow(e.At, true) {
				return
			}
			if n := d.timeout1Limit.suppressedSince(); n > 0 {
				d.log.Printf("%d first-knock timeouts not logged in the last seconds (flood)", n)
			}
		}
		d.log.Printf("%s: %s: sequence timeout (stage %d)", d.name(e.Src), door.Name, e.Stage)
	case match.Evicted:
		if !d.log.Debugging() {
			return
		}
		d.log.Debugf("%s: %s: attempt dropped, table full (stage %d)", e.Src, door.Name, e.Stage)
	}
}

func (d *Daemon) name(a netip.Addr) string {
	if n, ok := d.names[a]; ok && n != "" {
		return fmt.Sprintf("%s (%s)", a, n)
	}
	return a.String()
}

// lookup resolves a knocker's name in the background (knockd -l), with a
// bounded cache. Called with d.mu held.
func (d *Daemon) lookup(a netip.Addr) {
	if _, ok := d.names[a]; ok {
		return
	}
	if len(d.names) > 1024 {
		d.names = map[netip.Addr]string{}
	}
	d.names[a] = ""
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
		if err != nil || len(names) == 0 {
			return
		}
		d.mu.Lock()
		d.names[a] = strings.TrimSuffix(names[0], ".")
		d.mu.Unlock()
	}()
}

// success runs everything a door does on a successful knock. Called with
// d.mu held; nothing here blocks.
func (d *Daemon) success(door *config.Door, src netip.Addr, g *Grant) {
	if door.OneTimeFile != "" {
		d.nextOneTime(door)
	}
	ip := src.String()
	start, stop := door.Commands(src.Is6())
	if g != nil && g.Command != "" {
		d.runner.Start(door.Name, ip, g.Command, "", 0, nil)
		return
	}
	if start != "" {
		d.runner.Start(door.Name, ip, start, stop, door.CmdTimeout, nil)
	}
	if d.o.Actions != nil && (door.HasActions() || g != nil) {
		d.actWG.Add(1)
		at := d.now()
		ctx := d.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		go func() {
			defer d.actWG.Done()
			d.o.Actions.Do(context.WithoutCancel(ctx), door, src, at, g)
		}()
	}
}

// nextOneTime marks the door's current one-time sequence used and switches
// to the next one. Called with d.mu held.
func (d *Daemon) nextOneTime(door *config.Door) {
	seqs, err := config.ReadOneTime(door.OneTimeFile)
	if err != nil {
		d.log.Printf("error while disabling used one time sequence for door %s --> disabling the door", door.Name)
		door.Sequence = nil
		return
	}
	used := false
	for _, s := range seqs {
		if !used && equalSteps(s.Steps, door.Sequence) {
			if err := config.MarkUsed(door.OneTimeFile, s); err != nil {
				d.log.Printf("error while disabling used one time sequence for door %s --> disabling the door", door.Name)
				door.Sequence = nil
				return
			}
			used = true
			continue
		}
		if used {
			door.Sequence = s.Steps
			d.log.Debugf("new sequence for door %s: %s", door.Name, stepsString(s.Steps))
			go d.refilter()
			return
		}
	}
	d.log.Printf("no more sequences left in the one time sequences file for door %s --> disabling the door", door.Name)
	door.Sequence = nil
	go d.refilter()
}

func (d *Daemon) refilter() {
	prog, err := d.filterProgram()
	if err == nil {
		err = d.cap.SetFilter(prog)
	}
	if err != nil {
		d.log.Printf("error: %v", err)
	}
}

func equalSteps(a, b []config.Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func stepsString(s []config.Step) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, x.String())
	}
	return strings.Join(parts, ",")
}

// expiryLoop fires sequence timeouts on time. It sleeps without a timer
// while no attempt is tracked.
func (d *Daemon) expiryLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		d.mu.Lock()
		next, ok := d.m.NextDeadline()
		if ok {
			d.armed = next
		} else {
			d.armed = time.Time{}
		}
		d.mu.Unlock()
		var c <-chan time.Time
		if ok {
			t.Reset(time.Until(next))
			c = t.C
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-c:
			d.mu.Lock()
			d.m.Expire()
			d.mu.Unlock()
		}
	}
}

// Stats returns a one-line summary of the daemon's counters: packets
// decoded, kernel drops since start, tracked attempts and sources, and
// attempts evicted because the table was full.
func (d *Daemon) Stats() string {
	if pk, dr, err := d.cap.Stats(); err == nil {
		d.mu.Lock()
		d.kernelPackets += uint64(pk)
		d.kernelDrops += uint64(dr)
		d.mu.Unlock()
	}
	// Heap figures show whether memory follows the table (on demand only:
	// ReadMemStats stops the world for a moment).
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("stats: packets %d, kernel packets %d, kernel drops %d, attempts %d, sources %d, evictions %d, pending stop commands %d, heap in use %d KiB, from the OS %d KiB",
		d.Packets, d.kernelPackets, d.kernelDrops, d.m.Len(), d.m.Sources(), d.m.Evictions, d.runner.Pending(),
		ms.HeapInuse>>10, (ms.Sys-ms.HeapReleased)>>10)
}

// Unauthenticated marks an SPA rejection that happened before the HMAC
// check passed: garbage, which anyone can send at any rate. Such lines
// are rate-limited in the log.
func Unauthenticated(err error) error { return unauthErr{err} }

type unauthErr struct{ error }

func (e unauthErr) Unwrap() error { return e.error }

func isUnauthenticated(err error) bool {
	var u unauthErr
	return errors.As(err, &u)
}

// logPerSecond is how many attacker-controllable lines (first knocks,
// unauthenticated SPA rejections) reach the log each second.
const logPerSecond = 20

// logLimit lets at most logPerSecond lines of a kind reach the log each
// second and counts the rest; lines that are not attacker-controllable
// (unauth false) always pass.
type logLimit struct {
	sec        int64
	n          int
	suppressed int
}

func (l *logLimit) allow(now time.Time, unauth bool) bool {
	if !unauth {
		return true
	}
	if s := now.Unix(); s != l.sec {
		l.sec, l.n = s, 0
	}
	l.n++
	if l.n <= logPerSecond {
		return true
	}
	l.suppressed++
	return false
}

// flush returns the suppressed count at every thousandth suppressed line
// (and resets it), else 0, so a flood leaves a trace without a line per
// packet.
func (l *logLimit) flush() int {
	if l.suppressed == 0 || l.suppressed%1000 != 0 {
		return 0
	}
	n := l.suppressed
	l.suppressed = 0
	return n
}

// suppressedSince returns the lines suppressed before the current second
// (and resets the count), to be reported once the flood subsides.
func (l *logLimit) suppressedSince() int {
	if l.suppressed == 0 || l.n > 1 {
		return 0
	}
	n := l.suppressed
	l.suppressed = 0
	return n
}
