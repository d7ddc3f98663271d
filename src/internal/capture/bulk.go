//go:build linux

package capture

import (
	"runtime"
	"sync"
	"time"
)

// Two sockets per device.
//
// The bulk socket receives every packet the filter accepts, in the order
// the device saw them, into a receive ring (ring.go); the daemon reads
// only from it. A packet that is not urgent (a first or middle knock,
// which is all a port scanner sends) does not wake the daemon by itself:
// the kernel signals the socket only when it hands over a block, which it
// does when the block is full or ringRetire after it was opened. The bulk
// loop waits for that in the runtime's poller while blocks come by their
// timeout, in poll(2) while they come full (bulkSocket.wait). A steady
// trickle of scanner packets costs a few wake-ups a second, a flood one
// per block.
//
// The doorbell socket accepts only the urgent packets (the last knock of a
// sequence, SPA packets) and is in the poller: such a packet wakes the
// daemon at once, which discards the doorbell's copy and reads the ring,
// block the kernel is filling included (peek), where the packet and every
// earlier one already are. The bulk socket is bound after the doorbell:
// the kernel adds a packet hook at the head of the device's list, so the
// ring gets each packet first.

// doorbellBuffer is the doorbell socket's receive buffer: its packets are
// only counted, so a small queue does, and dropping from it loses nothing.
const doorbellBuffer = 64 << 10

// bulkReader reads the ring and hands its packets to the handler, from
// whichever goroutine drains: the doorbell's or the bulk loop.
type bulkReader struct {
	mu   sync.Mutex
	sock *bulkSocket
	h    Handler
}

// drain handles the packets of every block handed over and returns how
// many there were.
func (d *bulkReader) drain() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.end(d.sock.read(d.h))
}

// end ends a batch of n packets (see Handler) and returns n.
func (d *bulkReader) end(n int) int {
	if n > 0 {
		d.h(nil, time.Time{})
	}
	return n
}

// rang handles a doorbell: the urgent packets are in the ring already, in
// the block the kernel is filling or one it has handed over. Should the
// kernel still be copying one in, it tries again a few times and then
// leaves the packet to the bulk loop (at most ringRetire later).
func (d *bulkReader) rang() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for try := 0; try < 3; try++ {
		n := d.sock.read(d.h)
		if d.end(n+d.sock.peek(d.h)) > 0 {
			return
		}
		runtime.Gosched()
	}
}

// loop is the ring's own reader, until the socket's wait is interrupted.
func (d *bulkReader) loop() {
	for d.sock.wait() {
		d.drain()
	}
}
