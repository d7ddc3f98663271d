package match

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// v4 is the key of IPv4 address i.
func v4(i uint32) key { return key{0, 0, 0xffff, i} }

// v6 is the key of 2001:db8::/32 with word w (0 to 3) i.
func v6(w int, i uint32) key {
	k := key{0x20010db8}
	k[w] = i
	return k
}

func TestKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr, back string
		k          key
	}{
		{"198.51.100.7", "198.51.100.7", key{0, 0, 0xffff, 0xc6336407}},
		{"::ffff:198.51.100.7", "198.51.100.7", key{0, 0, 0xffff, 0xc6336407}},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", key{0x20010db8, 0x10002, 0x30004, 0x50006}},
		{"fe80::1%eth0", "fe80::1", key{0xfe800000, 0, 0, 1}},
		{"::", "::", key{}},
		{"0.0.0.0", "0.0.0.0", key{0, 0, 0xffff, 0}},
	} {
		k := keyOf(netip.MustParseAddr(c.addr))
		if k != c.k || k.addr() != netip.MustParseAddr(c.back) {
			t.Errorf("%s: key %#x, address %v; want %#x, %s", c.addr, k, k.addr(), c.k, c.back)
		}
	}
}

// checkTable checks t's invariants: a power of two of slots, at most half
// of them used, n counting them, and every source reachable by a lookup
// (no empty slot between its hash's slot and its own).
func checkTable(t *table) error {
	size := len(t.slots)
	if size < minSlots || size&(size-1) != 0 {
		return fmt.Errorf("%d slots", size)
	}
	n := 0
	for i, s := range t.slots {
		if s == nil {
			continue
		}
		n++
		mask := size - 1
		for j := int(t.hash(&s.key)) & mask; j != i; j = (j + 1) & mask {
			if t.slots[j] == nil {
				return fmt.Errorf("%v in slot %d, after the empty slot %d", s.ip(), i, j)
			}
		}
		if t.get(&s.key) != s {
			return fmt.Errorf("%v in slot %d not found", s.ip(), i)
		}
	}
	if n != t.n {
		return fmt.Errorf("%d sources in the slots, n = %d", n, t.n)
	}
	if 2*n > size {
		return fmt.Errorf("%d sources in %d slots", n, size)
	}
	return nil
}

// tableOps runs ops on a table and on a map, the oracle, checking after
// each that they agree. An op is add, remove or get of one of keys.
type tableOps struct {
	t    table
	want map[key]*source
}

func newTableOps() *tableOps {
	o := &tableOps{want: make(map[key]*source)}
	o.t.init(minSlots)
	return o
}

// add adds k if absent, then checks that both agree on k.
func (o *tableOps) add(k key) error {
	if o.want[k] == nil {
		s := &source{key: k}
		o.t.add(s)
		o.want[k] = s
	}
	return o.get(k)
}

// del removes k if present, then checks that both agree on k.
func (o *tableOps) del(k key) error {
	if s := o.want[k]; s != nil {
		o.t.remove(s)
		delete(o.want, k)
	}
	return o.get(k)
}

// toggle adds k if absent, else removes it.
func (o *tableOps) toggle(k key) error {
	if o.want[k] == nil {
		return o.add(k)
	}
	return o.del(k)
}

func (o *tableOps) get(k key) error {
	if got, want := o.t.get(&k), o.want[k]; got != want {
		return fmt.Errorf("get(%v) = %p, want %p", k.addr(), got, want)
	}
	if o.t.n != len(o.want) {
		return fmt.Errorf("n = %d, want %d", o.t.n, len(o.want))
	}
	return nil
}

// all checks every source the oracle holds, and the table's invariants.
func (o *tableOps) all() error {
	for k := range o.want {
		if err := o.get(k); err != nil {
			return err
		}
	}
	return checkTable(&o.t)
}

func TestTable(t *testing.T) {
	t.Parallel()
	o := newTableOps()
	a, b := v4(0xc6336407), v6(3, 1)
	for _, err := range []error{o.get(a), o.add(a), o.add(b), o.add(a), o.all(), o.del(a), o.get(b), o.del(a), o.del(b), o.all()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if o.t.n != 0 {
		t.Fatalf("%d sources left", o.t.n)
	}
}

// TestTableGrowsAndShrinks: the table doubles once more than half full,
// and shrinks back to about a quarter full once less than an eighth is
// in use, down to its smallest size.
func TestTableGrowsAndShrinks(t *testing.T) {
	t.Parallel()
	o := newTableOps()
	// steps adds (or removes) sources from..to-1, then checks the size.
	steps := func(from, to uint32, del bool, slots int) {
		t.Helper()
		for i := from; i < to; i++ {
			var err error
			if del {
				err = o.del(v4(i))
			} else {
				err = o.add(v4(i))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		o.t.shrink()
		if len(o.t.slots) != slots {
			t.Fatalf("%d sources in %d slots, want %d", o.t.n, len(o.t.slots), slots)
		}
		if err := o.all(); err != nil {
			t.Fatal(err)
		}
	}
	steps(0, minSlots/2, false, minSlots)
	steps(minSlots/2, minSlots/2+1, false, 2*minSlots)
	const n = 100000
	steps(minSlots/2+1, n, false, 262144)
	steps(0, n-32768, true, 262144) // 32768 left: an eighth, not less
	steps(n-32768, n-32767, true, 131072)
	steps(n-32767, n-3, true, minSlots)
	steps(n-3, n, true, minSlots)
}

// TestTableAgainstMap adds and removes sources at random, then removes
// most, against a map, under a random seed and under seeds that make
// every source collide (one long run: every removal shifts it back) or
// many.
func TestTableAgainstMap(t *testing.T) {
	t.Parallel()
	seeds := map[string]func(*table){
		"random": func(*table) {},
		// Every key hashes alike.
		"constant": func(t *table) { t.seed = [5]uint64{} },
		// IPv4 addresses differing in their last byte only hash
		// alike, and IPv6 ones differing in their first three words.
		"weak": func(t *table) { t.seed = [5]uint64{0, 0, 0, 0, 1 << 40} },
	}
	for name, seed := range seeds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, 2))
			for _, space := range []uint32{8, 100, 2000} {
				o := newTableOps()
				seed(&o.t)
				ops := 20000
				if name == "constant" {
					ops = 4000
				}
				for op := range ops {
					i := r.Uint32N(space)
					k := v4(0x0a000000 + i)
					if i%3 == 0 {
						k = v6(int(i/3)%4, i)
					}
					var err error
					if op < ops*3/4 && r.Uint32N(2) == 0 {
						err = o.add(k)
					} else {
						err = o.del(k)
					}
					if err != nil {
						t.Fatalf("space %d, op %d: %v", space, op, err)
					}
					if op%1000 == 0 {
						o.t.shrink()
						if err := o.all(); err != nil {
							t.Fatalf("space %d, op %d: %v", space, op, err)
						}
					}
				}
				if err := o.all(); err != nil {
					t.Fatalf("space %d: %v", space, err)
				}
			}
		})
	}
}

// FuzzTable: a byte string drives adds, removes and lookups, checked
// against a map. The first byte picks the seed (random, or one under
// which every key collides), then each byte is an op on one of 64 keys
// (its low 6 bits): add or remove (top bit clear, toggling the key), or
// look up (top bit set); with bit 6 set, the table then shrinks if it
// is mostly empty.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 0x81, 0x82, 2})
	f.Add([]byte{1, 1, 2, 3, 4, 5, 1, 2, 0x83, 3, 4, 0x85})
	f.Add([]byte("\x01abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ...zyxwvutsrqponmlkjihgfedcba"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		o := newTableOps()
		if ops[0]&1 == 1 {
			o.t.seed = [5]uint64{}
		}
		for n, b := range ops[1:] {
			i := uint32(b & 63)
			k := v4(0xc0000200 + i)
			if i&1 == 1 {
				k = v6(int(i>>1)&3, i)
			}
			var err error
			if b&0x80 != 0 {
				err = o.get(k)
			} else {
				err = o.toggle(k)
			}
			if err != nil {
				t.Fatalf("op %d (%#x): %v", n, b, err)
			}
			if b&0x40 != 0 {
				o.t.shrink()
			}
		}
		if err := o.all(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTableRunsAreShort fills a table half full with sources in the
// patterns a flood's spoofed addresses take (a scan of consecutive
// addresses, addresses a power of two apart, IPv6 addresses varying in
// one word) and checks that lookups stay short: about 1.5 slots a
// source, as with a random hash at that load, and no long run.
func TestTableRunsAreShort(t *testing.T) {
	t.Parallel()
	const n = 32768
	patterns := []struct {
		name string
		key  func(i uint32) key
	}{
		{"consecutive", func(i uint32) key { return v4(0x0a000000 + i) }},
		{"256 apart", func(i uint32) key { return v4(i << 8) }},
		{"65536 apart", func(i uint32) key { return v4(i << 16) }},
		{"IPv6 interface IDs", func(i uint32) key { return v6(3, i) }},
		{"IPv6 prefixes", func(i uint32) key { return v6(1, i<<16) }},
		{"IPv6 high word", func(i uint32) key { return v6(0, i<<17) }},
	}
	for _, p := range patterns {
		var tb table
		tb.init(minSlots)
		for i := range uint32(n) {
			tb.add(&source{key: p.key(i)})
		}
		probes, longest := 0, 0
		mask := len(tb.slots) - 1
		for i, s := range tb.slots {
			if s != nil {
				d := (i - int(tb.hash(&s.key))) & mask
				probes += d + 1
				longest = max(longest, d+1)
			}
		}
		mean := float64(probes) / n
		t.Logf("%s: %d sources in %d slots, %.2f slots a lookup, %d at most", p.name, n, len(tb.slots), mean, longest)
		if mean > 2 || longest > 100 {
			t.Errorf("%s: lookups take %.2f slots on average, %d at most", p.name, mean, longest)
		}
	}
}

// TestMatcherGivesMemoryBack: once a flood's attempts have expired, the
// table is back to its smallest size and the free lists hold a few
// entries.
func TestMatcherGivesMemoryBack(t *testing.T) {
	t.Parallel()
	d := door("d", "1,2,3")
	m, _, c := setup(0, d)
	for i := range uint32(100000) {
		m.Process(Packet{Src: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Dst: addr("192.0.2.1"),
			Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
	}
	if m.Sources() != DefaultMax || len(m.sources.slots) != 2*DefaultMax {
		t.Fatalf("%d sources in %d slots", m.Sources(), len(m.sources.slots))
	}
	// A legitimate knock, 5 s later, outlives the flood.
	c.add(5 * time.Second)
	m.Process(tcp("198.51.100.7", 1))
	m.Process(tcp("198.51.100.7", 2))
	c.add(5 * time.Second)
	m.Expire()
	if m.Sources() != 1 || len(m.sources.slots) != minSlots || m.nFreeAtt > freeFloor || m.nFreeSrc > freeFloor {
		t.Fatalf("%d sources in %d slots, %d free attempts, %d free sources", m.Sources(), len(m.sources.slots), m.nFreeAtt, m.nFreeSrc)
	}
	if n := countFree(m); n != [2]int{m.nFreeAtt, m.nFreeSrc} {
		t.Fatalf("free lists of %d attempts, %d sources; counted %d, %d", n[0], n[1], m.nFreeAtt, m.nFreeSrc)
	}
	c.add(time.Minute)
	m.Expire()
	if m.Sources() != 0 || m.Len() != 0 || len(m.sources.slots) != minSlots {
		t.Fatalf("%d sources, %d attempts in %d slots", m.Sources(), m.Len(), len(m.sources.slots))
	}
}

// countFree walks m's free lists.
func countFree(m *Matcher) (n [2]int) {
	for a := m.freeAtt; a != nil; a = a.next {
		n[0]++
	}
	for s := m.freeSrc; s != nil; s = s.free {
		n[1]++
	}
	return n
}

// TestChurnAllocatesNothing: under a steady churn of new sources (1000 a
// second, seq_timeout 5 s, Expire every second) the free lists are not
// trimmed below what the next second reuses: the packet path allocates
// nothing.
func TestChurnAllocatesNothing(t *testing.T) {
	c := newClock()
	m := New([]Door{{Steps: door("d", "1,2,3").Steps, Timeout: 5 * time.Second}}, 0, c.now, func(Event) {})
	next := uint32(0)
	second := func() {
		for range 1000 {
			next++
			m.Process(Packet{Src: netip.AddrFrom4([4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)}), Dst: addr("192.0.2.1"),
				Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
			c.add(time.Millisecond)
		}
		m.Expire()
	}
	for range 10 {
		second()
	}
	if n := testing.AllocsPerRun(20, second); n != 0 {
		t.Errorf("%.1f allocations a simulated second", n)
	}
}

// TestFullTableAllocatesNothing: once the table is full, a flood of
// first knocks from new sources evicts and reuses: nothing allocates.
func TestFullTableAllocatesNothing(t *testing.T) {
	c := newClock()
	m := New([]Door{door("d", "1,2,3").Door}, 1000, c.now, func(Event) {})
	next := uint32(0)
	knock := func() {
		next++
		m.Process(Packet{Src: netip.AddrFrom4([4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)}), Dst: addr("192.0.2.1"),
			Local: true, Port: l4.Port{Proto: l4.TCP, Num: 1}, Flags: syn})
	}
	for range 2000 {
		knock()
	}
	if n := testing.AllocsPerRun(5000, knock); n != 0 || m.Len() != 1000 {
		t.Errorf("%.2f allocations a first knock, %d attempts", n, m.Len())
	}
}

// TestImportsNoCrypto: the seed comes from the runtime's generator, not
// crypto/rand, which would take a share of the routers' binaries.
func TestImportsNoCrypto(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the imports:", err)
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "crypto" || strings.HasPrefix(p, "crypto/") {
			t.Errorf("the matcher imports %s", p)
		}
	}
}

// BenchmarkTable and BenchmarkTableMap: the table and the map it
// replaces, holding 32768 sources, each op a lookup of a new source
// (missing), its add, and the removal of the oldest: a flood of first
// knocks once the table is full.
func BenchmarkTable(b *testing.B) {
	const n = 32768
	var t table
	t.init(minSlots)
	ring := make([]*source, n)
	for i := range ring {
		ring[i] = &source{key: v4(uint32(i))}
		t.add(ring[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := ring[i%n]
		t.remove(s)
		s.key = v4(uint32(n + i))
		if t.get(&s.key) != nil {
			b.Fatal("found")
		}
		t.add(s)
	}
}

func BenchmarkTableMap(b *testing.B) {
	const n = 32768
	t := make(map[key]*source)
	ring := make([]*source, n)
	for i := range ring {
		ring[i] = &source{key: v4(uint32(i))}
		t[ring[i].key] = ring[i]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := ring[i%n]
		delete(t, s.key)
		s.key = v4(uint32(n + i))
		if t[s.key] != nil {
			b.Fatal("found")
		}
		t[s.key] = s
	}
}
