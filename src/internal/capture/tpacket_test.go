package capture

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// testBlock lays packets out as the kernel does in a TPACKET_V3 block of
// size bytes: the descriptor, then each packet's header at an 8-byte
// aligned offset, its network header net bytes in (a cooked socket's
// tp_net), tp_next_offset of the last one 0 when closed.
func testBlock(size, net int, closed bool, pkts ...[]byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, size)
	off := blockDescLen
	ne.PutUint32(b[blockFirstOff:], uint32(off))
	for i, p := range pkts {
		h := b[off:]
		l := (net + len(p) + pktAlign - 1) &^ (pktAlign - 1)
		if i < len(pkts)-1 || !closed {
			ne.PutUint32(h[pktNextOff:], uint32(l))
		}
		ne.PutUint32(h[pktSnaplenOff:], uint32(len(p)))
		ne.PutUint32(h[pktStatusOff:], tpStatusUser)
		ne.PutUint16(h[pktNetOff:], uint16(net))
		copy(h[net:], p)
		off += l
	}
	ne.PutUint32(b[blockNumOff:], uint32(len(pkts)))
	ne.PutUint32(b[blockLenOff:], uint32(off))
	if closed {
		ne.PutUint32(b[blockStatusOff:], tpStatusUser)
	}
	return b
}

func collect(b []byte, first, num int, cur blockCursor, partial bool) ([]string, blockCursor, error) {
	var got []string
	cur, err := walkBlock(b, first, num, cur, partial, func(p []byte) { got = append(got, string(p)) })
	return got, cur, err
}

func TestWalkBlock(t *testing.T) {
	pkts := [][]byte{[]byte("first knock"), []byte("second"), bytes.Repeat([]byte("s"), 1400)}
	b := testBlock(1<<14, 96, true, pkts...)
	h, err := parseBlockHeader(b)
	if err != nil || h.num != 3 || h.first != blockDescLen || h.status&tpStatusUser == 0 {
		t.Fatalf("parseBlockHeader = %+v, %v", h, err)
	}
	got, cur, err := collect(b, h.first, h.num, blockCursor{}, false)
	if err != nil || len(got) != 3 || got[0] != "first knock" || got[1] != "second" || got[2] != string(pkts[2]) {
		t.Fatalf("walk: %q, %v", got, err)
	}
	if cur.k != 3 {
		t.Fatalf("cursor %+v after the block, want k 3", cur)
	}

	// Read in two steps, as peek then read do: nothing twice, nothing lost.
	got, cur, err = collect(b, h.first, 1, blockCursor{}, true)
	if err != nil || len(got) != 1 || got[0] != "first knock" {
		t.Fatalf("first step: %q, %v", got, err)
	}
	got, _, err = collect(b, h.first, h.num, cur, false)
	if err != nil || len(got) != 2 || got[0] != "second" {
		t.Fatalf("second step: %q, %v", got, err)
	}
}

// TestWalkBlockPartial: in the block the kernel is filling, a packet it
// has made room for (counted) but not yet written (its header still
// zero) ends the walk, which carries on from it later.
func TestWalkBlockPartial(t *testing.T) {
	b := testBlock(1<<12, 96, false, []byte("one"), []byte("two"))
	ne := binary.NativeEndian
	second := blockDescLen + int(ne.Uint32(b[blockDescLen+pktNextOff:]))
	hdr := append([]byte(nil), b[second:second+pktHdrLen]...)
	clear(b[second+pktSnaplenOff : second+pktHdrLen]) // being copied in: only tp_next_offset written
	got, cur, err := collect(b, blockDescLen, 2, blockCursor{}, true)
	if err != nil || len(got) != 1 || got[0] != "one" || cur.k != 1 || cur.off != second {
		t.Fatalf("partial walk: %q, %+v, %v", got, cur, err)
	}
	copy(b[second:], hdr) // written now
	got, cur, err = collect(b, blockDescLen, 2, cur, true)
	if err != nil || len(got) != 1 || got[0] != "two" || cur.k != 2 {
		t.Fatalf("walk on: %q, %+v, %v", got, cur, err)
	}
	// A zeroed block (handed back, not reopened yet) with a stale count.
	z := make([]byte, 1<<12)
	ne.PutUint32(z[blockNumOff:], 7)
	if got, _, err := collect(z, blockDescLen, 7, blockCursor{}, true); err != nil || len(got) != 0 {
		t.Fatalf("stale block: %q, %v", got, err)
	}
}

func TestWalkBlockCorrupt(t *testing.T) {
	ne := binary.NativeEndian
	for _, tc := range []struct {
		name   string
		break_ func(b []byte)
		want   error
	}{
		{"next offset past the block", func(b []byte) { ne.PutUint32(b[blockDescLen+pktNextOff:], 1<<20) }, errPacketNext},
		{"next offset zero mid-block", func(b []byte) { ne.PutUint32(b[blockDescLen+pktNextOff:], 0) }, errPacketNext},
		{"next offset unaligned", func(b []byte) { ne.PutUint32(b[blockDescLen+pktNextOff:], 102) }, errPacketNext},
		{"snaplen past the block", func(b []byte) { ne.PutUint32(b[blockDescLen+pktSnaplenOff:], 1<<20) }, errPacketData},
		{"net inside the header", func(b []byte) { ne.PutUint16(b[blockDescLen+pktNetOff:], 8) }, errPacketData},
	} {
		b := testBlock(1<<10, 96, true, []byte("a"), []byte("b"))
		tc.break_(b)
		if _, _, err := collect(b, blockDescLen, 2, blockCursor{}, false); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := parseBlockHeader(make([]byte, 20)); err == nil {
		t.Error("a 20-byte block parsed")
	}
	b := testBlock(1<<10, 96, true, []byte("a"))
	ne.PutUint32(b[blockFirstOff:], 1<<11)
	if _, err := parseBlockHeader(b); err == nil {
		t.Error("a first packet past the block parsed")
	}
	// More packets counted than the block holds.
	b = testBlock(256, 96, true, []byte("a"))
	ne.PutUint32(b[blockDescLen+pktNextOff:], 112)
	if got, _, err := collect(b, blockDescLen, 5, blockCursor{}, false); err == nil {
		t.Errorf("5 packets in a 256-byte block: %q", got)
	}
}

// FuzzWalkBlock: whatever a block holds, the walk never reads outside it,
// takes at most num steps and hands over only bytes of the block.
func FuzzWalkBlock(f *testing.F) {
	f.Add(testBlock(512, 96, true, []byte("knock"), []byte("spa")), uint16(2), false, uint16(0), uint16(0))
	f.Add(testBlock(512, 96, false, []byte("knock")), uint16(3), true, uint16(1), uint16(160))
	f.Add(make([]byte, 64), uint16(1000), false, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, num uint16, partial bool, k, off uint16) {
		first := blockDescLen
		if h, err := parseBlockHeader(b); err == nil {
			first = h.first
		}
		steps := 0
		cur, err := walkBlock(b, first, int(num), blockCursor{k: int(k), off: int(off)}, partial, func(p []byte) {
			steps++
			if len(p) > len(b) {
				t.Fatalf("a packet of %d bytes from a block of %d", len(p), len(b))
			}
		})
		if steps > int(num) {
			t.Fatalf("%d packets from a count of %d", steps, num)
		}
		if err == nil && !partial && int(k) <= int(num) && cur.k != int(num) {
			t.Fatalf("walk ended at %d of %d without an error", cur.k, num)
		}
	})
}
