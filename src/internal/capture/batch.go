//go:build linux

package capture

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch reading: up to batchSize packets of at most slotSize bytes per
// recvmmsg(2). Knocks and SPA packets (at most 1500 bytes of payload) fit a
// slot; a larger packet is truncated, which the decoder rejects.
const (
	batchSize = 32
	slotSize  = 4096
	// The doorbell's packets are discarded: a few bytes of each will do
	// (the kernel truncates the rest).
	doorbellSlot = 64
)

// mmsghdr is struct mmsghdr; Go pads it to the alignment of Msghdr, as C
// does, on 32- and 64-bit targets alike.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

type batchReader struct {
	slot   int
	bufs   []byte
	iovs   [batchSize]unix.Iovec
	hdrs   [batchSize]mmsghdr
	batch  func(n int) // handles the packets of a read, from within it
	err    error
	single bool // recvmmsg is missing (ENOSYS): one read per packet
	readFn func(fd uintptr) bool
}

func newBatchReader(slot int) *batchReader {
	r := &batchReader{slot: slot, bufs: make([]byte, batchSize*slot)}
	for i := range r.iovs {
		r.iovs[i].Base = &r.bufs[i*slot]
		r.iovs[i].SetLen(slot)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	r.readFn = r.recv
	return r
}

// recv is called by the runtime poller with the socket's descriptor: it
// reads a batch and hands it to r.batch. It returns true to end the
// rc.Read (a full batch, more may be queued; an error), false to wait for
// the poller.
//
// After a partial batch the queue was empty when it was read: it waits
// for the poller at once instead of making a call that would only say
// EAGAIN, and does so within the same rc.Read. The poller records the
// readiness a packet brings while nobody waits (one that came while the
// batch was handled), but every rc.Read starts by clearing that record:
// a new rc.Read that skipped the call would leave such a packet queued
// until the next one came.
func (r *batchReader) recv(fd uintptr) bool {
	n, err := r.readNow(fd)
	if err != nil {
		r.err = err
		return true
	}
	if n == 0 {
		return false
	}
	r.batch(n)
	// A full batch ends the rc.Read, which lets a read deadline (device
	// gone, shutdown) be seen under a flood that never drains the queue.
	// A single read (no recvmmsg) does not know whether it drained.
	return n == batchSize || r.single
}

// readNow reads the packets queued on fd now, without waiting: 0 and no
// error when there are none.
func (r *batchReader) readNow(fd uintptr) (int, error) {
	if r.single {
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.bufs[0])), uintptr(r.slot))
		switch e {
		case 0:
			r.hdrs[0].len = uint32(n)
			return 1, nil
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, e
	}
	// MSG_DONTWAIT: the call never blocks, so it need not tell the
	// scheduler (RawSyscall), which saves a little on every batch.
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case unix.EAGAIN:
		return 0, nil
	case unix.ENOSYS:
		r.single = true
		return r.readNow(fd)
	}
	return 0, e
}

// read hands the batches that arrive to batch (from within rc.Read) until
// a full batch was handled, the socket fails or its read deadline passes.
func (r *batchReader) read(rc syscall.RawConn, batch func(n int)) error {
	r.batch, r.err = batch, nil
	if err := rc.Read(r.readFn); err != nil {
		return err
	}
	return r.err
}
