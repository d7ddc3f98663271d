package match

import (
	"fmt"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/knockd-go/knockd-go/src/internal/config"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1700000000, 0)} }
func addr(s string) netip.Addr       { return netip.MustParseAddr(s) }
func door(name, seq string) *tdoor   { return mustDoor(name, seq, "") }

// tdoor is a door with the name the tests print.
type tdoor struct {
	Name string
	Door
}

func mustDoor(name, seq, flags string) *tdoor {
	s, err := config.ParseSequence(seq)
	if err != nil {
		panic(err)
	}
	d := &tdoor{Name: name, Door: Door{Steps: s, Timeout: 10 * time.Second}}
	if flags != "" {
		if err := l4.ParseFlags(flags, &d.Flags); err != nil {
			panic(err)
		}
	}
	return d
}

func plain(ts []*tdoor) []Door {
	var out []Door
	for _, t := range ts {
		out = append(out, t.Door)
	}
	return out
}

type rec struct {
	doors  []*tdoor
	events []string
}

func (r *rec) emit(e Event) {
	var k string
	switch e.Kind {
	case Stage:
		k = fmt.Sprintf("stage%d", e.Stage)
	case Open:
		k = "open"
	case Timeout:
		k = fmt.Sprintf("timeout%d", e.Stage)
	case Evicted:
		k = "evicted"
	}
	r.events = append(r.events, fmt.Sprintf("%s %s %s", e.Src, r.doors[e.Door].Name, k))
}

func (r *rec) take() string {
	s := strings.Join(r.events, "; ")
	r.events = nil
	return s
}

// knock describes one packet: "src port/proto [flags]".
func pkt(src string, port uint16, proto uint8, flags uint8) Packet {
	return Packet{Src: addr(src), Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.Proto(proto), Num: port}, Flags: flags}
}

const syn = 0x02
const ack = 0x10

func tcp(src string, port uint16) Packet { return pkt(src, port, uint8(l4.TCP), syn) }
func udp(src string, port uint16) Packet { return pkt(src, port, uint8(l4.UDP), 0) }

func setup(max int, doors ...*tdoor) (*Matcher, *rec, *clock) {
	r := &rec{doors: doors}
	c := newClock()
	return New(plain(doors), max, c.now, r.emit), r, c
}

func TestSequences(t *testing.T) {
	t.Parallel()
	A := "198.51.100.7"
	B := "198.51.100.8"
	tests := []struct {
		name  string
		doors []*tdoor
		pkts  []Packet
		want  string
	}{
		{"in order", []*tdoor{door("d", "1,2:udp,3")},
			[]Packet{tcp(A, 1), udp(A, 2), tcp(A, 3)},
			A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"wrong order breaks", []*tdoor{door("d", "1,2,3")},
			[]Packet{tcp(A, 1), tcp(A, 3), tcp(A, 2)},
			A + " d stage1"},
		{"wrong protocol breaks", []*tdoor{door("d", "1,2,3")},
			[]Packet{tcp(A, 1), udp(A, 2), tcp(A, 3)},
			A + " d stage1"},
		{"first port restarts a broken attempt", []*tdoor{door("d", "1,2,3")},
			[]Packet{tcp(A, 1), tcp(A, 3), tcp(A, 1), tcp(A, 2), tcp(A, 3)},
			A + " d stage1; " + A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"duplicate knocks ignored", []*tdoor{door("d", "4,2012,3")},
			[]Packet{tcp(A, 4), tcp(A, 4), tcp(A, 4), tcp(A, 2012), tcp(A, 2012), tcp(A, 3)},
			A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"repeated steps in the sequence still count", []*tdoor{door("d", "4,4,4,2012")},
			[]Packet{tcp(A, 4), tcp(A, 4), tcp(A, 4), tcp(A, 2012)},
			A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d stage4; " + A + " d open"},
		{"strict duplicates break", []*tdoor{func() *tdoor { d := door("d", "4,2012,3"); d.Strict = true; return d }()},
			[]Packet{tcp(A, 4), tcp(A, 4), tcp(A, 2012), tcp(A, 3)},
			A + " d stage1"},
		{"strict: the breaking knock does not restart", []*tdoor{func() *tdoor { d := door("d", "1,2,3"); d.Strict = true; return d }()},
			[]Packet{tcp(A, 1), tcp(A, 1), tcp(A, 2), tcp(A, 3), tcp(A, 1), tcp(A, 2), tcp(A, 3)},
			A + " d stage1; " + A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"flag mismatch ignored", []*tdoor{mustDoor("d", "1,2,3", "syn,!ack")},
			[]Packet{tcp(A, 1), pkt(A, 2, uint8(l4.TCP), syn|ack), pkt(A, 9, uint8(l4.TCP), ack), tcp(A, 2), tcp(A, 3)},
			A + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"flag mismatch cannot start", []*tdoor{mustDoor("d", "1,2", "syn")},
			[]Packet{pkt(A, 1, uint8(l4.TCP), ack), tcp(A, 2)},
			""},
		{"flags do not apply to udp", []*tdoor{mustDoor("d", "1:udp,2", "syn")},
			[]Packet{udp(A, 1), tcp(A, 2)},
			A + " d stage1; " + A + " d stage2; " + A + " d open"},
		{"shared prefix advances in parallel", []*tdoor{door("a", "1,2,3"), door("b", "1,2,4")},
			[]Packet{tcp(A, 1), tcp(A, 2), tcp(A, 4)},
			A + " a stage1; " + A + " b stage1; " + A + " a stage2; " + A + " b stage2; " + A + " b stage3; " + A + " b open"},
		{"short door inside long door", []*tdoor{door("short", "1,2"), door("long", "1,2,3")},
			[]Packet{tcp(A, 1), tcp(A, 2), tcp(A, 3)},
			A + " short stage1; " + A + " long stage1; " + A + " short stage2; " + A + " short open; " + A + " long stage2; " + A + " long stage3; " + A + " long open"},
		{"second source interleaves", []*tdoor{door("d", "1,2,3")},
			[]Packet{tcp(A, 1), tcp(B, 1), tcp(A, 2), tcp(B, 3), tcp(A, 3)},
			A + " d stage1; " + B + " d stage1; " + A + " d stage2; " + A + " d stage3; " + A + " d open"},
		{"knockd head-of-list bug is gone", []*tdoor{door("d", "1,2")},
			[]Packet{tcp(A, 1), tcp(B, 1), tcp(A, 7), tcp(B, 2)},
			A + " d stage1; " + B + " d stage1; " + B + " d stage2; " + B + " d open"},
		{"single-port door", []*tdoor{door("d", "5:udp")},
			[]Packet{udp(A, 5), udp(A, 5)},
			A + " d stage1; " + A + " d open; " + A + " d stage1; " + A + " d open"},
		{"port of no door step is neutral only if not a knock port", []*tdoor{door("d", "1,2,3")},
			[]Packet{tcp(A, 1), tcp(A, 99), tcp(A, 2), tcp(A, 3)},
			A + " d stage1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, r, _ := setup(0, tt.doors...)
			for _, p := range tt.pkts {
				m.Process(p)
			}
			if got := r.take(); got != tt.want {
				t.Errorf("events:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDestination(t *testing.T) {
	t.Parallel()
	d := door("d", "1,2")
	tgt := door("t", "1,3")
	tgt.Target = addr("203.0.113.9")
	m, r, _ := setup(0, d, tgt)
	A := "198.51.100.7"
	foreign := Packet{Src: addr(A), Dst: addr("192.0.2.200"), Local: false, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn}
	m.Process(foreign)
	foreign.Port.Num = 2
	m.Process(foreign)
	if got := r.take(); got != "" {
		t.Fatalf("knock to a foreign address: %q", got)
	}
	toTarget := Packet{Src: addr(A), Dst: addr("203.0.113.9"), Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn}
	m.Process(toTarget)
	toTarget.Port.Num = 3
	m.Process(toTarget)
	if got, want := r.take(), A+" t stage1; "+A+" t stage2; "+A+" t open"; got != want {
		t.Fatalf("knock to Target:\n got %q\nwant %q", got, want)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	d := door("d", "1,2,3")
	m, r, c := setup(0, d)
	A := "198.51.100.7"
	m.Process(tcp(A, 1))
	m.Process(tcp(A, 2))
	r.take()
	next, ok := m.NextDeadline()
	if !ok || !next.Equal(c.t.Add(10*time.Second)) {
		t.Fatalf("NextDeadline = %v, %v; want first knock + 10s", next, ok)
	}
	c.add(9999 * time.Millisecond)
	m.Expire()
	if got := r.take(); got != "" {
		t.Fatalf("expired early: %q", got)
	}
	c.add(time.Millisecond)
	m.Expire() // on time, without a packet
	if got, want := r.take(), A+" d timeout2"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if m.Len() != 0 || m.Sources() != 0 {
		t.Fatalf("table not empty: %d attempts, %d sources", m.Len(), m.Sources())
	}
	if _, ok := m.NextDeadline(); ok {
		t.Fatal("deadline left with nothing tracked")
	}
	// A late packet after the deadline (timer not yet run) cannot complete.
	m.Process(tcp(A, 1))
	m.Process(tcp(A, 2))
	c.add(11 * time.Second)
	m.Process(tcp(A, 3))
	if got, want := r.take(), A+" d stage1; "+A+" d stage2; "+A+" d timeout2"; got != want {
		t.Fatalf("late packet: got %q want %q", got, want)
	}
}

func TestCooldown(t *testing.T) {
	t.Parallel()
	d := door("d", "5:udp")
	d.Cooldown = 30 * time.Second
	m, r, c := setup(0, d)
	A, B := "198.51.100.7", "198.51.100.8"
	for i := 0; i < 10000; i++ {
		m.Process(udp(A, 5))
	}
	m.Process(udp(B, 5))
	if got, want := r.take(), A+" d stage1; "+A+" d open; "+B+" d stage1; "+B+" d open"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	c.add(30 * time.Second)
	m.Expire()
	m.Process(udp(A, 5))
	if got, want := r.take(), A+" d stage1; "+A+" d open"; got != want {
		t.Fatalf("after cooldown: got %q want %q", got, want)
	}
}

func TestCapEvictsFirstStageFirst(t *testing.T) {
	t.Parallel()
	d := door("d", "1,2,3")
	m, r, _ := setup(100, d)
	legit := "198.51.100.7"
	m.Process(tcp(legit, 1))
	m.Process(tcp(legit, 2)) // now advanced
	for i := 0; i < 100000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
	}
	if m.Len() > 100 || m.Sources() > 100 {
		t.Fatalf("table grew past its cap: %d attempts, %d sources", m.Len(), m.Sources())
	}
	if m.Evictions == 0 {
		t.Fatal("no evictions counted")
	}
	r.take()
	m.Process(tcp(legit, 3))
	if got, want := r.take(), legit+" d stage3; "+legit+" d open"; got != want {
		t.Fatalf("legitimate knock lost in flood: got %q want %q", got, want)
	}
}

// TestFloodIsO1 checks that work per packet does not grow with the number
// of tracked sources, by counting allocations and map size bounds rather
// than timing (timing belongs to make bench).
func TestFloodStateBounded(t *testing.T) {
	t.Parallel()
	d := door("d", "1,2,3")
	m, _, c := setup(1000, d)
	for round := 0; round < 5; round++ {
		for i := 0; i < 5000; i++ {
			a := netip.AddrFrom4([4]byte{10, byte(round), byte(i >> 8), byte(i)})
			m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
		}
		c.add(time.Second)
		m.Expire()
		if m.Len() > 1000 {
			t.Fatalf("round %d: %d attempts", round, m.Len())
		}
	}
	c.add(time.Minute)
	m.Expire()
	if m.Len() != 0 || m.Sources() != 0 {
		t.Fatalf("after expiry: %d attempts, %d sources", m.Len(), m.Sources())
	}
}

func BenchmarkProcessFlood(b *testing.B) {
	d := door("d", "1,2,3")
	c := newClock()
	m := New([]Door{d.Door}, 32768, c.now, func(Event) {})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
	}
}

// TestChurnPlateau simulates 2000 new sources a second, each knocking the
// first port once (seq_timeout 10 s), for 10 simulated minutes, and checks
// that the heap stops growing once the table holds its steady 20,000
// attempts: memory reaches a plateau under sustained churn.
func TestChurnPlateau(t *testing.T) {
	if testing.Short() {
		t.Skip("1.2M packets")
	}
	d := door("d", "1,2,3")
	c := newClock()
	m := New([]Door{d.Door}, 0, c.now, func(Event) {})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	var at2min uint64
	src := uint32(0)
	for sec := 1; sec <= 600; sec++ {
		for i := 0; i < 2000; i++ {
			src++
			a := netip.AddrFrom4([4]byte{10, byte(src >> 16), byte(src >> 8), byte(src)})
			m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
			c.add(time.Second / 2000)
		}
		m.Expire()
		if sec == 120 {
			at2min = heap()
			runtime.KeepAlive(m)
		}
	}
	if n := m.Len(); n < 19000 || n > 21000 {
		t.Fatalf("%d attempts tracked, want about 20000", n)
	}
	end := heap()
	runtime.KeepAlive(m)
	t.Logf("heap in use: %d KiB after 2 min, %d KiB after 10 min", at2min>>10, end>>10)
	if end > at2min+at2min/5 {
		t.Fatalf("heap grew from %d to %d KiB between minute 2 and 10: no plateau", at2min>>10, end>>10)
	}
}

// TestFloodMemoryGoesBack: after a flood of first knocks from 100,000
// distinct sources (5 s of it, seq_timeout 10 s) has expired, the matcher
// holds little more heap than a new one: the table shrinks back and the
// free lists keep few entries. With the table's default cap (32,768
// attempts) and one the whole flood fits in.
func TestFloodMemoryGoesBack(t *testing.T) {
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapInuse)
	}
	for _, limit := range []int{DefaultMax, 1 << 17} {
		d := door("d", "1,2,3")
		c := newClock()
		base := heap()
		m := New([]Door{d.Door}, limit, c.now, func(Event) {})
		fresh := heap()
		for i := range 100000 {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
			c.add(50 * time.Microsecond)
		}
		peak := heap()
		sources := m.Sources()
		c.add(time.Minute)
		m.Expire()
		after := heap()
		runtime.KeepAlive(m)
		t.Logf("cap %d: the matcher's heap in use: %d KiB new, %d KiB with %d sources tracked, %d KiB once they expired",
			limit, (fresh-base)>>10, (peak-base)>>10, sources, (after-base)>>10)
		if after > fresh+64<<10 {
			t.Errorf("cap %d: %d KiB held once the flood expired, %d KiB new", limit, (after-base)>>10, (fresh-base)>>10)
		}
	}
}

func TestReplaceDropsTheDoorsAttempts(t *testing.T) {
	t.Parallel()
	long, other := door("otp", "1000,2000,3000,4000"), door("other", "1000,2000,3000")
	m, r, _ := setup(0, long, other)
	A, B := "198.51.100.1", "198.51.100.2"
	for _, p := range []uint16{1000, 2000, 3000} {
		m.Process(tcp(A, p))
	}
	r.take()
	// The one-time door moves to a shorter sequence: A's attempt at
	// stage 3 must not survive into a door of two steps.
	short := mustDoor("otp", "5000,6000", "")
	m.Replace(0, short.Door)
	r.doors[0] = short
	m.Process(tcp(A, 4000))
	m.Process(tcp(A, 5000))
	m.Process(tcp(B, 5000))
	m.Process(tcp(B, 6000))
	if got := r.take(); got != "198.51.100.1 other timeout3; "+
		"198.51.100.1 otp stage1; 198.51.100.2 otp stage1; 198.51.100.2 otp stage2; 198.51.100.2 otp open" &&
		got != "198.51.100.1 otp stage1; 198.51.100.2 otp stage1; 198.51.100.2 otp stage2; 198.51.100.2 otp open" {
		t.Fatalf("events %q", got)
	}
	if m.Len() != 1 { // A at stage 1 of otp; A's attempt on other was broken by 4000
		t.Fatalf("%d attempts left", m.Len())
	}
	// A door without steps never matches.
	m.Replace(0, Door{})
	m.Process(tcp(A, 6000))
	m.Process(tcp(A, 5000))
	if got := r.take(); got != "" || m.Len() != 0 {
		t.Fatalf("an empty door matched: %q, %d attempts", got, m.Len())
	}
}

func TestRebuildKeepsUnchangedDoors(t *testing.T) {
	t.Parallel()
	a, b, c := door("a", "1,2,3"), door("b", "1,4,5"), door("c", "7,8")
	c.Cooldown = time.Minute
	m, r, clk := setup(0, a, b, c)
	A := "198.51.100.1"
	m.Process(tcp(A, 7))
	m.Process(tcp(A, 8)) // c opens: cool-down for A
	m.Process(tcp(A, 1))
	m.Process(tcp(A, 2))
	r.take()
	// Reload: b changes, a moves to index 2 unchanged, c stays at 1
	// unchanged, a new door d comes first.
	b2, d := door("b", "1,4,6"), door("d", "9,10")
	next := []*tdoor{d, c, a, b2}
	m.Rebuild(plain(next), []int{-1, 2, 0, 1})
	r.doors = next
	m.Process(tcp(A, 3)) // a completes from its kept stage 2
	m.Process(tcp(A, 7)) // c still cools down
	if got := r.take(); got != "198.51.100.1 a stage3; 198.51.100.1 a open" {
		t.Fatalf("after rebuild: %q", got)
	}
	// An old door kept under a changed knock is refused: its attempts go.
	m.Process(tcp(A, 9))
	m.Rebuild(plain(next), []int{3, 1, 2, 0}) // d's attempt offered to b2: not Equal
	if m.Len() != 1 {                         // only c's cool-down is left
		t.Fatalf("%d attempts after a mismatched keep", m.Len())
	}
	clk.add(2 * time.Minute)
	m.Expire()
	if _, ok := m.NextDeadline(); ok || m.Len() != 0 || m.Sources() != 0 {
		t.Fatalf("left over: %d attempts, %d sources", m.Len(), m.Sources())
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	d := door("wan6 only", "1,2")
	d.Devices = 1 << 1
	m, r, _ := setup(0, d)
	p := tcp("2001:db8::1", 1)
	m.Process(p) // device 0: ignored
	p.Dev = 1
	m.Process(p)
	p.Port.Num = 2
	m.Process(p)
	if got := r.take(); got != "2001:db8::1 wan6 only stage1; 2001:db8::1 wan6 only stage2; 2001:db8::1 wan6 only open" {
		t.Fatalf("events %q", got)
	}
}

// TestReplaceFromCallback: a door replaced by the OPEN event's callback
// (a one-time sequence used) is replaced after Process returns, without
// touching the attempt being processed.
func TestReplaceFromCallback(t *testing.T) {
	t.Parallel()
	d := door("otp", "1,2")
	c := newClock()
	var m *Matcher
	var events []string
	m = New([]Door{d.Door}, 0, c.now, func(e Event) {
		events = append(events, fmt.Sprint(e.Kind, e.Stage))
		if e.Kind == Open {
			m.Replace(0, Door{Steps: []l4.Port{{Proto: l4.TCP, Num: 3}}, Timeout: time.Second})
		}
	})
	m.Process(tcp("198.51.100.1", 1))
	m.Process(tcp("198.51.100.2", 1))
	m.Process(tcp("198.51.100.1", 2))
	if m.Len() != 0 || m.Sources() != 0 {
		t.Fatalf("after the replace: %d attempts, %d sources", m.Len(), m.Sources())
	}
	m.Process(tcp("198.51.100.2", 3))
	if got := strings.Join(events, " "); got != "1 1 1 1 1 2 2 2 1 1 2 1" { // kind stage: the old door's attempt of .2 is gone, 3 opens the new one
		t.Fatalf("events %q", got)
	}
}

// TestFirstKnockLifetimeUnderFlood: the bound the documentation gives. A
// flood of first knocks from R = 2000 new sources a second (1500
// addresses again and again, more than the table's N = 1000) pushes a
// first knock out after N/R = 0.5 s: a knock whose second port comes
// 0.4 s after the first opens, one whose second port comes 0.6 s after
// does not; once past its first port, a knock survives the flood for its
// whole seq_timeout (8 s between its second and third ports).
func TestFirstKnockLifetimeUnderFlood(t *testing.T) {
	t.Parallel()
	const n, rate, sources = 1000, 2000, 1500
	for _, c := range []struct {
		gap1, gap2 time.Duration
		open       bool
	}{
		{400 * time.Millisecond, 0, true},
		{600 * time.Millisecond, 0, false},
		{400 * time.Millisecond, 8 * time.Second, true},
	} {
		d := door("d", "1,2,3")
		d.Timeout = 10 * time.Second
		m, r, clk := setup(n, d)
		next := 0
		// flood sends first knocks for dur, one every 1/rate.
		flood := func(dur time.Duration) {
			for i := 0; i < int(dur*rate/time.Second); i++ {
				a := netip.AddrFrom4([4]byte{10, 0, byte(next >> 8), byte(next)})
				next = (next + 1) % sources
				m.Process(Packet{Src: a, Dst: addr("192.0.2.1"), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
				clk.add(time.Second / rate)
			}
		}
		legit := "198.51.100.7"
		flood(2 * time.Second) // the table is full
		m.Process(tcp(legit, 1))
		flood(c.gap1)
		m.Process(tcp(legit, 2))
		flood(c.gap2)
		r.take()
		m.Process(tcp(legit, 3))
		if opened := strings.Contains(r.take(), legit+" d open"); opened != c.open {
			t.Errorf("gaps %v, %v under the flood: opened %v, want %v", c.gap1, c.gap2, opened, c.open)
		}
		if m.Len() > n {
			t.Fatalf("%d attempts in a table of %d", m.Len(), n)
		}
	}
}

// TestTableMemory: a full table of first knocks from distinct sources (a
// spoofed flood's) holds at most this much heap an attempt: on a 64 MB
// router the table is most of the daemon's memory under a flood.
func TestTableMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	d := Door{Steps: []l4.Port{{Proto: l4.TCP, Num: 7000}, {Proto: l4.TCP, Num: 8000}}, Timeout: 5 * time.Second}
	const n = 32768
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	m := New([]Door{d}, n, func() time.Time { return now }, func(Event) {})
	for i := 0; i < 2*n; i++ {
		a := netip.AddrFrom4([4]byte{20, byte(i >> 16), byte(i >> 8), byte(i)})
		m.Process(Packet{Src: a, Dst: netip.AddrFrom4([4]byte{192, 0, 2, 1}), Local: true, Port: l4.Port{Proto: l4.TCP, Num: 7000}})
		now = now.Add(50 * time.Microsecond)
	}
	if m.Len() != n {
		t.Fatalf("%d attempts tracked, want %d", m.Len(), n)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := int(ms.HeapAlloc-before) / n
	t.Logf("%d bytes of heap an attempt", per)
	// An attempt (48 bytes on 32-bit systems, 80 on 64-bit ones), its
	// source (24, 32) and the source's two slots in the table, half full
	// (8, 16): 80 and 128 bytes. A Go map's slot took about 41 and 52
	// bytes (113 and 164 in all), and a time.Time deadline and a
	// netip.Addr source 24 and 32 more.
	most := 88
	if unsafe.Sizeof(uintptr(0)) == 8 {
		most = 136
	}
	if per > most {
		t.Fatalf("%d bytes of heap an attempt (attempt %d bytes, source %d), want %d at most",
			per, unsafe.Sizeof(attempt{}), unsafe.Sizeof(source{}), most)
	}
	runtime.KeepAlive(m)
}
