package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// Rotating knocks take windowSize slots each: the sequences of the
// time steps before, at and after now (clocks differ). Step k lives in
// slot k mod 3 of its door, so when time moves on, only the slot of the
// step that left the window changes (and loses its attempts); attempts on
// the other two survive. A sequence that opened the door is burnt: its
// slot is closed until the step leaves the window, and the step is never
// accepted again.

// windowSize is how many steps of a rotating knock are accepted at once.
const windowSize = 3

// rotatingSlots returns the slots of a rotating door at time now.
func (d *Daemon) rotatingSlots(dr *door.Door, now time.Time) []slot {
	c := counter(dr, now)
	out := make([]slot, windowSize)
	for k := c - 1; k <= c+1; k++ {
		out[k%windowSize] = slot{door: d.atCounter(dr, k), counter: k}
	}
	return out
}

// counter returns the time step of a rotating door at now (at least 1, so
// that the step before it exists).
func counter(dr *door.Door, now time.Time) uint64 {
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return 1
	}
	return max(dr.Rotate.Counter(now), 1)
}

// atCounter returns the door of step k. A burnt step's sequence, or one
// not known to be fresh (the door's NotBefore), is still matched, so that
// its replay is seen (and refused, see replayed).
func (d *Daemon) atCounter(dr *door.Door, k uint64) *door.Door {
	return dr.AtCounter(k)
}

// replayed reports whether slot i is a burnt step of a rotating door, or
// one not known to be fresh: its sequence, complete again from src, is a
// replay. It is refused and
// leaves a trace: the counter, a log line and a rejection in the status
// (both limited: anyone who sniffed it can send it at any rate). d.mu is
// held.
func (d *Daemon) replayed(i int, src netip.Addr) bool {
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return false
	}
	s := &d.slots[i]
	if s.base == nil {
		return false
	}
	why := "already opened the door"
	if b := d.burnt[s.base.Name]; b == nil || !b.IsBurnt(s.counter) {
		if s.base.Fresh(s.counter) {
			return false
		}
		why = "was current before this start, without a journal to vouch for it"
	}
	d.stats.rotatingReplays++
	if d.replays.Allow(s.base.Name + " replays") {
		what := fmt.Sprintf("rotating sequence replayed (step %d %s): refused", s.counter, why)
		d.rejected.add(Event{At: d.now(), Door: s.base.Name, Src: src, What: what})
		d.doorLines.Printf(s.base.Name, "%s: %s: %s", d.names.name(src), s.base.Name, what)
	}
	return true
}

// rotate moves every rotating door's window to now and notes when it
// must move next (zero: no rotating door). d.mu is held.
func (d *Daemon) rotate(now time.Time) {
	d.nextRotation = time.Time{}
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return
	}
	changed := false
	for i := 0; i < len(d.slots); i++ {
		base := d.slots[i].base
		if base == nil {
			continue
		}
		c := counter(base, now)
		if b := d.burnt[base.Name]; b != nil {
			b.Prune(c)
		}
		for k := c - 1; k <= c+1; k++ {
			j := i + int(k%windowSize)
			if d.slots[j].counter == k {
				continue
			}
			d.slots[j] = slot{door: d.atCounter(base, k), base: base, counter: k, gen: d.slots[j].gen + 1, last: d.slots[j].last}
			d.m.Replace(j, d.slots[j].door.Knock)
			changed = true
		}
		if next := base.Rotate.Start(c + 1); d.nextRotation.IsZero() || next.Before(d.nextRotation) {
			d.nextRotation = next
		}
		i += windowSize - 1
	}
	if changed {
		if err := d.refilter(); err != nil {
			d.log.Printf("error: %v", err)
		}
	}
}

// burn marks the step whose rotating sequence just opened its door: it
// never opens again (see replayed). d.mu is held.
func (d *Daemon) burn(i int) {
	if !feature.Rotate { // no rotating door in this build (knockd_norotate)
		return
	}
	s := &d.slots[i]
	b := d.burnt[s.base.Name]
	if b == nil {
		b = &rotate.Burnt{}
		d.burnt[s.base.Name] = b
	}
	b.Burn(s.counter)
	if d.onBurn != nil {
		d.onBurn(s.base.Name, s.counter)
	}
}
