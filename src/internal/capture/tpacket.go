package capture

import (
	"encoding/binary"
	"errors"
)

// The layout of a TPACKET_V3 receive ring's blocks (linux/if_packet.h).
// Every field has a fixed size and tpacket_hdr_v1's only 64-bit field is
// __aligned_u64, so the offsets are the same on every architecture, 32-bit
// MIPS and ARM included (TestTpacketLayout checks them against x/sys/unix's
// structs). Integers are in the host's byte order.
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// tpacket_hdr_v1: block_status, num_pkts, offset_to_first_pkt,
	// blk_len, seq_num (aligned u64), ts_first_pkt, ts_last_pkt.
	blockStatusOff = 8
	blockNumOff    = 12
	blockFirstOff  = 16
	blockLenOff    = 20
	blockDescLen   = 48

	// struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen,
	// tp_len, tp_status, tp_mac (u16), tp_net (u16), hv1, padding.
	pktNextOff    = 0
	pktSnaplenOff = 12
	pktStatusOff  = 20
	pktNetOff     = 26
	pktHdrLen     = 48

	tpStatusUser    = 1    // TP_STATUS_USER: the block is user space's
	tpStatusTimeout = 0x20 // TP_STATUS_BLK_TMO: handed over by its retire timeout, not full
	pktAlign        = 8    // V3_ALIGNMENT: packets start 8-byte aligned
)

var (
	errBlockHeader = errors.New("tpacket3 block: header out of the block")
	errPacketHdr   = errors.New("tpacket3 block: packet header out of the block")
	errPacketData  = errors.New("tpacket3 block: packet data out of the block")
	errPacketNext  = errors.New("tpacket3 block: bad offset to the next packet")
)

// blockHeader is what walking a block needs from its descriptor.
type blockHeader struct {
	status uint32 // TP_STATUS_KERNEL (0) or TP_STATUS_USER and flags
	num    int    // packets in the block
	first  int    // offset of the first packet
	length int    // bytes used, descriptor included
}

func parseBlockHeader(b []byte) (blockHeader, error) {
	if len(b) < blockDescLen {
		return blockHeader{}, errBlockHeader
	}
	ne := binary.NativeEndian
	h := blockHeader{
		status: ne.Uint32(b[blockStatusOff:]),
		num:    int(ne.Uint32(b[blockNumOff:])),
		first:  int(ne.Uint32(b[blockFirstOff:])),
		length: int(ne.Uint32(b[blockLenOff:])),
	}
	if h.first < blockDescLen || h.first > len(b) || h.num < 0 {
		return blockHeader{}, errBlockHeader
	}
	return h, nil
}

// blockCursor is a position in a block: the index of the next packet to
// read and its offset. The zero value is "not started": the first packet
// is at the block's offset_to_first_pkt.
type blockCursor struct {
	k   int
	off int
}

// walkBlock hands fn the packets of block b (its descriptor at b[0]) from
// cur up to the num-th (the block's count, or a snapshot of it for the
// block the kernel is filling), in order, and returns where it stopped.
// fn gets the packet from its network header on (the socket is cooked:
// tp_net), up to its captured length, valid until the block is handed
// back to the kernel.
//
// With partial set, the block is still being filled: a packet whose
// header is still zero (user space zeroes a block before it hands it
// back) is being copied in by the kernel, and the walk stops before it.
// The walk never reads outside b and takes at most num steps, whatever b
// holds: a corrupt block ends it with an error.
func walkBlock(b []byte, first, num int, cur blockCursor, partial bool, fn func([]byte)) (blockCursor, error) {
	ne := binary.NativeEndian
	if cur.k == 0 {
		cur.off = first
	}
	for cur.k < num {
		off := cur.off
		if off < blockDescLen || off > len(b)-pktHdrLen {
			return cur, errPacketHdr
		}
		h := b[off : off+pktHdrLen]
		snap := int(ne.Uint32(h[pktSnaplenOff:]))
		net := int(ne.Uint16(h[pktNetOff:]))
		next := int(ne.Uint32(h[pktNextOff:]))
		if partial && (net == 0 || snap == 0) {
			return cur, nil // still being written
		}
		if net < pktHdrLen || snap > len(b)-off-net {
			return cur, errPacketData
		}
		if cur.k < num-1 && (next < pktHdrLen || next > len(b)-off || next%pktAlign != 0) {
			return cur, errPacketNext
		}
		fn(b[off+net : off+net+snap])
		cur.k++
		cur.off = off + next
	}
	return cur, nil
}
