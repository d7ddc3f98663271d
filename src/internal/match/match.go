// Package match is the knock state machine: per source address and per
// door, it follows knock sequences with knockd 0.8's semantics, minus its
// defects. It is pure (no I/O, injected clock) and owned by one goroutine.
//
// Rules (research: knockd 0.8 §2.3–2.4, and the fixes this project takes):
//   - Each source is tracked per door; sources never affect each other.
//   - The next step of a door advances it; a TCP packet whose flags fail the
//     door's TCPFlags is ignored; any other packet to a knock port breaks
//     the attempt.
//   - A packet repeating the step just matched is ignored (SYN retransmits,
//     nc -z retries), unless the door is strict. A broken attempt restarts
//     at once if the packet is the door's first step (not when strict).
//   - Doors sharing a prefix advance in parallel.
//   - seq_timeout runs from the first knock and expires on time: the owner
//     calls Expire when NextDeadline passes.
//   - The table is capped: when full, the oldest first-step attempt is
//     evicted (a spoofed flood only ever creates those), then the oldest
//     other one. All operations are O(1) in the number of sources. So a
//     flood of first knocks from R new sources a second never evicts an
//     attempt past its first step, and a first-step attempt lives max/R
//     seconds under it: no policy blind to who is legitimate keeps them
//     longer on average, since max entries turn over at R a second
//     whatever the order.
package match

import (
	"net/netip"
	"slices"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Door is what the matcher knows of a door: its knock. A door without
// steps never matches (an SPA door, or a used-up one-time door).
type Door struct {
	Steps   []l4.Port
	Flags   l4.Flags   // TCP steps must satisfy this
	Target  netip.Addr // knocks must go to this address; zero: to one of the receiving device's
	Devices uint64     // bit i: knocks seen on device i count; 0: every device
	Timeout time.Duration
	// Strict keeps knockd's behaviour: a knock repeating the step just
	// matched breaks the attempt.
	Strict   bool
	Cooldown time.Duration
}

// Equal reports whether two doors match the same knocks the same way.
func (d Door) Equal(o Door) bool {
	return slices.Equal(d.Steps, o.Steps) && d.Flags == o.Flags && d.Target == o.Target &&
		d.Devices == o.Devices && d.Timeout == o.Timeout && d.Strict == o.Strict && d.Cooldown == o.Cooldown
}

// Packet is what the matcher needs of a decoded knock.
type Packet struct {
	Src   netip.Addr
	Dst   netip.Addr
	Local bool // Dst is one of the receiving device's current addresses
	Dev   int  // index of the receiving device (below 64)
	Port  l4.Port
	Flags uint8
	// At is when the packet was seen; zero: the matcher reads its clock.
	// A caller that has read the clock for the packet already passes it
	// (a reading is two system calls on 32-bit MIPS).
	At time.Time
}

// Kind is the kind of an Event.
type Kind int

// Event kinds.
const (
	_       Kind = iota
	Stage        // a step matched; Event.Stage is the stage reached (1-based)
	Open         // the whole sequence matched (OPEN SESAME)
	Timeout      // seq_timeout passed; Event.Stage is the stage reached
	Evicted      // dropped because the table was full
)

// Event reports progress of one source on one door.
type Event struct {
	Kind  Kind
	Src   netip.Addr
	Door  int // index into the doors given to New
	Stage int
	At    time.Time // the clock reading of the packet or expiry behind it
}

// Matcher tracks knock attempts. It is not safe for concurrent use.
type Matcher struct {
	doors    []Door
	now      func() time.Time
	base     time.Time // attempts' deadlines are offsets from it
	max      int
	sources  table
	fresh    list   // attempts at stage 1, oldest first
	advanced list   // attempts past stage 1 and cool-downs, oldest first
	exp      []list // per door: attempts by deadline (deadlines grow in arrival order)
	cool     []list // per door: cool-downs by deadline
	n        int
	emit     func(Event)
	// Removed attempts and sources are kept for reuse, so that a flood
	// of new sources allocates nothing once the table is full. The free
	// lists never hold more than the table did, and Expire trims them to
	// about as many as are tracked, so that a flood's memory goes back to
	// the garbage collector once it ends.
	freeAtt  *attempt
	freeSrc  *source
	nFreeAtt int
	nFreeSrc int

	// Evictions counts attempts dropped because the table was full.
	Evictions uint64

	// busy is set while Process or Expire runs: a door replaced from an
	// event callback is replaced once they return (replacing it at once
	// would free the attempt being worked on).
	busy     bool
	replaced []replacement
}

type replacement struct {
	i int
	d Door
}

// New returns a matcher for doors, holding at most max attempts. Events are
// passed to emit synchronously.
func New(doors []Door, max int, now func() time.Time, emit func(Event)) *Matcher {
	if max < 1 {
		max = DefaultMax
	}
	m := &Matcher{
		doors:    slices.Clone(doors),
		now:      now,
		base:     now(),
		max:      max,
		fresh:    list{k: byAge},
		advanced: list{k: byAge},
		exp:      make([]list, len(doors)),
		cool:     make([]list, len(doors)),
		emit:     emit,
	}
	for i := range doors {
		m.exp[i].k, m.cool[i].k = byDeadline, byDeadline
	}
	m.sources.init(minSlots)
	return m
}

// DefaultMax is the table size New uses for max < 1.
const DefaultMax = 32768

// Len returns the number of tracked attempts (including cool-downs).
func (m *Matcher) Len() int { return m.n }

// DoorLen returns the number of attempts and cool-downs of door i. It
// walks the door's lists: for the status, not the packet path.
func (m *Matcher) DoorLen(i int) int {
	n := 0
	for _, l := range []*list{&m.exp[i], &m.cool[i]} {
		for a := l.head; a != nil; a = a.link[byDeadline].next {
			n++
		}
	}
	return n
}

// Sources returns the number of tracked source addresses.
func (m *Matcher) Sources() int { return m.sources.n }

// Process feeds one packet to the matcher. IPv4-mapped IPv6 sources count
// as their IPv4 address.
func (m *Matcher) Process(p Packet) {
	m.busy = true
	defer m.done()
	now := p.At
	if now.IsZero() {
		now = m.now()
	}
	k := keyOf(p.Src)
	src := m.sources.get(&k)
	if src != nil {
		m.expireSource(src, now)
		if src.atts == nil {
			m.dropSource(src)
			src = nil
		}
	}
	st := p.Port
	dev := uint64(1) << (uint(p.Dev) & 63)
	for i := range m.doors {
		d := &m.doors[i]
		if len(d.Steps) == 0 || (d.Devices != 0 && d.Devices&dev == 0) {
			continue
		}
		if d.Target.IsValid() {
			if p.Dst != d.Target {
				continue
			}
		} else if !p.Local {
			continue
		}
		flagsOK := st.Proto != l4.TCP || d.Flags.Match(p.Flags)
		var a *attempt
		if src != nil {
			a = src.find(int32(i))
		}
		if a != nil {
			if a.stage < 0 { // cooling down after success
				continue
			}
			if !flagsOK {
				continue
			}
			if int(a.stage) >= len(d.Steps) { // cannot happen: doors are replaced with their attempts
				m.remove(a)
				continue
			}
			if st == d.Steps[a.stage] {
				m.advance(a, now)
				continue
			}
			if !d.Strict && st == d.Steps[a.stage-1] {
				continue // repeated knock
			}
			m.remove(a)
			if d.Strict || st != d.Steps[0] {
				continue
			}
		}
		if !flagsOK || st != d.Steps[0] {
			continue
		}
		src = m.start(src, &k, int32(i), now) // while the loop runs, src stays in the table
	}
	if src != nil && src.atts == nil {
		m.dropSource(src)
	}
}

func (s *source) find(door int32) *attempt {
	for a := s.atts; a != nil; a = a.next {
		if a.door == door {
			return a
		}
	}
	return nil
}

// start starts an attempt of src on door, first tracking k as src if src
// is nil, and returns src. The source is tracked once the table has room
// (a victim's source may go first): the table holds max sources at most.
func (m *Matcher) start(src *source, k *key, door int32, now time.Time) *source {
	for m.n >= m.max {
		victim := m.fresh.head
		if victim == nil {
			victim = m.advanced.head
		}
		if victim == nil {
			break
		}
		m.Evictions++
		m.emit(Event{Kind: Evicted, Src: victim.src.ip(), Door: int(victim.door), Stage: int(victim.stage), At: now})
		vs := victim.src
		m.remove(victim)
		if vs.atts == nil && vs != src {
			m.dropSource(vs)
		}
	}
	if src == nil {
		src = m.newSource(k)
	}
	a := m.freeAtt
	if a != nil {
		m.freeAtt = a.next
		m.nFreeAtt--
	} else {
		a = new(attempt)
	}
	a.src, a.door, a.deadline, a.next = src, door, m.since(now)+m.doors[door].Timeout, src.atts
	src.atts = a
	m.fresh.push(a)
	m.exp[door].push(a)
	m.n++
	m.advance(a, now)
	return src
}

func (m *Matcher) advance(a *attempt, now time.Time) {
	d := &m.doors[a.door]
	a.stage++
	m.emit(Event{Kind: Stage, Src: a.src.ip(), Door: int(a.door), Stage: int(a.stage), At: now})
	if int(a.stage) < len(d.Steps) {
		if a.stage == 2 {
			a.unlink(byAge)
			m.advanced.push(a)
		}
		return
	}
	m.emit(Event{Kind: Open, Src: a.src.ip(), Door: int(a.door), Stage: int(a.stage), At: now})
	if d.Cooldown <= 0 {
		m.remove(a)
		return
	}
	// Keep the record as a cool-down: this source cannot open this door
	// again until it passes.
	a.unlink(byAge)
	a.unlink(byDeadline)
	a.stage = -1
	a.deadline = m.since(now) + d.Cooldown
	m.advanced.push(a)
	m.cool[a.door].push(a)
}

// remove drops an attempt from every structure (but leaves an empty source
// in the table for the caller to drop).
func (m *Matcher) remove(a *attempt) {
	a.unlink(byAge)
	a.unlink(byDeadline)
	for p := &a.src.atts; *p != nil; p = &(*p).next {
		if *p == a {
			*p = a.next
			break
		}
	}
	*a = attempt{next: m.freeAtt}
	m.freeAtt = a
	m.nFreeAtt++
	m.n--
}

// since returns t as an offset from the matcher's base (monotonic when
// both are readings of the system's clock).
func (m *Matcher) since(t time.Time) time.Duration { return t.Sub(m.base) }

func (m *Matcher) expireSource(s *source, now time.Time) {
	t := m.since(now)
	for a := s.atts; a != nil; {
		next := a.next
		if t >= a.deadline {
			m.expire(a, now)
		}
		a = next
	}
}

func (m *Matcher) expire(a *attempt, now time.Time) {
	if a.stage > 0 {
		m.emit(Event{Kind: Timeout, Src: a.src.ip(), Door: int(a.door), Stage: int(a.stage), At: now})
	}
	m.remove(a)
}

// Expire removes every attempt whose deadline has passed, reporting
// Timeout events. Call it when NextDeadline passes.
func (m *Matcher) Expire() {
	m.busy = true
	defer m.done()
	now := m.now()
	t := m.since(now)
	for i := range m.exp {
		for _, l := range []*list{&m.exp[i], &m.cool[i]} {
			for l.head != nil && t >= l.head.deadline {
				src := l.head.src
				m.expire(l.head, now)
				if src.atts == nil {
					m.dropSource(src)
				}
			}
		}
	}
	m.trim()
}

// trim gives memory back after a flood: the table shrinks once mostly
// empty, and the free lists keep about as many entries as are tracked.
// Expire calls it (about once a second while anything is tracked), and
// so do Replace and Rebuild, which may drop many attempts at once; the
// packet path only reuses what is kept.
func (m *Matcher) trim() {
	m.sources.shrink()
	for keep := max(m.n, freeFloor); m.nFreeAtt > keep; m.nFreeAtt-- {
		m.freeAtt = m.freeAtt.next
	}
	for keep := max(m.sources.n, freeFloor); m.nFreeSrc > keep; m.nFreeSrc-- {
		m.freeSrc = m.freeSrc.free
	}
}

// NextDeadline returns when the earliest attempt expires; ok is false when
// nothing is tracked (so the owner need not wake up at all).
func (m *Matcher) NextDeadline() (t time.Time, ok bool) {
	var next time.Duration
	for i := range m.exp {
		for _, l := range []*list{&m.exp[i], &m.cool[i]} {
			if l.head != nil && (!ok || l.head.deadline < next) {
				next, ok = l.head.deadline, true
			}
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return m.base.Add(next), true
}

// newSource returns a tracked source for k, reusing a dropped one.
func (m *Matcher) newSource(k *key) *source {
	s := m.freeSrc
	if s != nil {
		m.freeSrc = s.free
		m.nFreeSrc--
		s.free = nil
	} else {
		s = new(source)
	}
	s.key = *k
	m.sources.add(s)
	return s
}

// dropSource stops tracking s (which has no attempts left).
func (m *Matcher) dropSource(s *source) {
	m.sources.remove(s)
	*s = source{free: m.freeSrc}
	m.freeSrc = s
	m.nFreeSrc++
}

// Replace installs d as door i, dropping the attempts and cool-downs of
// the door it replaces (their steps no longer apply). One-time and
// rotating doors change their knock this way. Called from an event
// callback, it takes effect when Process or Expire returns.
func (m *Matcher) Replace(i int, d Door) {
	if m.busy {
		m.replaced = append(m.replaced, replacement{i, d})
		return
	}
	m.dropDoor(i)
	m.doors[i] = d
	m.trim()
}

// done ends Process or Expire: replacements asked for meanwhile happen.
func (m *Matcher) done() {
	m.busy = false
	for len(m.replaced) > 0 {
		r := m.replaced[0]
		m.replaced = m.replaced[1:]
		m.Replace(r.i, r.d)
	}
	m.replaced = m.replaced[:0]
}

// dropDoor removes every attempt and cool-down of door i.
func (m *Matcher) dropDoor(i int) {
	for _, l := range []*list{&m.exp[i], &m.cool[i]} {
		for l.head != nil {
			a := l.head
			src := a.src
			m.remove(a)
			if src.atts == nil {
				m.dropSource(src)
			}
		}
	}
}

// Rebuild replaces every door (a reload). keep[j] names the old door whose
// attempts and cool-downs new door j takes over, or is negative; the
// attempts of old doors no new door keeps are dropped. An old door is kept
// at most once, and only the caller knows when that is right: when the old
// and new door match the same knocks.
func (m *Matcher) Rebuild(doors []Door, keep []int) {
	newOf := make([]int, len(m.doors))
	for i := range newOf {
		newOf[i] = -1
	}
	for j, o := range keep {
		if j < len(doors) && o >= 0 && o < len(m.doors) && newOf[o] < 0 && m.doors[o].Equal(doors[j]) {
			newOf[o] = j
		}
	}
	for i, j := range newOf {
		if j < 0 {
			m.dropDoor(i)
		}
	}
	exp := make([]list, len(doors))
	cool := make([]list, len(doors))
	for j := range doors {
		exp[j].k, cool[j].k = byDeadline, byDeadline
	}
	for i, j := range newOf {
		if j < 0 {
			continue
		}
		exp[j], cool[j] = m.exp[i], m.cool[i]
		for _, l := range []*list{&exp[j], &cool[j]} {
			for a := l.head; a != nil; a = a.link[byDeadline].next {
				a.link[byDeadline].in = l
				a.door = int32(j)
			}
		}
	}
	m.doors, m.exp, m.cool = slices.Clone(doors), exp, cool
	m.trim()
}
