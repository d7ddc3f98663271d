package daemon

import (
	"net/netip"
	"sync"
	"time"
)

// Event is one success or rejection, for the status.
type Event struct {
	_    [0]func() // not comparable: no equality function in the binary
	At   time.Time
	Door string
	Src  netip.Addr
	What string
}

// historyLen is how many successes, and how many rejections, the status
// shows (apart, so that a flood of rejections cannot hide a success).
const historyLen = 20

// history keeps the last historyLen events. Its methods are safe for
// concurrent use.
type history struct {
	mu   sync.Mutex
	ev   [historyLen]Event
	next int
	n    int
	seq  uint64 // events added so far
}

// add adds e and returns its sequence number, for setWhat.
func (h *history) add(e Event) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ev[h.next] = e
	h.next = (h.next + 1) % historyLen
	if h.n < historyLen {
		h.n++
	}
	h.seq++
	return h.seq
}

// setWhat sets the What of the event numbered seq, unless newer events
// pushed it out.
func (h *history) setWhat(seq uint64, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq == 0 || h.seq-seq >= uint64(h.n) {
		return
	}
	h.ev[(seq-1)%historyLen].What = what
}

// list returns the events, newest first.
func (h *history) list() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Event, 0, h.n)
	for k := 1; k <= h.n; k++ {
		out = append(out, h.ev[(h.next-k+historyLen)%historyLen])
	}
	return out
}
