//go:build linux

package capture

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"golang.org/x/sys/unix"
)

// TestMmsghdrLayout checks struct mmsghdr's size as the kernel sees it:
// struct msghdr followed by an unsigned int, padded to pointer alignment.
// (Under qemu for mips and arm this checks the 32-bit layout.)
func TestMmsghdrLayout(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	want := (unsafe.Sizeof(unix.Msghdr{}) + 4 + ptr - 1) / ptr * ptr
	if got := unsafe.Sizeof(mmsghdr{}); got != want {
		t.Fatalf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
	r := newBatchReader(slotSize)
	r.hdrs[3].len = slotSize + 100 // truncated by the kernel: MSG_TRUNC reports the full length
	if got := len(r.packet(3)); got != slotSize {
		t.Fatalf("packet(3) has %d bytes, want the slot size %d", got, slotSize)
	}
}

func TestLocal(t *testing.T) {
	c := New("none0", nil, logx.Discard())
	a := netip.MustParseAddr("192.0.2.1")
	if c.Local(a) {
		t.Fatal("Local is true before any address is known")
	}
	addrs := []netip.Addr{netip.MustParseAddr("2001:db8::1"), a}
	c.addrs.Store(&addrs)
	if !c.Local(a) || !c.Local(netip.MustParseAddr("2001:db8::1")) {
		t.Fatal("Local misses a device address")
	}
	if c.Local(netip.MustParseAddr("192.0.2.2")) || c.Local(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Fatal("Local accepts an address the device does not have")
	}
	if got := c.Addrs(); len(got) != 2 {
		t.Fatalf("Addrs() = %v", got)
	}
}

// TestPacketDuringHandlingIsRead: a packet that comes while the previous
// batch is handled is read at once, not when the next packet comes. (The
// runtime poller records the readiness it brings; a read that starts over
// forgets it.)
func TestPacketDuringHandlingIsRead(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "socketpair")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	send := func(s string) {
		if _, err := unix.Write(fds[1], []byte(s)); err != nil {
			t.Error(err)
		}
	}
	var got []string
	var sent time.Time
	var took time.Duration
	h := func(b []byte, _ time.Time) {
		got = append(got, string(b))
		switch string(b) {
		case "one":
			// While "one" is handled, "two" comes and the poller sees it.
			send("two")
			sent = time.Now()
			time.Sleep(50 * time.Millisecond)
		case "two":
			took = time.Since(sent)
			_ = f.SetReadDeadline(time.Unix(1, 0)) // done
		}
	}
	if err := f.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	send("one")
	r := newBatchReader(slotSize)
	batch := func(n int) {
		for i := 0; i < n; i++ {
			h(r.packet(i), time.Time{})
		}
	}
	for i := 0; i < 10; i++ {
		if err = r.read(rc, batch); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want the deadline", err)
	}
	if strings.Join(got, " ") != "one two" {
		t.Fatalf("handled %q, want one and two", got)
	}
	if took > time.Second {
		t.Fatalf("the packet that came during handling was read after %v", took)
	}
}

func TestSubnetEdges(t *testing.T) {
	for p, want := range map[string]string{
		"192.0.2.1/24":  "192.0.2.0 192.0.2.255",
		"10.9.0.1/30":   "10.9.0.0 10.9.0.3",
		"10.0.0.77/8":   "10.0.0.0 10.255.255.255",
		"0.0.0.0/0":     "0.0.0.0 255.255.255.255",
		"10.9.0.1/31":   "",
		"10.9.0.1/32":   "",
		"2001:db8::/64": "",
	} {
		var got []string
		for _, a := range SubnetEdges(netip.MustParsePrefix(p)) {
			got = append(got, a.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("SubnetEdges(%s) = %v, want %s", p, got, want)
		}
	}
}
