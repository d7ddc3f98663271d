package daemon

import (
	"net/netip"
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

// history keeps the last historyLen events.
type history struct {
	ev   [historyLen]Event
	next int
	n    int
}

func (h *history) add(e Event) {
	h.ev[h.next] = e
	h.next = (h.next + 1) % historyLen
	if h.n < historyLen {
		h.n++
	}
}

// list returns the events, newest first.
func (h *history) list() []Event {
	out := make([]Event, 0, h.n)
	for k := 1; k <= h.n; k++ {
		out = append(out, h.ev[(h.next-k+historyLen)%historyLen])
	}
	return out
}
