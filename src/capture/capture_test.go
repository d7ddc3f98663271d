//go:build linux

package capture

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/knockd-go/knockd-go/src/logx"
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
	r := newBatchReader()
	r.hdrs[3].len = slotSize + 100 // truncated by the kernel: MSG_TRUNC reports the full length
	if got := len(r.packet(3)); got != slotSize {
		t.Fatalf("packet(3) has %d bytes, want the slot size %d", got, slotSize)
	}
}

func TestRecvBufferFor(t *testing.T) {
	for _, tc := range []struct {
		ram  uint64
		want int
	}{
		// What is asked for; the kernel doubles it.
		{0, 512 << 10},
		{8 << 20, 512 << 10}, // an 8 MB board still gets 1 MiB
		{32 << 20, 1 << 20},  // 32 MB router: 2 MiB
		{64 << 20, 2 << 20},  // 64 MB router: 4 MiB
		{128 << 20, 4 << 20}, // 128 MB router: 8 MiB
		{256 << 20, 8 << 20}, // 16 MiB
		{512 << 20, 16 << 20},
		{24 << 30, 16 << 20}, // capped: 32 MiB
	} {
		if got := recvBufferFor(tc.ram); got != tc.want {
			t.Errorf("recvBufferFor(%d MiB) = %d, want %d", tc.ram>>20, got, tc.want)
		}
	}
	if b := RecvBuffer(); b < minRecvBuffer || b > maxRecvBuffer {
		t.Errorf("RecvBuffer() = %d, outside [%d, %d]", b, minRecvBuffer, maxRecvBuffer)
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
