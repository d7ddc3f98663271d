//go:build linux

package capture

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestTpacketLayout checks the parser's offsets against x/sys/unix's
// structs, which are generated from the kernel's headers for each
// architecture (run under qemu for mips and arm, this checks the 32-bit
// layouts).
func TestTpacketLayout(t *testing.T) {
	var p unix.Tpacket3Hdr
	var d unix.TpacketBlockDesc
	var h unix.TpacketHdrV1
	hdr := unsafe.Offsetof(d.Hdr)
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"tpacket3_hdr.tp_next_offset", unsafe.Offsetof(p.Next_offset), pktNextOff},
		{"tpacket3_hdr.tp_snaplen", unsafe.Offsetof(p.Snaplen), pktSnaplenOff},
		{"tpacket3_hdr.tp_status", unsafe.Offsetof(p.Status), pktStatusOff},
		{"tpacket3_hdr.tp_net", unsafe.Offsetof(p.Net), pktNetOff},
		{"sizeof tpacket3_hdr", unsafe.Sizeof(p), pktHdrLen},
		{"block_status", hdr + unsafe.Offsetof(h.Block_status), blockStatusOff},
		{"num_pkts", hdr + unsafe.Offsetof(h.Num_pkts), blockNumOff},
		{"offset_to_first_pkt", hdr + unsafe.Offsetof(h.Offset_to_first_pkt), blockFirstOff},
		{"blk_len", hdr + unsafe.Offsetof(h.Blk_len), blockLenOff},
		{"sizeof tpacket_hdr_v1", unsafe.Sizeof(h), unsafe.Sizeof(d.Hdr)},
		{"sizeof tpacket_block_desc", unsafe.Sizeof(d), blockDescLen},
		{"sizeof tpacket_req3", unsafe.Sizeof(unix.TpacketReq3{}), 28},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestRingSizeFor(t *testing.T) {
	for _, tc := range []struct {
		ram  uint64
		want int
	}{
		{0, 512 << 10},
		{8 << 20, 512 << 10},  // an 8 MB board still gets the least
		{32 << 20, 512 << 10}, // 32 MB router
		{64 << 20, 1 << 20},   // 64 MB router
		{128 << 20, 2 << 20},
		{100 << 20, 1600 << 10}, // whole blocks
		{256 << 20, 2 << 20},
		{24 << 30, 2 << 20}, // capped
	} {
		if got := ringSizeFor(tc.ram); got != tc.want {
			t.Errorf("ringSizeFor(%d MiB) = %d KiB, want %d KiB", tc.ram>>20, got>>10, tc.want>>10)
		}
		if got := ringSizeFor(tc.ram); got%ringBlock != 0 {
			t.Errorf("ringSizeFor(%d MiB) = %d: not whole blocks", tc.ram>>20, got)
		}
	}
	if b := RingSize(); b < minRing || b > maxRing {
		t.Errorf("RingSize() = %d, outside [%d, %d]", b, minRing, maxRing)
	}
}
