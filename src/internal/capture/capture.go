//go:build linux

// Package capture reads knock packets from a network device through
// AF_PACKET cooked sockets with classic BPF filters attached before bind,
// and follows the device: it waits for a device that does not exist yet,
// re-opens the sockets when the device is re-created (PPPoE reconnect, new
// ifindex) or fails, and keeps the set of the device's current addresses.
//
// It is event driven (rtnetlink, and the packets themselves): when nothing
// changes and no packet comes, it does not wake up. Packets come through
// a TPACKET_V3 receive ring; urgent ones (a sequence's last knock, SPA)
// are read at once, the others as the kernel hands over blocks of them
// (see bulk.go and ring.go).
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
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Handler is called for every packet the filter accepts, from the capture
// goroutine. b is reused after the call returns. at is when the capture
// read the packet: one clock reading for every packet read at once (a
// reading is two system calls on 32-bit MIPS). After the packets read at
// once (a batch), it is called once more with a nil b and a zero at: what
// the handler held back for the batch (log lines) can go out.
type Handler func(b []byte, at time.Time)

// Capture owns the socket on one device.
type Capture struct {
	ifname string
	log    *logx.Logger

	mu     sync.Mutex
	filter []bpf.RawInstruction // every packet to read
	urgent []bpf.RawInstruction // those to read at once
	conn   *packet.Conn         // the doorbell
	bulk   *bulkSocket

	addrs   atomic.Pointer[[]netip.Addr] // a handful: a scan beats a map
	edges   atomic.Pointer[[]netip.Addr] // network and broadcast addresses of its IPv4 subnets
	index   atomic.Int32
	changed chan struct{}
	ready   chan struct{} // closed once capturing, or waiting for the device
	readyOK sync.Once
}

// New returns a capture for ifname with the initial filter.
func New(ifname string, filter []bpf.RawInstruction, log *logx.Logger) *Capture {
	c := &Capture{ifname: ifname, filter: filter, log: log, changed: make(chan struct{}, 1), ready: make(chan struct{})}
	c.addrs.Store(new([]netip.Addr))
	c.edges.Store(new([]netip.Addr))
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

// Own reports whether a is one of the device's addresses, or the
// network or broadcast address of one of its IPv4 subnets: no knocker
// sends from those (a packet that says so is spoofed).
func (c *Capture) Own(a netip.Addr) bool {
	return c.Local(a) || slices.Contains(*c.edges.Load(), a)
}

// SubnetEdges returns the network and broadcast addresses of the IPv4
// subnet p (none for /31 and /32, whose addresses are all hosts, and for
// IPv6, which has no broadcast).
func SubnetEdges(p netip.Prefix) []netip.Addr {
	if !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 0 {
		return nil
	}
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bc := n | (1<<(32-p.Bits()) - 1)
	return []netip.Addr{p.Masked().Addr(), netip.AddrFrom4([4]byte{byte(bc >> 24), byte(bc >> 16), byte(bc >> 8), byte(bc)})}
}

// Present reports whether the device exists now.
func (c *Capture) Present() bool { return c.index.Load() != 0 }

// Addrs returns the device's current addresses.
func (c *Capture) Addrs() []netip.Addr {
	return append([]netip.Addr(nil), *c.addrs.Load()...)
}

// SetFilter replaces the BPF programs (on reload): all accepts every
// packet to read, urgent those to read at once (nil: the same as all).
// The decoder re-checks everything, so packets queued under the old
// programs are harmless.
func (c *Capture) SetFilter(all, urgent []bpf.RawInstruction) error {
	if urgent == nil {
		urgent = all
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filter, c.urgent = all, urgent
	if c.bulk != nil {
		if err := c.bulk.setFilter(all); err != nil {
			return fmt.Errorf("set filter on %s: %w", c.ifname, err)
		}
	}
	if c.conn != nil {
		if err := c.conn.SetBPF(urgent); err != nil {
			return fmt.Errorf("set filter on %s: %w", c.ifname, err)
		}
	}
	return nil
}

// Stats returns and resets the kernel's packet and drop counters of the
// current socket.
func (c *Capture) Stats() (packets, drops uint32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bulk == nil {
		return 0, 0, errors.New("no socket open")
	}
	return c.bulk.stats()
}

// refresh re-reads the device's index and addresses. It returns the
// interface, or nil when the device does not exist.
func (c *Capture) refresh() *net.Interface {
	ifi, err := net.InterfaceByName(c.ifname)
	if err != nil {
		c.addrs.Store(new([]netip.Addr))
		c.edges.Store(new([]netip.Addr))
		c.index.Store(0)
		return nil
	}
	var m, edges []netip.Addr
	if as, err := ifi.Addrs(); err == nil {
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && !slices.Contains(m, ip.Unmap()) {
					m = append(m, ip.Unmap())
					bits, _ := n.Mask.Size()
					edges = append(edges, SubnetEdges(netip.PrefixFrom(ip.Unmap(), bits))...)
				}
			}
		}
	}
	c.edges.Store(&edges)
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
		var watching sync.WaitGroup
		defer func() { nl.Close(); watching.Wait() }() // the read below ends with the close
		watching.Add(1)
		go func() {
			defer watching.Done()
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

// serve opens the sockets on ifi and reads until the device changes (nil
// error) or a socket fails. It is long because the sockets' order of
// binding, the device watcher and the teardown (deferred, in reverse) share
// the sockets' lifetimes: kept in one function, each socket is closed where
// it was opened, after the goroutines reading it ended.
func (c *Capture) serve(ctx context.Context, ifi *net.Interface, h Handler, poll bool) error {
	c.mu.Lock()
	// The doorbell first: the bulk socket, bound after it, then gets
	// every packet before the doorbell does (bulk.go).
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ALL, &packet.Config{Filter: c.urgent})
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("listen on %s: %w", ifi.Name, err)
	}
	bulk, err := openBulk(ifi.Index, c.filter, RingSize())
	if err != nil {
		c.mu.Unlock()
		conn.Close()
		return fmt.Errorf("listen on %s: %w", ifi.Name, err)
	}
	c.conn, c.bulk = conn, bulk
	c.mu.Unlock()
	c.setReady()
	c.log.Debugf("listening on %s (index %d)", ifi.Name, ifi.Index)
	rc, err := conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", ifi.Name, err)
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, doorbellBuffer)
	})

	br := &bulkReader{sock: bulk, h: h}
	var bulkDone sync.WaitGroup
	bulkDone.Add(1)
	go func() {
		defer bulkDone.Done()
		br.loop()
	}()
	defer func() {
		bulk.interrupt()
		bulkDone.Wait()
		c.mu.Lock()
		c.conn, c.bulk = nil, nil
		c.mu.Unlock()
		conn.Close()
		bulk.close()
	}()

	// Watch for device changes while reading; a change that alters the
	// index ends serve so the sockets are re-opened on the new device.
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

	// The doorbell's packets are only counted: the bulk socket has them,
	// and every packet before them, in order. They are handled from
	// within the read (see recv).
	r := newBatchReader(doorbellSlot)
	rang := func(int) { br.rang() }
	var down time.Time
	for {
		err := r.read(rc, rang)
		if err == nil {
			continue
		}
		if ctx.Err() != nil || moved.Load() {
			return nil
		}
		// ENETDOWN: the device went down, or was down when the socket was
		// bound. The socket stays bound to it and receives again once it
		// is up: keep it (re-opening would lose the knocks of the first
		// moments after the device comes up). A deleted or re-created
		// device ends serve. The kernel says it once per event; a burst
		// is handled as any other error. (The bulk socket's ENETDOWN ends
		// one drain and is forgotten the same way.)
		if errors.Is(err, unix.ENETDOWN) && time.Since(down) > 10*time.Millisecond {
			down = time.Now()
			nifi := c.refresh()
			if nifi == nil || nifi.Index != ifi.Index {
				return nil
			}
			c.log.Printf("device %s is down", c.ifname)
			continue
		}
		return fmt.Errorf("read on %s: %w", ifi.Name, err)
	}
}
