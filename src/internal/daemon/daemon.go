// Package daemon is knockd-go's packet path: frames from a packet source
// are decoded, checked against the SPA doors and the knock matcher, and a
// door that opens hands its success (door.Success: its start command and
// its other actions) to an Acter, which never blocks. It owns the running
// doors: reloads, one-time sequences and rotating knocks replace doors
// whole. It imports no action: commands, firewall, mail and wake-up are
// the Acter's.
package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/decode"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/match"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"golang.org/x/net/bpf"
)

// Source delivers the frames the kernel filter passed, from one or more
// capture devices. capture.Group is the production one.
type Source interface {
	// Run calls h for every frame until ctx ends; dev is the index of the
	// device in the door set's Devices, at when the frame was read (zero:
	// the daemon reads its clock); h may run concurrently for frames of
	// different devices.
	Run(ctx context.Context, h func(dev int, frame []byte, at time.Time)) error
	// Local reports whether a is one of device dev's current addresses.
	Local(dev int, a netip.Addr) bool
	// SetFilter installs the BPF programs on every device: all accepts
	// every frame to deliver, urgent those to deliver without delay; the
	// others may wait a little to be delivered in batches, in order.
	SetFilter(all, urgent []bpf.RawInstruction) error
	// Stats returns and resets the kernel's packet and drop counts.
	Stats() (packets, drops uint64)
}

// owner is a Source that also tells the router's own addresses: an
// address of any device, or the network or broadcast address of one of
// their subnets. Knocks "from" one are spoofed and ignored.
type owner interface {
	Own(a netip.Addr) bool
}

// Acter performs a success: its start command and its router actions
// (action.Actions). Do must not block: it is called with the daemon's
// lock held. It returns false when it dropped s (its queue full); when it
// queued a success with a start command, it calls s.Report later.
type Acter interface {
	Do(s door.Success) bool
}

// Commands tells how many door commands run and wait (command.Runner),
// for the counters.
type Commands interface {
	Running() int // commands running now
	Pending() int // stop commands waiting for their timeout
}

// Options configure a Daemon.
type Options struct {
	Log *logx.Logger
	// DoorLines bounds the log lines of each door (see DoorLines); nil
	// makes one.
	DoorLines *logx.Limiter
	Source    Source
	// Runner counts the commands (the acter starts them).
	Runner Commands
	Acter  Acter
	Now    func() time.Time // default time.Now
	NoIPv6 bool             // -4
	// Lookup resolves knockers' names for the log (-l).
	Lookup func(netip.Addr) string
	// MaxAttempts caps the matcher's table (default match.DefaultMax).
	MaxAttempts int
	// Burnt are the rotating sequences (time steps, per door) that opened
	// their door before this start: they stay refused.
	Burnt map[string][]uint64
	// OnBurn, when set, is told of each rotating sequence that opened its
	// door (with the daemon's lock held: it must not call back), so that
	// a restart can be given it in Burnt.
	OnBurn func(door string, counter uint64)
	// Release returns freed memory to the system; it is called once a
	// flood of sources has expired (see releaseAfter). Default
	// debug.FreeOSMemory.
	Release func()
}

// Daemon is a running knockd. Its methods are safe for concurrent use.
type Daemon struct {
	log    *logx.Logger
	now    func() time.Time
	src    Source
	own    owner // src's, when it tells the router's own addresses
	runner Commands
	noIPv6 bool

	// Attacker-controllable lines: first knocks of anyone (spoofable, so
	// limited across doors) and every line of one door.
	firstKnocks *logx.Limiter
	// The budgets of the lines of first knocks and of their timeouts.
	firstKnockLines, firstTimeoutLines *logx.Budget
	doorLines                          *logx.Limiter
	replays                            *logx.Limiter // SPA packets sent again

	mu        sync.Mutex
	set       *door.Set
	slots     []slot // matcher index -> door
	spaPorts  map[uint16][]int
	m         *match.Matcher
	acter     Acter
	max       int
	armed     bool      // the expiry loop's timer is set for an attempt
	lastAt    time.Time // the capture time of the last packet handled
	opening   bool      // a door opened in this batch (endBatch)
	kick      chan struct{}
	settle    sync.WaitGroup // one-time sequence advances in flight
	names     *names
	line      []byte // a first knock's log line, put together in place
	stats     counters
	opened    history          // the last successes (a lock of its own: see report)
	lateDrops atomic.Uint64    // actions dropped after their start command (see report)
	rejected  history          // the last rejections of SPA packets that passed the HMAC
	last      map[string]*Last // per door name: the last knock seen (knockd doctor); its slots point at it
	panicSeen map[string]bool
	// Rotating knocks: the sequences used, per door (kept across
	// reloads), and when the windows move next.
	burnt        map[string]*rotate.Burnt
	onBurn       func(door string, counter uint64)
	nextRotation time.Time
	// peak is the most sources tracked since memory was last given back
	// (expire); release gives it back.
	peak      int
	release   func()
	releasing bool // a flood expired: release is due (d.mu)
}

// slot is one door as the matcher knows it.
type slot struct {
	door *door.Door
	gen  uint64 // changes whenever the slot's door is replaced
	// base and counter are set for the slots of a rotating knock: the
	// compiled door, and the time step whose sequence door follows.
	base    *door.Door
	counter uint64
	// last is d.last's entry for the door's name.
	last *Last
}

// counters are what SIGUSR1 and the status report.
type counters struct {
	packets, kernelPackets, kernelDrops uint64
	ignored                             uint64 // sources that cannot knock (loopback, multicast, the router's own, …)
	successes, dropped                  uint64 // successes; of them, actions dropped (queue full)
	spaAccepted, spaRejected            uint64
	rotatingReplays                     uint64
	panics                              uint64
}

// Budgets of attacker-controllable log lines.
const (
	firstKnocksPerSecond = 20 // first knocks and their timeouts, all doors
	doorLinesPerSecond   = 2  // every line of one door, after a burst
	doorLinesBurst       = 20 // a whole legitimate knock fits
)

// New prepares the daemon for the doors of set. Run starts it.
func New(set *door.Set, o Options) (*Daemon, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = logx.Discard()
	}
	if o.Release == nil {
		o.Release = debug.FreeOSMemory
	}
	d := &Daemon{release: o.Release, log: o.Log, now: o.Now, src: o.Source, runner: o.Runner, noIPv6: o.NoIPv6,
		acter: o.Acter, max: o.MaxAttempts, kick: make(chan struct{}, 1), burnt: map[string]*rotate.Burnt{}, onBurn: o.OnBurn,
		last: map[string]*Last{}}
	for name, counters := range o.Burnt {
		b := &rotate.Burnt{}
		for _, c := range counters {
			b.Burn(c)
		}
		d.burnt[name] = b
	}
	d.own, _ = o.Source.(owner)
	d.firstKnocks = logx.NewLimiter(o.Log, firstKnocksPerSecond, firstKnocksPerSecond, o.Now)
	d.firstKnockLines = d.firstKnocks.Budget("first knocks")
	d.firstTimeoutLines = d.firstKnocks.Budget("first-knock timeouts")
	d.replays = logx.NewLimiter(o.Log, 1, 1, o.Now)
	d.doorLines = o.DoorLines
	if d.doorLines == nil {
		d.doorLines = DoorLines(o.Log, o.Now)
	}
	d.names = newNames(o.Lookup)
	d.m = match.New(nil, d.max, d.now, d.event)
	if err := d.install(set); err != nil {
		return nil, err
	}
	return d, nil
}

// DoorLines returns a limiter of per-door log lines (keyed by door name),
// for the packet path, the command runner and the actions to share: a
// knock replayed in a loop must not flood the log.
func DoorLines(log *logx.Logger, now func() time.Time) *logx.Limiter {
	return logx.NewLimiter(log, doorLinesPerSecond, doorLinesBurst, now)
}

// Settle waits for one-time sequences being marked used in their files:
// a reload reads those files.
func (d *Daemon) Settle() { d.settle.Wait() }

// Capture is the packet path: it captures and matches until ctx ends.
// Expire must run beside it (service.Run runs both as tasks).
func (d *Daemon) Capture(ctx context.Context) error {
	err := d.src.Run(ctx, d.handle)
	// What the packets started ends with the task: the one-time sequences
	// being marked used and the names being resolved.
	d.settle.Wait()
	d.names.wait()
	return err
}

// Expire times out knocks in progress and cool-downs until ctx ends.
func (d *Daemon) Expire(ctx context.Context) error {
	d.expiryLoop(ctx)
	return nil
}

// handle runs for each frame the filter passed, in the capture goroutine.
// A panic anywhere below is recovered: logged, counted, and the attempts
// in flight are dropped (the matcher may be half-updated); the daemon goes
// on with the next frame.
func (d *Daemon) handle(dev int, b []byte, at time.Time) {
	if b == nil {
		// The end of a batch: the attempts due by its last packet expire,
		// and the log lines its packets and expiries caused (event) go
		// out in one write.
		d.endBatch()
		return
	}
	defer d.recoverPacket()
	var p decode.Packet
	if err := decode.Decode(b, &p); err != nil {
		if d.log.Debugging() {
			d.log.Debugf("dropping packet: %v", err)
		}
		return
	}
	src, dst := p.Src, p.Dst.Unmap()
	if d.noIPv6 && src.Is6() {
		return
	}
	local := d.src.Local(dev, dst)
	own := d.own != nil && d.own.Own(src)
	if d.log.Debugging() {
		d.log.Debugf("%s: %s: %s -> %s %d bytes", d.now().Format("2006-01-02 15:04:05"), p.Proto,
			netip.AddrPortFrom(src, p.SrcPort), netip.AddrPortFrom(dst, p.DstPort), len(b))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.packets++
	if !canKnock(src) || own {
		d.stats.ignored++
		return
	}
	// The packet's time, for the matcher and the log budget of first
	// knocks: the capture's reading, one for all the packets it read at
	// once (a reading is two system calls on 32-bit MIPS), or the
	// daemon's clock for a source that gives none. Attempts are made in
	// the order of their times: a reading older than the last packet's
	// (another device's, read meanwhile) counts as that one.
	now := at
	if now.IsZero() {
		now = d.now()
	} else {
		if now.Before(d.lastAt) {
			now = d.lastAt
		}
		d.lastAt = now
	}
	if feature.SPA && p.Proto == l4.UDP { // without SPA (knockd_nospa), none of its code
		if slots := d.spaPorts[p.DstPort]; len(slots) > 0 {
			d.handleSPA(slots, dev, src, dst, local, p.Payload, now)
		}
	}
	d.m.Process(match.Packet{Src: src, Dst: dst, Local: local, Dev: dev, Port: l4.Port{Proto: p.Proto, Num: p.DstPort}, Flags: p.Flags, At: now})
	d.kickTimer()
}

// canKnock reports whether src may knock: a packet from an IPv4-mapped
// IPv6, loopback, multicast, unspecified or link-local source cannot come
// from a knocker on the WAN and must not be granted anything (a mapped
// address would be granted as the IPv4 address it names).
func canKnock(src netip.Addr) bool {
	return src.IsValid() && !src.Is4In6() && !src.IsLoopback() && !src.IsMulticast() && !src.IsUnspecified() &&
		!src.IsLinkLocalUnicast() && !src.IsInterfaceLocalMulticast() && src != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// kickTimer wakes the expiry loop when it sleeps without a timer and an
// attempt is tracked now. An attempt whose deadline comes before the
// loop's timer is expired at the end of a batch, or at the timer, or at
// its source's next knock, whichever comes first. d.mu is held.
func (d *Daemon) kickTimer() {
	if !d.armed && d.m.Len() > 0 {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// event receives matcher events; d.mu is held. The lines of knock
// progress are held back until the batch of packets (or of expiries) that
// caused them has been handled (logx.Logger.Deferf), and stamped with the
// packet's time: on a router, each line written and stamped on its own
// cost a write and two clock readings (system calls on 32-bit MIPS).
func (d *Daemon) event(e match.Event) {
	dr := d.slots[e.Door].door
	switch e.Kind {
	case match.Stage:
		*d.slots[e.Door].last = Last{At: e.At, Src: e.Src, Stage: e.Stage, Of: len(dr.Knock.Steps)}
		if e.Stage == 1 {
			// Anyone can send first knocks from spoofed addresses: they
			// have a budget of their own, so that a flood of them does
			// not use up the door's (and hide the lines of a knock that
			// progresses meanwhile).
			if !d.firstKnockLines.AllowAt(e.At) {
				return
			}
			d.names.lookup(e.Src)
			d.log.DeferLine(e.At, d.eventLine(e.Src, dr.Name, ": Stage 1"))
			return
		}
		d.doorLines.DeferfAt(dr.Name, e.At, "%s: %s: Stage %d", d.names.name(e.Src), dr.Name, e.Stage)
	case match.Open:
		if d.replayed(e.Door, e.Src) {
			return
		}
		d.doorLines.DeferfAt(dr.Name, e.At, "%s: %s: OPEN SESAME", d.names.name(e.Src), dr.Name)
		d.success(e.Door, e.Src, e.At, nil)
	case match.Timeout:
		if e.Stage == 1 {
			if d.firstTimeoutLines.AllowAt(e.At) {
				d.log.DeferLine(e.At, d.eventLine(e.Src, dr.Name, ": sequence timeout (stage 1)"))
			}
			return
		}
		d.doorLines.DeferfAt(dr.Name, e.At, "%s: %s: sequence timeout (stage %d)", d.names.name(e.Src), dr.Name, e.Stage)
	case match.Evicted:
		if d.log.Debugging() {
			d.log.Debugf("%s: %s: attempt dropped, table full (stage %d)", e.Src, dr.Name, e.Stage)
		}
	}
}

// eventLine returns "src: door what" in d.line, the form of Deferf's
// "%s: %s: Stage 1": a flood's first knocks and their timeouts, every one
// logged at 20 a second, cost no formatting and no allocation. d.mu is
// held.
func (d *Daemon) eventLine(src netip.Addr, door, what string) []byte {
	d.line = append(append(append(d.names.appendName(d.line[:0], src), ": "...), door...), what...)
	return d.line
}

// success hands what door slot i does for src to the acter, which starts
// the start command and does the rest off the packet path. d.mu is held.
func (d *Daemon) success(i int, src netip.Addr, at time.Time, req *door.Request) {
	dr := d.slots[i].door
	d.stats.successes++
	*d.slots[i].last = Last{At: at, Src: src, Opened: true}
	switch {
	case dr.OneTime != nil:
		d.nextOneTime(i)
	case dr.Rotate != nil:
		d.burn(i)
	}
	s := door.Success{Door: dr, Src: src, At: at, Grant: dr.Actions.Grant, Duration: dr.Actions.Duration,
		Timeout: dr.Actions.CmdTimeout}
	s.Start, s.Stop = dr.Actions.Commands(src.Is6())
	if req != nil {
		s.Grant = req.Grant
		if req.Duration > 0 {
			s.Duration = req.Duration
		}
		if req.Command != "" {
			s.Start, s.Stop, s.SPA = req.Command, "", true
		}
	}
	// The status tells what became of the command once it is started.
	seq := d.opened.add(Event{At: at, Door: dr.Name, Src: src})
	if s.Start != "" {
		s.Report = func(what string, dropped bool) { d.report(seq, what, dropped) }
	}
	if d.acter != nil && !d.acter.Do(s) {
		d.stats.dropped++
	}
	d.opening = true
}

// report records what became of the start command of the success seq,
// and whether its other actions were dropped. The acter calls it, from
// Do (d.mu held) or later from another goroutine: it takes no d.mu.
func (d *Daemon) report(seq uint64, what string, dropped bool) {
	d.opened.setWhat(seq, what)
	if dropped {
		d.lateDrops.Add(1)
	}
}

// expiryLoop expires attempts and moves rotating knocks' windows. While
// attempts are tracked it wakes every expiryTick at most (wakeFor) and at
// least (the packet path kicks it only when it sleeps without a timer, not
// for each new deadline), so a timeout is logged at most expiryTick after
// it is due. It sleeps without a timer while nothing is tracked.
func (d *Daemon) expiryLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var last time.Time // when it last woke for its timer
	for {
		d.mu.Lock()
		next, armed := d.m.NextDeadline()
		d.armed = armed
		wake, ok := wakeFor(next, d.nextRotation, last)
		d.mu.Unlock()
		var c <-chan time.Time
		if ok {
			wait := wake.Sub(d.now())
			if armed && wait > expiryTick {
				wait = expiryTick
			}
			t.Reset(wait)
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
			last = d.now()
			d.expire()
		}
		d.kicked()
	}
}

// expiryTick is the shortest time between two wake-ups of the expiry loop
// for deadlines: it expires every attempt due by then. Timeouts are
// enforced on time anyway (a source's knock first expires that source's
// attempts whose time is up), and on a link with traffic the end of each
// batch of packets expires what is due (handle): the loop's wake-ups
// matter on a quiet link, to log the last timeouts and give their memory
// back. On a 24Kc a wake-up of the loop costs several times what the
// batch's packets do: at one a second, a steady trickle of first knocks
// (port scanners hit knock ports all day) cost knockd-go three times
// knockd 0.8's CPU.
const expiryTick = 10 * time.Second

// kicked runs in the expiry loop after a kick or an expiry: it gives a
// flood's memory back once the flood has expired.
func (d *Daemon) kicked() {
	d.mu.Lock()
	release := d.releasing
	d.releasing = false
	d.mu.Unlock()
	if release {
		d.release()
	}
}

// wakeFor returns when the expiry loop wakes: at the next attempt's
// deadline, but not before expiryTick has passed since its last wake-up
// (last), or at the next rotation (zero: none) if that comes first, on
// time: a rotating knock's window moves when its step ends. ok is false
// for neither.
func wakeFor(attempt, rotation, last time.Time) (t time.Time, ok bool) {
	if !attempt.IsZero() {
		t, ok = attempt, true
		if l := last.Add(expiryTick); t.Before(l) {
			t = l
		}
	}
	if !rotation.IsZero() && (!ok || rotation.Before(t)) {
		t, ok = rotation, true
	}
	return t, ok
}

// expire removes the attempts whose time is up and moves the windows of
// rotating knocks.
func (d *Daemon) expire() {
	defer d.recoverPacket()
	defer d.log.Flush() // the timeouts' lines (event), in one write
	d.expireLocked()
}

// releaseAfter is the fewest sources a flood must have had tracked at
// once for its end to give memory back: once the table is down to an
// eighth of that peak, the memory it freed (the matcher's table shrinks
// with it) is returned to the system at once, where the collector would
// otherwise keep it for up to two minutes and then give it back slowly.
// The collection that takes costs the router's CPU tens of milliseconds to
// a few hundred, once per flood.
const releaseAfter = 4096

// endBatch ends a batch of packets, in the capture goroutine. A door that
// opened first gets its command started: the runtime has one processor
// (tune.Procs), where the goroutines that start it would otherwise wait
// until this one sleeps. (The spawner's request went out from the packet
// path already, unless it would have waited; the start goroutine that
// sends it then, or starts the command itself without a spawner, runs
// here.) Then the attempts due by the last packet's time expire (no clock
// reading unless one is due), and the batch's log lines are written.
func (d *Daemon) endBatch() {
	d.mu.Lock()
	next, ok := d.m.NextDeadline()
	due := ok && !d.lastAt.Before(next)
	opened := d.opening
	d.opening = false
	d.mu.Unlock()
	if opened {
		runtime.Gosched()
	}
	if due {
		d.expire()
	}
	d.log.Flush()
}

// expireLocked expires under the lock. When a flood's sources have
// expired it kicks the expiry loop to give their memory back (kicked): a
// collection, the loop's work, not the packet path's.
func (d *Daemon) expireLocked() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.peak = max(d.peak, d.m.Sources())
	d.m.Expire()
	if !d.nextRotation.IsZero() && !d.now().Before(d.nextRotation) {
		d.rotate(d.now())
	}
	if n := d.m.Sources(); d.peak >= releaseAfter && n <= d.peak/8 {
		d.peak = n
		d.releasing = true
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// Counters are what SIGUSR1 logs and the status shows.
type Counters struct {
	Packets, KernelPackets, KernelDrops uint64
	Attempts, Sources                   int
	Evictions                           uint64
	Ignored                             uint64 // packets from sources that cannot knock
	Successes, ActionsDropped           uint64
	SPAAccepted, SPARejected            uint64
	RotatingReplays                     uint64 // burnt rotating sequences knocked again
	Panics                              uint64
	Running, Pending                    int // commands running; stop commands waiting
}

// DoorStatus is a running door and its attempts in progress.
type DoorStatus struct {
	Door     *door.Door
	Attempts int
	Last     Last // the last knock seen since the daemon started
}

// Last is the last knock or SPA packet seen for a door (zero At: none).
type Last struct {
	At        time.Time
	Src       netip.Addr
	Stage, Of int   // a knock reached step Stage of Of
	Opened    bool  // the door opened
	Err       error // an SPA packet was rejected
}

// What says what happened: "stage 1 of 3", "opened", "SPA packet
// rejected: …".
func (l Last) What() string {
	switch {
	case l.Opened:
		return "opened"
	case l.Err != nil:
		return "SPA packet rejected: " + l.Err.Error()
	case l.Stage > 0:
		return "stage " + strconv.Itoa(l.Stage) + " of " + strconv.Itoa(l.Of)
	}
	return ""
}

// Status is what the daemon is doing.
type Status struct {
	Doors    []DoorStatus
	Opened   []Event // the last successes, newest first
	Rejected []Event // the last rejections of authentic SPA packets, newest first
	Counters Counters
}

// Status returns the doors, their attempts in progress, the last
// successes and rejections, and the counters.
func (d *Daemon) Status() Status {
	c := d.counters()
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{Counters: c, Opened: d.opened.list(), Rejected: d.rejected.list()}
	for i, s := range d.slots {
		if s.base != nil && i > 0 && d.slots[i-1].base == s.base {
			st.Doors[len(st.Doors)-1].Attempts += d.m.DoorLen(i) // a rotating knock's other steps
			continue
		}
		dr := s.door
		if s.base != nil {
			dr = s.base
		}
		var last Last
		if l := d.last[dr.Name]; l != nil {
			last = *l
		}
		st.Doors = append(st.Doors, DoorStatus{Door: dr, Attempts: d.m.DoorLen(i), Last: last})
	}
	return st
}

// counters reads the kernel's counts and returns every counter.
func (d *Daemon) counters() Counters {
	pk, dr := d.src.Stats()
	running, pending := d.runner.Running(), d.runner.Pending()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.kernelPackets += pk
	d.stats.kernelDrops += dr
	c := d.stats
	return Counters{Packets: c.packets, KernelPackets: c.kernelPackets, KernelDrops: c.kernelDrops,
		Attempts: d.m.Len(), Sources: d.m.Sources(), Evictions: d.m.Evictions, Ignored: c.ignored,
		Successes: c.successes, ActionsDropped: c.dropped + d.lateDrops.Load(), SPAAccepted: c.spaAccepted, SPARejected: c.spaRejected,
		RotatingReplays: c.rotatingReplays, Panics: c.panics, Running: running, Pending: pending}
}

// Stats returns a one-line summary of the counters, for SIGUSR1, with the
// resident memory that shows whether memory follows the attempt table.
func (d *Daemon) Stats() string {
	c := d.counters()
	return fmt.Sprintf("stats: packets %d, kernel packets %d, kernel drops %d, attempts %d, sources %d, evictions %d, "+
		"ignored sources %d, successes %d, actions dropped %d, SPA accepted %d, SPA rejected %d, rotating replays %d, panics %d, "+
		"running commands %d, pending stop commands %d, goroutines %d, resident %d KiB",
		c.Packets, c.KernelPackets, c.KernelDrops, c.Attempts, c.Sources, c.Evictions,
		c.Ignored, c.Successes, c.ActionsDropped, c.SPAAccepted, c.SPARejected, c.RotatingReplays, c.Panics, c.Running, c.Pending,
		runtime.NumGoroutine(), residentKiB())
}

// residentKiB returns the process's resident memory from /proc (0 when
// it cannot be read).
func residentKiB() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize()) >> 10
}
