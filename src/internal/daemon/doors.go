package daemon

import (
	"fmt"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/filter"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/match"
)

// Reload makes set the running doors and acter the actions of later
// successes. Attempts in progress and cool-downs of doors whose knock did
// not change survive; those of changed or removed doors are dropped.
func (d *Daemon) Reload(set *door.Set, acter Acter) error {
	d.settle.Wait() // a one-time sequence being marked used is written first
	d.mu.Lock()
	d.acter = acter
	d.mu.Unlock()
	return d.install(set)
}

// install replaces the running doors.
func (d *Daemon) install(set *door.Set) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The old slots by door name and step (0 for doors without steps).
	type key struct {
		name    string
		counter uint64
	}
	old := map[key]int{}
	for i, s := range d.slots {
		old[key{s.door.Name, s.counter}] = i
	}
	now := d.now()
	var slots []slot
	names := map[string]bool{}
	for _, dr := range set.Doors {
		names[dr.Name] = true
		if dr.Rotate != nil {
			for _, s := range d.rotatingSlots(dr, now) {
				s.base = dr
				slots = append(slots, s)
			}
			continue
		}
		slots = append(slots, slot{door: dr})
	}
	knocks := make([]match.Door, len(slots))
	keep := make([]int, len(slots))
	for j := range slots {
		knocks[j] = slots[j].door.Knock
		keep[j] = -1
		if i, ok := old[key{slots[j].door.Name, slots[j].counter}]; ok && d.slots[i].door.Knock.Equal(knocks[j]) {
			keep[j] = i
			slots[j].gen = d.slots[i].gen + 1
		}
	}
	for name := range d.burnt {
		if !names[name] {
			delete(d.burnt, name)
		}
	}
	for name := range d.last {
		if !names[name] {
			delete(d.last, name)
		}
	}
	for j := range slots {
		name := slots[j].door.Name
		l := d.last[name]
		if l == nil {
			l = new(Last)
			d.last[name] = l
		}
		slots[j].last = l
	}
	d.m.Rebuild(knocks, keep)
	d.set, d.slots = set, slots
	d.rotate(now) // notes when the windows move next
	d.armed = false
	select { // the expiry loop re-reads its deadlines
	case d.kick <- struct{}{}:
	default:
	}
	return d.refilter()
}

// refilter rebuilds the SPA port table and the kernel filter from the
// slots. d.mu is held.
func (d *Daemon) refilter() error {
	d.spaPorts = map[uint16][]int{}
	// ports: every knock and SPA port; urgent: those whose packets are
	// read at once (a sequence's last knock, SPA), the others in batches
	// while they keep coming (capture).
	var ports, urgent []filter.Port
	for i, s := range d.slots {
		dr := s.door
		if dr.SPA != nil {
			d.spaPorts[dr.SPA.Port] = append(d.spaPorts[dr.SPA.Port], i)
			p := filter.Port{Port: l4.Port{Proto: l4.UDP, Num: dr.SPA.Port}}
			ports = append(ports, p)
			urgent = append(urgent, p)
			continue
		}
		for j, st := range dr.Knock.Steps {
			p := filter.Port{Port: st}
			if st.Proto == l4.TCP {
				p.Flags = dr.Knock.Flags
			}
			ports = append(ports, p)
			if j == len(dr.Knock.Steps)-1 {
				urgent = append(urgent, p)
			}
		}
	}
	if d.log.Debugging() {
		var s []string
		for _, p := range ports {
			s = append(s, p.Port.String())
		}
		d.log.Debugf("filter accepts: %s", strings.Join(s, " "))
	}
	prog, err := filter.Assemble(filter.Options{Ports: ports, IncomingOnly: true, NoIPv6: d.noIPv6})
	if err != nil {
		return fmt.Errorf("kernel filter: %w", err)
	}
	uprog, err := filter.Assemble(filter.Options{Ports: urgent, IncomingOnly: true, NoIPv6: d.noIPv6})
	if err != nil {
		return fmt.Errorf("kernel filter: %w", err)
	}
	if err := d.src.SetFilter(prog, uprog); err != nil {
		return fmt.Errorf("kernel filter: %w", err)
	}
	return nil
}
