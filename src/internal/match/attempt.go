package match

import (
	"net/netip"
	"time"
)

// attempt is one source's progress on one door. Attempts live in
// intrusive lists, so that every operation is O(1) and nothing allocates
// once the table is full.
type attempt struct {
	src   *source
	next  *attempt // the source's other attempts
	door  int32
	stage int32 // steps matched; -1 while cooling down after success
	// deadline is when the attempt expires, as an offset from the
	// matcher's base: a time.Time would take 20 bytes more of each entry
	// on 64-bit systems and 12 on 32-bit ones (60 bytes, a size class of
	// 64, against 48).
	deadline time.Duration

	// Every tracked attempt is in two lists at once: link[byAge] in fresh
	// or advanced, link[byDeadline] in its door's exp or cool list.
	link [2]links
}

// Which of an attempt's links a list uses.
const (
	byAge      = 0
	byDeadline = 1
)

type links struct {
	prev, next *attempt
	in         *list // the list the attempt is in, nil when in none
}

type source struct {
	// key is the address (a netip.Addr would take 4 bytes more on 32-bit
	// systems, 8 on 64-bit ones, and a size class up).
	key  key
	atts *attempt // singly linked through attempt.next
	free *source  // free list link while unused
}

// ip returns the source's address.
func (s *source) ip() netip.Addr { return s.key.addr() }

// list is an intrusive doubly linked list of attempts, oldest first.
type list struct {
	head, tail *attempt
	k          int // byAge or byDeadline; indexed as k&1, which needs no bounds check
}

func (l *list) push(a *attempt) {
	lk := &a.link[l.k&1]
	lk.in, lk.prev, lk.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.link[l.k&1].next = a
	} else {
		l.head = a
	}
	l.tail = a
}

func (l *list) remove(a *attempt) {
	lk := &a.link[l.k&1]
	if lk.prev != nil {
		lk.prev.link[l.k&1].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.link[l.k&1].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	*lk = links{}
}

// unlink takes a out of its list of kind k, if it is in one.
func (a *attempt) unlink(k int) {
	if l := a.link[k].in; l != nil {
		l.remove(a)
	}
}
