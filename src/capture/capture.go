//go:build linux

// Package capture reads knock packets from a network device through an
// AF_PACKET cooked socket with a classic BPF filter attached before bind,
// and follows the device: it waits for a device that does not exist yet,
// re-opens the socket when the device is re-created (PPPoE reconnect, new
// ifindex) or fails, and keeps the set of the device's current addresses.
//
// It is event driven (rtnetlink): when nothing changes and no packet comes,
// it does not wake up.
package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/knockd-go/knockd-go/src/logx"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// RecvBuffer returns the socket receive buffer to ask for (bytes). The
// kernel doubles what is asked (for its bookkeeping), so the queue may hold
// a sixteenth of the machine's memory, between 1 and 32 MiB, and holds it
// only while packets queue (a flood outrunning the daemon for a moment):
// 32 MiB carries ~40k queued knocks, ~100 ms at 400k packets/s; a 64 MB
// router gets 4 MiB.
func RecvBuffer() int {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 2 << 20
	}
	return recvBufferFor(uint64(si.Totalram) * uint64(si.Unit))
}

// Bounds of what RecvBuffer asks for (the kernel doubles it).
const (
	minRecvBuffer = 512 << 10
	maxRecvBuffer = 16 << 20
)

func recvBufferFor(ram uint64) int {
	b := ram / 32
	if b < minRecvBuffer {
		return minRecvBuffer
	}
	if b > maxRecvBuffer {
		return maxRecvBuffer
	}
	return int(b)
}

// Handler is called for every packet the filter accepts, from the capture
// goroutine. b is reused after the call returns.
type Handler func(b []byte)

// Capture owns the socket on one device.
type Capture struct {
	ifname string
	log    *logx.Logger

	mu     sync.Mutex
	filter []bpf.RawInstruction
	conn   *packet.Conn

	addrs   atomic.Pointer[[]netip.Addr] // a handful: a scan beats a map
	index   atomic.Int32
	changed chan struct{}
	ready   chan struct{} // closed once capturing, or waiting for the device
	readyOK sync.Once
}

// New returns a capture for ifname with the initial filter.
func New(ifname string, filter []bpf.RawInstruction, log *logx.Logger) *Capture {
	c := &Capture{ifname: ifname, filter: filter, log: log, changed: make(chan struct{}, 1), ready: make(chan struct{})}
	c.addrs.Store(new([]netip.Addr))
	return c
}

// Name returns the device's name.
func (c *Capture) Name() string { return c.ifname }

// Ready is closed once the socket is open, or the device is known to be
// absent and waited for: then the capture does what it will keep doing.
func (c *Capture) Ready() <-chan struct{} { return c.ready }

func (c *Capture) setReady() { c.readyOK.Do(func() { close(c.ready) }) }

// Local reports whether a is one of the device's current addresses.
func (c *Capture) Local(a netip.Addr) bool {
	for _, l := range *c.addrs.Load() {
		if l == a {
			return true
		}
	}
	return false
}

// Present reports whether the device exists now.
func (c *Capture) Present() bool { return c.index.Load() != 0 }

// Addrs returns the device's current addresses.
func (c *Capture) Addrs() []netip.Addr {
	return append([]netip.Addr(nil), *c.addrs.Load()...)
}

// SetFilter replaces the BPF program (on reload). The decoder re-checks
// everything, so packets queued under the old program are harmless.
func (c *Capture) SetFilter(f []bpf.RawInstruction) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filter = f
	if c.conn != nil {
		if err := c.conn.SetBPF(f); err != nil {
			return fmt.Errorf("set filter on %s: %w", c.ifname, err)
		}
	}
	return nil
}

// Stats returns and resets the kernel's packet and drop counters of the
// current socket.
func (c *Capture) Stats() (packets, drops uint32, err error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return 0, 0, errors.New("no socket open")
	}
	s, err := conn.Stats()
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

// refresh re-reads the device's index and addresses. It returns the
// interface, or nil when the device does not exist.
func (c *Capture) refresh() *net.Interface {
	ifi, err := net.InterfaceByName(c.ifname)
	if err != nil {
		c.addrs.Store(new([]netip.Addr))
		c.index.Store(0)
		return nil
	}
	var m []netip.Addr
	if as, err := ifi.Addrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && !slices.Contains(m, ip.Unmap()) {
					m = append(m, ip.Unmap())
				}
			}
		}
	}
	// sort.Slice shares its code with every other sort in knockd;
	// slices.SortFunc would instantiate about 17 KB (MIPS) for netip.Addr.
	sort.Slice(m, func(i, j int) bool { return m[i].Less(m[j]) })
	if !slices.Equal(*c.addrs.Load(), m) {
		for _, a := range m {
			c.log.Debugf("local IP: %s", a)
		}
	}
	c.addrs.Store(&m)
	c.index.Store(int32(ifi.Index))
	return ifi
}

// Run captures until ctx is done. It returns nil on cancellation and an
// error only for conditions a restart cannot fix (no permission).
func (c *Capture) Run(ctx context.Context, h Handler) error {
	nl, err := watchNetlink()
	if err != nil {
		c.log.Printf("warning: cannot watch %s for changes (%v); polling every 2s", c.ifname, err)
	} else {
		defer nl.Close()
		go func() {
			b := make([]byte, 1<<16)
			for {
				if _, err := nl.Read(b); err != nil {
					if errors.Is(err, unix.ENOBUFS) {
						c.notify() // overrun: re-read everything
						continue
					}
					return
				}
				c.notify()
			}
		}()
	}
	waiting := false
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ifi := c.refresh()
		if ifi == nil {
			if !waiting {
				c.log.Printf("waiting for device %s", c.ifname)
				waiting = true
			}
			c.setReady()
			if !c.wait(ctx, nl == nil, 30*time.Second) {
				return nil
			}
			continue
		}
		if waiting {
			c.log.Printf("device %s is present", c.ifname)
			waiting = false
		}
		err := c.serve(ctx, ifi, h, nl == nil)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w (knockd needs root or CAP_NET_RAW)", err)
		}
		if err != nil {
			c.log.Debugf("capture on %s: %v; re-opening", c.ifname, err)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			if backoff < 2*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
	}
	return nil
}

func (c *Capture) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// wait blocks until a netlink change, ctx end, or (when polling) a timeout.
func (c *Capture) wait(ctx context.Context, poll bool, limit time.Duration) bool {
	var t <-chan time.Time
	if poll {
		t = time.After(2 * time.Second)
	} else {
		t = time.After(limit)
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.changed:
		// Let a burst of link/address messages settle.
		time.Sleep(20 * time.Millisecond)
		select {
		case <-c.changed:
		default:
		}
		return true
	case <-t:
		return true
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// serve opens the socket on ifi and reads until the device changes (nil
// error) or the socket fails.
func (c *Capture) serve(ctx context.Context, ifi *net.Interface, h Handler, poll bool) error {
	c.mu.Lock()
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ALL, &packet.Config{Filter: c.filter})
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("listen on %s: %w", ifi.Name, err)
	}
	c.conn = conn
	c.mu.Unlock()
	c.setReady()
	c.log.Debugf("listening on %s (index %d)", ifi.Name, ifi.Index)
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			// Older kernels lack it (ENOPROTOOPT); the filter drops outgoing copies anyway.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
			// A large queue absorbs bursts (a flood, a knock among a flood);
			// FORCE passes rmem_max as root, the plain option caps at it.
			rb := RecvBuffer()
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rb) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rb)
			}
		})
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", ifi.Name, err)
	}
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
		conn.Close()
	}()

	// Watch for device changes while reading; a change that alters the
	// index ends serve so the socket is re-opened on the new device.
	stop := make(chan struct{})
	var moved atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if !c.wait(ctx, poll, 24*time.Hour) {
				_ = conn.SetReadDeadline(time.Unix(1, 0))
				return
			}
			select {
			case <-stop:
				return
			default:
			}
			nifi := c.refresh()
			if nifi == nil || nifi.Index != ifi.Index {
				if nifi == nil {
					c.log.Printf("device %s disappeared", c.ifname)
				} else {
					c.log.Printf("device %s re-created (index %d -> %d)", c.ifname, ifi.Index, nifi.Index)
				}
				moved.Store(true)
				_ = conn.SetReadDeadline(time.Unix(1, 0))
				return
			}
		}
	}()
	defer func() {
		close(stop)
		c.notify() // wake the watcher so it sees stop
		wg.Wait()
	}()

	// Read through the raw connection, many packets per system call
	// (recvmmsg): conn.ReadFrom would take one call and allocate the
	// sender's address for every packet, which the daemon never uses.
	r := newBatchReader()
	for {
		n, err := r.read(rc)
		if err != nil {
			if ctx.Err() != nil || moved.Load() {
				return nil
			}
			return fmt.Errorf("read on %s: %w", ifi.Name, err)
		}
		for i := 0; i < n; i++ {
			h(r.packet(i))
		}
	}
}

// Batch reading: up to batchSize packets of at most slotSize bytes per
// recvmmsg(2). Knocks and SPA packets (at most 1500 bytes of payload) fit a
// slot; a larger packet is truncated, which the decoder rejects.
const (
	batchSize = 32
	slotSize  = 4096
)

// mmsghdr is struct mmsghdr; Go pads it to the alignment of Msghdr, as C
// does, on 32- and 64-bit targets alike.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

type batchReader struct {
	bufs   []byte
	iovs   [batchSize]unix.Iovec
	hdrs   [batchSize]mmsghdr
	n      int
	err    error
	single bool // recvmmsg is missing (ENOSYS): one read per packet
	// drained: the last batch was not full, so the queue was empty when
	// it was read; the next read waits for the poller at once instead of
	// making a call that would only say EAGAIN (a packet that came since
	// made the socket ready again: the poller latches that).
	drained bool
	readFn  func(fd uintptr) bool
}

func newBatchReader() *batchReader {
	r := &batchReader{bufs: make([]byte, batchSize*slotSize)}
	for i := range r.iovs {
		r.iovs[i].Base = &r.bufs[i*slotSize]
		r.iovs[i].SetLen(slotSize)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	r.readFn = r.recv
	return r
}

// recv is called by the runtime poller with the socket's descriptor; it
// returns false to wait for readiness.
func (r *batchReader) recv(fd uintptr) bool {
	if r.drained {
		r.drained = false
		return false
	}
	if r.single {
		n, err := unix.Read(int(fd), r.bufs[:slotSize])
		r.n, r.err = 1, err
		r.hdrs[0].len = uint32(n)
		return err != unix.EAGAIN
	}
	// MSG_DONTWAIT: the call never blocks, so it need not tell the
	// scheduler (RawSyscall), which saves a little on every batch.
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		r.n, r.err = int(n), nil
		r.drained = r.n < batchSize
		return true
	case unix.EAGAIN:
		return false
	case unix.ENOSYS:
		r.single = true
		return r.recv(fd)
	}
	r.n, r.err = 0, e
	return true
}

// read blocks until packets arrive and returns how many.
func (r *batchReader) read(rc syscall.RawConn) (int, error) {
	if err := rc.Read(r.readFn); err != nil {
		return 0, err
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.n, nil
}

// packet returns the i-th packet of the last read; valid until the next.
func (r *batchReader) packet(i int) []byte {
	l := int(r.hdrs[i].len)
	if l > slotSize {
		l = slotSize
	}
	return r.bufs[i*slotSize : i*slotSize+l]
}

// netlinkConn is a rtnetlink socket subscribed to link and address changes.
type netlinkConn struct{ f *os.File }

func watchNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &netlinkConn{f: os.NewFile(uintptr(fd), "rtnetlink")}, nil
}

func (n *netlinkConn) Read(b []byte) (int, error) { return n.f.Read(b) }
func (n *netlinkConn) Close() error               { return n.f.Close() }
