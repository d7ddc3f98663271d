//go:build linux

package capture

import (
	"strings"
	"testing"
	"time"
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

// TestReadReadsTheClockOncePerCall: the packets a read or a peek hands
// over share one clock reading, taken only when there is a packet (a
// reading is two system calls on 32-bit MIPS, where the Go runtime has no
// vDSO: it was a third of the daemon's CPU at 200 first knocks a second
// on an emulated 24Kc when every packet read the clock).
func TestReadReadsTheClockOncePerCall(t *testing.T) {
	mem := append(testBlock(ringBlock, 96, true, []byte("a"), []byte("b")),
		testBlock(ringBlock, 96, true, []byte("c"), []byte("d"))...)
	mem = append(mem, testBlock(ringBlock, 96, false, []byte("e"))...)
	reads := 0
	base := time.Unix(1000, 0)
	b := &bulkSocket{mem: mem, blocks: 3, now: func() time.Time { reads++; return base.Add(time.Duration(reads)) }}
	var got []string
	var ats []time.Time
	h := func(p []byte, at time.Time) { got = append(got, string(p)); ats = append(ats, at) }

	if n := b.read(h); n != 4 || strings.Join(got, "") != "abcd" {
		t.Fatalf("read handed over %d packets %q, want 4 (abcd)", n, got)
	}
	if reads != 1 {
		t.Fatalf("read read the clock %d times for 4 packets, want 1", reads)
	}
	for i, at := range ats {
		if !at.Equal(base.Add(1)) {
			t.Fatalf("packet %d at %v, want the one reading %v", i, at, base.Add(1))
		}
	}
	if n := b.read(h); n != 0 || reads != 1 {
		t.Fatalf("read of no block: %d packets, %d clock readings, want 0 and still 1", n, reads)
	}
	// The block the kernel is filling: peek reads the clock once more.
	if n := b.peek(h); n != 1 || reads != 2 || !ats[4].Equal(base.Add(2)) {
		t.Fatalf("peek: %d packets, %d readings, at %v; want 1, 2, %v", n, reads, ats[len(ats)-1], base.Add(2))
	}
	if n := b.peek(h); n != 0 || reads != 2 {
		t.Fatalf("peek with nothing new: %d packets, %d readings, want 0 and still 2", n, reads)
	}
}
