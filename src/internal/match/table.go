package match

import (
	"math/rand/v2"
	"net/netip"
)

// key is a source address as the table's key: the four 32-bit words of
// its IPv6 form, most significant first; an IPv4 address is in its
// IPv4-mapped form, the fourth word. Words hash and compare faster than
// a netip.Addr (24 bytes, with its zone handle), and than 16 bytes,
// which a 32-bit CPU without unaligned loads reads one at a time.
type key [4]uint32

// keyOf returns a's key. An IPv4-mapped IPv6 address has the key of its
// IPv4 address.
func keyOf(a netip.Addr) key {
	if a.Is4() {
		b := a.As4()
		return key{0, 0, 0xffff, be32(b[:])}
	}
	b := a.As16()
	return key{be32(b[0:]), be32(b[4:]), be32(b[8:]), be32(b[12:])}
}

// be32 returns the big-endian word b starts with.
func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// addr returns k's address, an IPv4 one for an IPv4-mapped key.
func (k key) addr() netip.Addr {
	w := k[3]
	if k[0] == 0 && k[1] == 0 && k[2] == 0xffff {
		return netip.AddrFrom4([4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)})
	}
	var b [16]byte
	for i, w := range k {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	}
	return netip.AddrFrom16(b)
}

// table is the set of tracked sources, found by address. It replaces a
// Go map, which on 32-bit routers without AES instructions hashes
// through the runtime's generic code, and never gives back the storage
// it grew to under a flood.
//
// It is an open-addressing table with linear probing: a source sits in
// the first free slot at or after its hash's slot, and a lookup walks
// from there to the source or to an empty slot. At most half of the
// slots are used, so probe runs stay short; a removal shifts the later
// entries of its run back instead of leaving a tombstone, so that runs
// never grow with churn.
type table struct {
	slots []*source // a power of two of them
	n     int       // sources in slots
	// seed keys the hash. The sources are spoofed addresses an attacker
	// chooses: without the seed, they cannot choose ones that collide.
	seed [5]uint64
}

const (
	// minSlots is the table's smallest size: 256 bytes on 32-bit
	// systems.
	minSlots = 64
	// freeFloor is how many removed attempts and sources the matcher
	// keeps for reuse, however few are tracked: as many as the smallest
	// table holds.
	freeFloor = minSlots / 2
)

// init makes t an empty table of size slots, under a new seed (from the
// runtime's random generator, which the runtime seeds from the system).
func (t *table) init(size int) {
	t.slots = make([]*source, size)
	t.n = 0
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
}

// hash returns k's hash: the high half of a0 + a1·w0 + a2·w1 + a3·w2 +
// a4·w3 (mod 2^64), where w are the key's 32-bit words and a the seed,
// mixed by MurmurHash3's finalizer. The first part is Thorup's vector
// multiply-shift: for any two different keys, its two values are
// independent and uniform over the seeds, so no choice of addresses
// collides more often than chance. On a 32-bit CPU each word costs one
// 32x32->64 multiply and one 32-bit one. The finalizer (a bijection, so
// the values stay independent) breaks up the arithmetic progressions
// that addresses in sequence make of the first part, which lengthen
// linear probing's runs.
func (t *table) hash(k *key) uint32 {
	a := &t.seed
	h := uint32((a[0] + a[1]*uint64(k[0]) + a[2]*uint64(k[1]) + a[3]*uint64(k[2]) + a[4]*uint64(k[3])) >> 32)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// get returns the source of address k, or nil.
func (t *table) get(k *key) *source {
	mask := len(t.slots) - 1
	for i := int(t.hash(k)) & mask; ; i = (i + 1) & mask {
		if s := t.slots[i]; s == nil || s.key == *k {
			return s
		}
	}
}

// add adds s, whose address is not in the table yet, and doubles the
// table once more than half of it is in use.
func (t *table) add(s *source) {
	t.place(s)
	t.n++
	if 2*t.n > len(t.slots) {
		t.resize(2 * len(t.slots))
	}
}

// place puts s in the first free slot of its run.
func (t *table) place(s *source) {
	mask := len(t.slots) - 1
	i := int(t.hash(&s.key)) & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// remove takes s, which is in the table, out of it.
func (t *table) remove(s *source) {
	slots := t.slots
	mask := len(slots) - 1
	i := int(t.hash(&s.key)) & mask
	for slots[i] != s {
		i = (i + 1) & mask
	}
	// Slot i is free now. Each later entry of the run moves back into
	// the free slot unless that would put it before its own hash's slot
	// (where lookups for it start); the slot it leaves is then the free
	// one. The run ends at an empty slot.
	for j := (i + 1) & mask; slots[j] != nil; j = (j + 1) & mask {
		home := int(t.hash(&slots[j].key)) & mask
		if (j-home)&mask >= (j-i)&mask {
			slots[i] = slots[j]
			i = j
		}
	}
	slots[i] = nil
	t.n--
}

// shrink gives back the storage of a table that is mostly empty (less
// than an eighth of it in use), rebuilding it about a quarter full
// (between 3/16 and 3/8, or at its smallest size). Each rebuild, growing
// or shrinking, walks the table, but only after at least a sixteenth of
// its slots were added or removed since the last one: the cost spreads
// over them.
func (t *table) shrink() {
	if len(t.slots) <= minSlots || 8*t.n >= len(t.slots) {
		return
	}
	size := minSlots
	for 3*size < 8*t.n {
		size *= 2
	}
	t.resize(size)
}

// resize moves every source into a new array of size slots.
func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]*source, size)
	for _, s := range old {
		if s != nil {
			t.place(s)
		}
	}
}
