//go:build linux

package capture

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The bulk socket is a TPACKET_V3 receive ring: the kernel copies each
// packet the filter accepts into blocks of memory shared with the daemon
// and hands a block over when it is full or when ringRetire has passed
// since it was opened, waking the daemon once per block. A flood costs no
// system call and no copy per packet, and the ring holds ~7 times the
// knocks a socket queue of the same memory would (a queued packet takes
// ~1-2 KiB of the socket's budget, a knock ~144 bytes of a block: 96 of
// header and padding before the network header). A quiet link costs
// nothing: a block with no packet is not handed over.

// ringRetire is the longest a packet that is not urgent (a first or
// middle knock, all a port scanner sends) waits in the ring: from a few
// packets a second to a few hundred the daemon wakes 1000/ringRetire
// times a second, not once a packet. At such rates a wake-up costs the
// daemon far more than the packets it reads (~14 context switches of its
// threads each, the Go runtime's with the reader's; on a router's CPU
// each also reads the clock through system calls): 100 ms took twice the
// CPU of 250 ms at 20 and 200 first knocks a second on x86, and with
// 250 ms knockd-go's CPU was 2.8 times knockd 0.8's at 20 a second on
// the emulated 24Kc. It delays only log lines and the moment a first or
// middle knock is recorded (a sequence's deadline starts then, so it is
// up to this much more lenient). Urgent packets do not wait (see
// bulkReader.rang), but they are handled after every packet before them:
// under a flood of a few hundred first knocks a second, a legitimate
// knock's command starts after up to a second's worth of them. A full
// block (~450 knocks) is handed over at once.
const ringRetire = 1000 // ms

// ringBlock is the size of a block: at a flood's ~144 bytes a knock it
// holds ~450 of them (a wake-up per ~0.7 ms at 630k packets a second), and
// an SPA packet of any size. It is 16 pages (4 KiB), which the kernel can
// find even on a router whose memory is fragmented (it falls back to
// vmalloc when it cannot).
const ringBlock = 64 << 10

// Bounds of the ring's size.
const (
	minRing = 512 << 10
	maxRing = 2 << 20
)

// RingSize returns the receive ring's size (bytes) for this machine: a
// sixty-fourth of its memory, between 512 KiB and 2 MiB. The kernel maps
// the whole ring into the daemon when it is made, so it counts in the
// daemon's RSS from the start: 2 MiB keeps the peak RSS under a full
// flood within 16 MiB. It holds ~14,500 knocks (~144 bytes each), ~23 ms
// of the fastest flood measured (630k packets a second on a 2-core VM, a
// rate a router's CPU cannot send or take) and ~75 ms at 190k: time for
// the daemon to get a core back. A 64 MB router gets 1 MiB (~7k knocks,
// 1.6% of its memory), 32 MB ones 512 KiB.
func RingSize() int {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 1 << 20
	}
	return ringSizeFor(uint64(si.Totalram) * uint64(si.Unit))
}

func ringSizeFor(ram uint64) int {
	b := ram / 64
	if b < minRing {
		return minRing
	}
	if b > maxRing {
		return maxRing
	}
	return int(b) / ringBlock * ringBlock
}

// bulkSocket is an AF_PACKET datagram socket with a TPACKET_V3 receive
// ring. The kernel signals it only when it hands a block over, and its
// reader waits for that in one of two ways, chosen by the rate (wait):
// in the runtime's poller while blocks are handed over by their retire
// timeout, and in poll(2) of its own while they are handed over full.
// Its read and peek are called with bulkReader.mu held.
type bulkSocket struct {
	fd     int
	file   *os.File        // owns fd once set: its Close closes fd
	rc     syscall.RawConn // fd in the poller
	stop   int             // eventfd that ends a poll(2)
	mem    []byte
	blocks int
	cur    int         // the block read next
	pos    blockCursor // how far block cur was read (peek reads ahead)

	// full: the last block read was handed over full, not by its
	// retire timeout: packets come at more than ~1,800 a second.
	full atomic.Bool
	// Waits in the poller and in poll(2), for tests.
	pollerWaits, pollWaits atomic.Uint32

	// now is the clock (time.Now), read once for the packets of a read
	// or a peek.
	now func() time.Time
}

// openBulk opens the bulk socket on ifindex with a ring of size bytes and
// prog attached before it is bound, so no packet passes unfiltered.
func openBulk(ifindex int, prog []bpf.RawInstruction, size int) (*bulkSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	b := &bulkSocket{fd: fd, stop: -1, now: time.Now}
	if err := b.setFilter(prog); err != nil {
		b.close()
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		b.close()
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	b.blocks = size / ringBlock
	if b.blocks < 2 {
		b.blocks = 2
	}
	const frame = 2048 // only checked by the kernel: V3 packets take what they need
	req := unix.TpacketReq3{
		Block_size:     ringBlock,
		Block_nr:       uint32(b.blocks),
		Frame_size:     frame,
		Frame_nr:       uint32(b.blocks * ringBlock / frame),
		Retire_blk_tov: ringRetire,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		b.close()
		return nil, fmt.Errorf("receive ring of %d KiB: %w", b.blocks*ringBlock>>10, err)
	}
	if b.mem, err = unix.Mmap(fd, 0, b.blocks*ringBlock, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		b.close()
		return nil, fmt.Errorf("mmap the receive ring: %w", err)
	}
	// Older kernels lack it (ENOPROTOOPT); the filter drops outgoing copies anyway.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		b.close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	if b.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		b.close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// The descriptor is non-blocking: os.NewFile adds it to the poller.
	b.file = os.NewFile(uintptr(fd), "packet ring")
	if b.rc, err = b.file.SyscallConn(); err != nil {
		b.close()
		return nil, fmt.Errorf("packet ring: %w", err)
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

// block returns block i of the ring and a pointer to its status word,
// which the kernel and the daemon hand the block over with.
func (b *bulkSocket) block(i int) ([]byte, *uint32) {
	blk := b.mem[i*ringBlock : (i+1)*ringBlock]
	return blk, (*uint32)(unsafe.Pointer(&blk[blockStatusOff]))
}

// read hands h every packet of the blocks the kernel has handed over, in
// order, gives the blocks back and returns how many packets it handled. It
// reads the ring once round at most.
func (b *bulkSocket) read(h Handler) int {
	n := 0
	var at time.Time
	emit := func(p []byte) {
		if n == 0 {
			at = b.now()
		}
		n++
		h(p, at)
	}
	for range b.blocks {
		blk, status := b.block(b.cur)
		if atomic.LoadUint32(status)&tpStatusUser == 0 {
			return n
		}
		// A block the walk cannot make sense of (never, from a sane
		// kernel) is handed back with what was read of it.
		if bh, err := parseBlockHeader(blk); err == nil {
			b.full.Store(bh.status&tpStatusTimeout == 0)
			b.pos, _ = walkBlock(blk, bh.first, bh.num, b.pos, false, emit)
			b.release(blk, status, bh.length)
		} else {
			b.release(blk, status, len(blk))
		}
	}
	return n
}

// release zeroes what the kernel wrote into blk (so that peek can tell a
// packet the kernel is still copying in from one it has finished) and
// hands the block back.
func (b *bulkSocket) release(blk []byte, status *uint32, end int) {
	if end > len(blk) || end < blockDescLen {
		end = len(blk)
	}
	clear(blk[blockDescLen:end])
	atomic.StoreUint32(status, 0) // TP_STATUS_KERNEL
	b.cur = (b.cur + 1) % b.blocks
	b.pos = blockCursor{}
}

// peek hands h the packets of the block the kernel is filling that it
// has finished copying in, and remembers how far it read so that read
// carries on from there once the block is handed over. The kernel hands
// over a block only when it is full or ringRetire has passed: peek is
// how an urgent packet, and every packet before it, is handled at once.
// The kernel copies a packet into the ring before it passes it on to the
// sockets bound earlier, the doorbell among them: once the doorbell has a
// packet, the ring has it complete.
func (b *bulkSocket) peek(h Handler) int {
	blk, status := b.block(b.cur)
	if atomic.LoadUint32(status)&tpStatusUser != 0 {
		return 0 // handed over meanwhile: read takes it
	}
	// num_pkts counts the packets the kernel has made room for, whose
	// copy may still be under way; first is constant. A block the kernel
	// has not opened again yet still has its former count, but read
	// zeroed its packets: the walk stops at once.
	num := int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&blk[blockNumOff]))))
	first := int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&blk[blockFirstOff]))))
	n := 0
	var at time.Time
	// An error is no corruption here: values the kernel is writing.
	// The walk stopped before them; read takes the rest of the block
	// once it is handed over.
	b.pos, _ = walkBlock(blk, first, num, b.pos, true, func(p []byte) {
		if n == 0 {
			at = b.now()
		}
		n++
		h(p, at)
	})
	return n
}

// wait blocks until the ring has a block to read (true) or interrupt is
// called (false).
//
// While blocks come by their retire timeout (up to ~1,800 packets a
// second, a port scanner's), the reader waits in the runtime's poller,
// beside the doorbell: a wake-up costs a thread switch or two. A
// goroutine in poll(2) holds a thread of its own that the runtime hands
// its processor away from and back to on every block, and its monitor
// thread watches the system call every 20 µs meanwhile: about 14 thread
// switches a block, twice the CPU at 20 and 200 first knocks a second on
// x86 and far more on a router's CPU. While blocks come full (a flood),
// it waits in poll(2): there the reader runs as soon as the kernel hands
// a block over, where the poller's wake-up waits for a thread to look at
// it, and a full-rate flood overflowed the ring in 2 of 4 runs (28,720
// and 106,236 kernel drops at 205-254 kpps) against none in 4 in poll(2).
// The first block handed over by its timeout brings the reader back.
func (b *bulkSocket) wait() bool {
	if b.full.Load() {
		b.pollWaits.Add(1)
		return b.pollWait()
	}
	b.pollerWaits.Add(1)
	return b.pollerWait()
}

// pollerWait waits in the runtime's poller. The poller is edge-triggered
// and every rc.Read starts by forgetting the events it recorded, so the
// ring is looked at first: a block handed over before the call is read at
// once, and one handed over after the look wakes the wait.
func (b *bulkSocket) pollerWait() bool {
	woken := false
	err := b.rc.Read(func(fd uintptr) bool {
		if b.ready() {
			return true
		}
		if woken {
			// Woken with no block: an error. ENETDOWN: the device
			// went down. The socket stays bound and receives again
			// once it is up (serve decides on the device); reading
			// the error clears it.
			_, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		}
		woken = true
		return false
	})
	return err == nil
}

// ready reports whether the kernel has handed over the block read next.
func (b *bulkSocket) ready() bool {
	_, status := b.block(b.cur)
	return atomic.LoadUint32(status)&tpStatusUser != 0
}

// pollWait waits in poll(2).
func (b *bulkSocket) pollWait() bool {
	fds := []unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLIN}, {Fd: int32(b.stop), Events: unix.POLLIN}}
	for {
		if b.ready() {
			return true
		}
		_, err := unix.Ppoll(fds, nil, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || fds[1].Revents != 0 {
			return false
		}
		r := fds[0].Revents
		if r&unix.POLLNVAL != 0 {
			return false
		}
		if r&unix.POLLERR != 0 {
			// ENETDOWN, as in pollerWait.
			_, _ = unix.GetsockoptInt(b.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		}
		if r&unix.POLLIN != 0 {
			return true
		}
	}
}

// interrupt ends a wait, now or the next one, in either way.
func (b *bulkSocket) interrupt() {
	one := uint64(1) // in host byte order
	_, _ = unix.Write(b.stop, (*[8]byte)(unsafe.Pointer(&one))[:])
	_ = b.file.SetReadDeadline(time.Unix(1, 0))
}

// stats returns and resets the kernel's counts: packets the filter
// accepted, and those dropped because the ring was full.
func (b *bulkSocket) stats() (packets, drops uint32, err error) {
	s, err := unix.GetsockoptTpacketStats(b.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

func (b *bulkSocket) close() {
	if b.mem != nil {
		_ = unix.Munmap(b.mem)
		b.mem = nil
	}
	switch {
	case b.file != nil:
		b.file.Close()
		b.file = nil
	case b.fd >= 0:
		unix.Close(b.fd)
	}
	b.fd = -1
	if b.stop >= 0 {
		unix.Close(b.stop)
		b.stop = -1
	}
}
