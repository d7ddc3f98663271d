// Package decode parses the IP packets a cooked AF_PACKET socket delivers
// (byte 0 is the IPv4 or IPv6 header, whatever the link type) into the few
// fields the knock matcher needs. It allocates nothing and trusts nothing:
// the kernel filter in front of it is only a pre-filter.
package decode

import (
	"errors"
	"net/netip"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Packet is a decoded TCP or UDP packet.
type Packet struct {
	Src, Dst netip.Addr
	Proto    l4.Proto
	SrcPort  uint16 // source port
	DstPort  uint16 // destination port
	Flags    uint8  // TCP flags (0 for UDP)
	Payload  []byte // transport payload (aliases the input)
}

// Errors returned by Decode. They are values so that callers can count
// them without allocating.
var (
	ErrShort      = errors.New("decode: truncated packet")
	ErrVersion    = errors.New("decode: not IPv4 or IPv6")
	ErrHeader     = errors.New("decode: malformed IP header")
	ErrFragment   = errors.New("decode: non-first fragment")
	ErrProto      = errors.New("decode: not TCP or UDP")
	ErrExtHeaders = errors.New("decode: IPv6 extension header chain too long")
)

// maxExtHeaders bounds the IPv6 extension-header walk.
const maxExtHeaders = 8

// Decode parses b into p. On error p is left in an undefined state.
func Decode(b []byte, p *Packet) error {
	if len(b) < 1 {
		return ErrShort
	}
	switch b[0] >> 4 {
	case 4:
		return decode4(b, p)
	case 6:
		return decode6(b, p)
	}
	return ErrVersion
}

func decode4(b []byte, p *Packet) error {
	if len(b) < 20 {
		return ErrShort
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return ErrHeader
	}
	total := int(b[2])<<8 | int(b[3])
	if total < ihl {
		return ErrHeader
	}
	if len(b) < total {
		return ErrShort
	}
	b = b[:total] // drop link padding
	if b[6]&0x1f != 0 || b[7] != 0 {
		return ErrFragment
	}
	p.Src = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	p.Dst = netip.AddrFrom4([4]byte{b[16], b[17], b[18], b[19]})
	return transport(b[9], b[ihl:], p)
}

func decode6(b []byte, p *Packet) error {
	if len(b) < 40 {
		return ErrShort
	}
	plen := int(b[4])<<8 | int(b[5])
	if len(b) < 40+plen {
		return ErrShort
	}
	if plen == 0 {
		return ErrHeader // jumbograms are not knocks
	}
	var src, dst [16]byte
	copy(src[:], b[8:24])
	copy(dst[:], b[24:40])
	p.Src = netip.AddrFrom16(src)
	p.Dst = netip.AddrFrom16(dst)
	next := b[6]
	rest := b[40 : 40+plen]
	for i := 0; ; i++ {
		switch next {
		case uint8(l4.TCP), uint8(l4.UDP):
			return transport(next, rest, p)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return ErrShort
			}
			n := (int(rest[1]) + 1) * 8
			if len(rest) < n {
				return ErrShort
			}
			next, rest = rest[0], rest[n:]
		case 44: // fragment
			if len(rest) < 8 {
				return ErrShort
			}
			if (int(rest[2])<<8|int(rest[3]))&0xfff8 != 0 {
				return ErrFragment
			}
			next, rest = rest[0], rest[8:]
		case 51: // authentication header: length in 4-byte units, minus 2
			if len(rest) < 8 {
				return ErrShort
			}
			n := (int(rest[1]) + 2) * 4
			if len(rest) < n {
				return ErrShort
			}
			next, rest = rest[0], rest[n:]
		default:
			return ErrProto
		}
		if i >= maxExtHeaders {
			return ErrExtHeaders
		}
	}
}

func transport(proto uint8, b []byte, p *Packet) error {
	switch l4.Proto(proto) {
	case l4.TCP:
		if len(b) < 20 {
			return ErrShort
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return ErrHeader
		}
		p.Flags = b[13]
		p.Payload = b[off:]
	case l4.UDP:
		if len(b) < 8 {
			return ErrShort
		}
		ulen := int(b[4])<<8 | int(b[5])
		if ulen < 8 || ulen > len(b) {
			return ErrHeader
		}
		p.Flags = 0
		p.Payload = b[8:ulen]
	default:
		return ErrProto
	}
	p.Proto = l4.Proto(proto)
	p.SrcPort = uint16(b[0])<<8 | uint16(b[1])
	p.DstPort = uint16(b[2])<<8 | uint16(b[3])
	return nil
}
