package daemon

import (
	"errors"

	"github.com/knockd-go/knockd-go/src/internal/door"
)

// nextOneTime closes one-time door slot i at once (its sequence is used)
// and, off the packet path, marks the sequence used in the file and
// installs the door with the next one. d.mu is held.
func (d *Daemon) nextOneTime(i int) {
	s := &d.slots[i]
	used := s.door
	closed := *used
	closed.Knock.Steps = nil
	s.door, s.gen = &closed, s.gen+1
	d.m.Replace(i, closed.Knock)
	gen := s.gen
	d.settle.Add(1)
	go func() {
		defer d.settle.Done()
		defer d.recoverPacket()
		next, err := used.NextOneTime() // file I/O and fsync: not under the lock
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case errors.Is(err, door.ErrNoMoreSequences):
			d.log.Printf("no more sequences left in the one time sequences file for door %s --> disabling the door", used.Name)
		case err != nil: // knockd's line, then why
			d.log.Printf("error while disabling used one time sequence for door %s --> disabling the door", used.Name)
			d.log.Printf("error: %v", err)
		}
		if i >= len(d.slots) || d.slots[i].gen != gen {
			return // a reload replaced the door meanwhile
		}
		d.slots[i] = slot{door: next, gen: gen + 1, last: d.slots[i].last}
		d.m.Replace(i, next.Knock)
		if len(next.Knock.Steps) > 0 && d.log.Debugging() {
			d.log.Debugf("new sequence for door %s: line %d of %s", next.Name, next.OneTime.Seq.Line, next.OneTime.File)
		}
		if err := d.refilter(); err != nil {
			d.log.Printf("error: %v", err)
		}
	}()
}
