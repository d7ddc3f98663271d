package rotate

// MaxBurnt bounds the counters a Burnt remembers.
const MaxBurnt = 8

// Burnt records the counters whose sequences opened one door, so that
// none is accepted twice. Only counters of the current window (current-1
// to current+1) can be accepted, so it forgets older ones: Burn forgets
// counters more than two below the one it burns (they are older than any
// window that contains it), Prune those older than current-1. It holds
// at most MaxBurnt counters (the smallest goes first), which only matters
// when the clock jumps back and forth.
//
// The zero value is ready to use. A Burnt is not safe for concurrent use.
type Burnt struct {
	c []uint64
}

// IsBurnt reports whether counter was burnt.
func (b *Burnt) IsBurnt(counter uint64) bool {
	for _, c := range b.c {
		if c == counter {
			return true
		}
	}
	return false
}

// Burn records counter as used.
func (b *Burnt) Burn(counter uint64) {
	if counter >= 2 {
		b.Prune(counter - 1)
	}
	if b.IsBurnt(counter) {
		return
	}
	if len(b.c) == MaxBurnt {
		min := 0
		for i, c := range b.c {
			if c < b.c[min] {
				min = i
			}
		}
		b.c = append(b.c[:min], b.c[min+1:]...)
	}
	b.c = append(b.c, counter)
}

// Use burns counter and reports whether it was still unused: the check
// and the burn the daemon makes when a rotating sequence completes.
func (b *Burnt) Use(counter uint64) bool {
	if b.IsBurnt(counter) {
		return false
	}
	b.Burn(counter)
	return true
}

// Prune forgets the counters older than current-1, which no window at
// current accepts.
func (b *Burnt) Prune(current uint64) {
	if current == 0 {
		return
	}
	keep := b.c[:0]
	for _, c := range b.c {
		if c >= current-1 {
			keep = append(keep, c)
		}
	}
	b.c = keep
}

// Len returns the number of counters remembered.
func (b *Burnt) Len() int { return len(b.c) }
