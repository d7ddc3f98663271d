package daemon

import (
	"fmt"
	"runtime/debug"

	"github.com/knockd-go/knockd-go/src/internal/match"
)

// maxPanicStacks bounds how many distinct panics are logged with their
// stack; later ones are counted and logged in one line.
const maxPanicStacks = 8

// recoverPacket recovers a panic in the packet path (deferred by the
// packet handler and the expiry loop): the first few distinct ones are
// logged with their stack, every one is counted (SIGUSR1), and the
// matcher's attempts are dropped since a panic may have left them half
// updated. The doors stay.
func (d *Daemon) recoverPacket() {
	r := recover()
	if r == nil {
		return
	}
	stack := debug.Stack()
	d.mu.Lock() // the handler's deferred Unlock has run
	defer d.mu.Unlock()
	d.stats.panics++
	msg := fmt.Sprint(r)
	if d.panicSeen == nil {
		d.panicSeen = map[string]bool{}
	}
	switch {
	case !d.panicSeen[msg] && len(d.panicSeen) < maxPanicStacks:
		d.panicSeen[msg] = true
		d.log.Printf("error: recovered from a panic in the packet path (attempts in progress dropped): %s\n%s", msg, stack)
	default:
		d.doorLines.Printf("panics", "error: recovered from a panic in the packet path again (%d in all): %s", d.stats.panics, msg)
	}
	knocks := make([]match.Door, len(d.slots))
	for i, s := range d.slots {
		knocks[i] = s.door.Knock
	}
	d.m = match.New(knocks, d.max, d.now, d.event)
}
