package capture

import (
	"testing"
	"unsafe"

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
