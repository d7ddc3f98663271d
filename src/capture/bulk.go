//go:build linux

package capture

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Two sockets per device.
//
// The bulk socket receives every packet the filter accepts, in the order
// the device saw them; the daemon reads only from it. It is not in the Go
// runtime's poller: a packet that is not urgent (a first or middle knock,
// which is all a port scanner sends) does not wake the daemon by itself.
// The bulk loop waits for it in poll(2) while traffic is sparse, and reads
// it every bulkHold while packets keep coming, so a steady trickle of
// scanner packets costs a few wake-ups a second instead of one each.
//
// The doorbell socket accepts only the urgent packets (the last knock of a
// sequence, SPA packets) and is in the poller: such a packet wakes the
// daemon at once, which discards the doorbell's copy and reads the bulk
// socket, where the packet and every earlier one already are. The bulk
// socket is bound after the doorbell: the kernel adds a packet hook at the
// head of the device's list, so the bulk socket gets each packet first.

// bulkHold is the longest a non-urgent packet waits in the bulk socket
// while packets keep coming. It delays only log lines and the moment a
// first knock is recorded; the sequence's deadline starts then, so it is
// up to this much more lenient.
const bulkHold = 250 * time.Millisecond

// doorbellBuffer is the doorbell socket's receive buffer: its packets are
// only counted, so a small queue does, and dropping from it loses nothing.
const doorbellBuffer = 64 << 10

// bulkSocket is an AF_PACKET datagram socket outside the runtime poller,
// plus an eventfd that ends its poll(2).
type bulkSocket struct {
	fd   int
	stop int // eventfd
}

// openBulk opens the bulk socket on ifindex with prog attached before it
// is bound, so no packet passes unfiltered.
func openBulk(ifindex int, prog []bpf.RawInstruction, rcvbuf int) (*bulkSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	b := &bulkSocket{fd: fd, stop: -1}
	if err := b.setFilter(prog); err != nil {
		b.close()
		return nil, err
	}
	// Older kernels lack it (ENOPROTOOPT); the filter drops outgoing copies anyway.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	// A large queue absorbs bursts (a flood, a knock among a flood);
	// FORCE passes rmem_max as root, the plain option caps at it.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		b.close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	if b.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		b.close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return b, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (b *bulkSocket) setFilter(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return nil
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(b.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	return nil
}

// wait blocks until the socket has a packet (true) or stop is called
// (false).
func (b *bulkSocket) wait() bool {
	fds := []unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLIN}, {Fd: int32(b.stop), Events: unix.POLLIN}}
	for {
		_, err := unix.Ppoll(fds, nil, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || fds[1].Revents != 0 {
			return false
		}
		if fds[0].Revents != 0 {
			return true
		}
	}
}

// interrupt ends a wait, now or the next one.
func (b *bulkSocket) interrupt() {
	one := uint64(1) // in host byte order
	_, _ = unix.Write(b.stop, (*[8]byte)(unsafe.Pointer(&one))[:])
}

func (b *bulkSocket) stats() (packets, drops uint32, err error) {
	s, err := unix.GetsockoptTpacketStats(b.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

func (b *bulkSocket) close() {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	if b.stop >= 0 {
		unix.Close(b.stop)
		b.stop = -1
	}
}

// bulkReader reads the bulk socket and hands its packets to the handler,
// from whichever goroutine drains: the doorbell's or the bulk loop.
type bulkReader struct {
	mu   sync.Mutex
	sock *bulkSocket
	r    *batchReader
	h    Handler
	kick chan struct{} // the doorbell rang but the packet was not there yet
}

// drain reads and handles every packet queued now and returns how many.
func (d *bulkReader) drain() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for {
		n, err := d.r.readNow(uintptr(d.sock.fd))
		for i := 0; i < n; i++ {
			d.h(d.r.packet(i))
		}
		total += n
		if err != nil || n < batchSize {
			return total
		}
	}
}

// rang handles a doorbell: the urgent packets are in the bulk socket
// already, so it drains that. Should the kernel ever hand the doorbell its
// copy first, it tries again a few times and then leaves the packet to the
// bulk loop, woken at once.
func (d *bulkReader) rang() {
	for try := 0; try < 3; try++ {
		if d.drain() > 0 {
			return
		}
		runtime.Gosched()
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// loop is the bulk socket's own reader, until stop is closed: event driven
// (poll) while packets are sparse, every bulkHold (or sooner if the queue
// would fill meanwhile) while they keep coming.
func (d *bulkReader) loop(stop <-chan struct{}, capacity int) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var last time.Time
	for {
		if !d.sock.wait() {
			return
		}
		start := time.Now()
		n := d.drain()
		sparse := start.Sub(last) > bulkHold && n < 2
		last = start
		if sparse {
			continue // one packet now and then: stay event driven
		}
		for n > 0 {
			t.Reset(holdFor(n, time.Since(start), capacity))
			start = time.Now()
			select {
			case <-stop:
				t.Stop()
				return
			case <-d.kick:
				if !t.Stop() {
					<-t.C
				}
			case <-t.C:
			}
			n = d.drain()
		}
	}
}

// holdFor returns how long to let packets queue before the next read: n
// packets came in elapsed; the queue holds about capacity. The wait keeps
// the queue a quarter full at most, between a millisecond and bulkHold.
func holdFor(n int, elapsed time.Duration, capacity int) time.Duration {
	if elapsed < time.Millisecond {
		elapsed = time.Millisecond
	}
	rate := float64(n) / elapsed.Seconds() // packets a second
	d := time.Duration(float64(capacity/4) / rate * float64(time.Second))
	if d < time.Millisecond {
		return time.Millisecond
	}
	if d > bulkHold {
		return bulkHold
	}
	return d
}
