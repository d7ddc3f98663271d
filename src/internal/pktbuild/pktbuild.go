// Package pktbuild builds raw IPv4 and IPv6 packets carrying TCP or UDP,
// starting at the IP header (what a cooked AF_PACKET socket or a raw IP
// socket with IP_HDRINCL sees), with correct IP, TCP and UDP checksums.
//
// It serves tests (well-formed and deliberately malformed packets) and
// packet generators. Invalid specifications that cannot be encoded at all
// (mixed address families, misaligned option lengths) panic: they are
// programming errors of the caller, not data.
package pktbuild

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP protocol and IPv6 extension header numbers.
const (
	ProtoTCP       = 6
	ProtoUDP       = 17
	HopByHop       = 0
	Routing        = 43
	Fragment       = 44
	AuthHeader     = 51
	DestOpts       = 60
	NoNextHeader   = 59
	ProtoICMPv6    = 58
	ProtoICMP      = 1
	defaultTTL     = 64
	defaultWindow  = 65535
	ipv4HeaderLen  = 20
	ipv6HeaderLen  = 40
	tcpHeaderLen   = 20
	udpHeaderLen   = 8
	defaultAHLen   = 24 // AH with a 96-bit ICV (HMAC-SHA1-96)
	minExtHdrLen   = 8
	fragmentHdrLen = 8
)

// TCP flag bits (byte 13 of the TCP header).
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// ExtHeader is one IPv6 extension header. Its Next Header field is filled
// in from the header (or transport protocol) that follows it.
type ExtHeader struct {
	// Type is HopByHop, Routing, Fragment, DestOpts or AuthHeader. Any other
	// value is encoded like an options header (length in 8-byte units).
	Type uint8
	// Len is the total length in bytes: a multiple of 8 (a multiple of 4
	// for AuthHeader). Zero means the minimum: 8, or 24 for AuthHeader.
	// Ignored for Fragment, which is always 8 bytes.
	Len int
	// Data is copied after the two fixed bytes (Next Header and length);
	// the rest is zero (Pad1 options, for option headers).
	Data []byte
	// FragOffset (in 8-byte units), More and ID fill a Fragment header.
	FragOffset uint16
	More       bool
	ID         uint32
}

// Spec describes one packet. The zero value of most fields gives a sane
// default; fields named as overrides replace a computed value when not zero
// (to build a literal zero, patch the returned bytes).
type Spec struct {
	// Src and Dst select the family: both IPv4 or both IPv6.
	Src, Dst netip.Addr
	// Proto is the transport protocol. For ProtoTCP and ProtoUDP a header
	// is built from the fields below unless Raw is set.
	Proto uint8
	// Raw, when non-nil, is the whole transport part (no header is built):
	// use it for later fragments or other protocols.
	Raw []byte

	SrcPort, DstPort uint16
	Flags            uint8  // TCP flags
	Seq, Ack         uint32 // TCP sequence and acknowledgement numbers
	Window           uint16 // TCP window; zero means 65535
	TCPOptions       []byte // padded with zeros (End of Option List) to 4 bytes
	Payload          []byte

	TTL uint8 // IPv4 TTL or IPv6 hop limit; zero means 64

	// IPv4 only.
	ID            uint16
	TOS           uint8
	DontFragment  bool
	MoreFragments bool
	FragOffset    uint16 // in 8-byte units, 13 bits
	IPv4Options   []byte // padded with zeros to 4 bytes

	// IPv6 only.
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	ExtHeaders   []ExtHeader

	// Overrides for malformed packets (zero: computed).
	IHL        uint8  // IPv4 header length in 32-bit words (4 bits)
	TotalLen   uint16 // IPv4 total length
	PayloadLen uint16 // IPv6 payload length
	DataOffset uint8  // TCP data offset in 32-bit words (4 bits)
	UDPLen     uint16 // UDP length
	// NoChecksum leaves the transport checksum zero (UDP's "no checksum").
	NoChecksum bool
}

// TCP4 returns an IPv4 TCP segment without payload.
func TCP4(src, dst netip.Addr, sport, dport uint16, flags uint8) []byte {
	need4(src, dst)
	return Build(Spec{Src: src, Dst: dst, Proto: ProtoTCP, SrcPort: sport, DstPort: dport, Flags: flags})
}

// UDP4 returns an IPv4 UDP datagram.
func UDP4(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	need4(src, dst)
	return Build(Spec{Src: src, Dst: dst, Proto: ProtoUDP, SrcPort: sport, DstPort: dport, Payload: payload})
}

// TCP6 returns an IPv6 TCP segment without payload.
func TCP6(src, dst netip.Addr, sport, dport uint16, flags uint8) []byte {
	need6(src, dst)
	return Build(Spec{Src: src, Dst: dst, Proto: ProtoTCP, SrcPort: sport, DstPort: dport, Flags: flags})
}

// UDP6 returns an IPv6 UDP datagram.
func UDP6(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	need6(src, dst)
	return Build(Spec{Src: src, Dst: dst, Proto: ProtoUDP, SrcPort: sport, DstPort: dport, Payload: payload})
}

func need4(src, dst netip.Addr) {
	if !src.Is4() || !dst.Is4() {
		panic(fmt.Sprintf("pktbuild: %s -> %s: want IPv4 addresses", src, dst))
	}
}

func need6(src, dst netip.Addr) {
	if !src.Is6() || !dst.Is6() {
		panic(fmt.Sprintf("pktbuild: %s -> %s: want IPv6 addresses", src, dst))
	}
}

// Build returns the packet described by s.
func Build(s Spec) []byte { return Append(nil, s) }

// Append appends the packet described by s to b and returns the extended
// slice; with enough capacity in b it does not allocate.
func Append(b []byte, s Spec) []byte {
	switch {
	case s.Src.Is4() && s.Dst.Is4():
		return append4(b, &s)
	case s.Src.Is6() && s.Dst.Is6():
		return append6(b, &s)
	}
	panic(fmt.Sprintf("pktbuild: %s -> %s: addresses of one family required", s.Src, s.Dst))
}

func pad4(n int) int { return (n + 3) &^ 3 }

func transportLen(s *Spec) int {
	if s.Raw != nil {
		return len(s.Raw)
	}
	switch s.Proto {
	case ProtoTCP:
		return tcpHeaderLen + pad4(len(s.TCPOptions)) + len(s.Payload)
	case ProtoUDP:
		return udpHeaderLen + len(s.Payload)
	}
	return len(s.Payload)
}

func grow(b []byte, n int) ([]byte, []byte) {
	l := len(b)
	if cap(b)-l < n {
		nb := make([]byte, l, l+n)
		copy(nb, b)
		b = nb
	}
	b = b[:l+n]
	p := b[l:]
	clear(p)
	return b, p
}

func append4(b []byte, s *Spec) []byte {
	hlen := ipv4HeaderLen + pad4(len(s.IPv4Options))
	if hlen > 60 {
		panic(fmt.Sprintf("pktbuild: %d bytes of IPv4 options, at most 40", len(s.IPv4Options)))
	}
	tlen := transportLen(s)
	b, p := grow(b, hlen+tlen)
	ihl := uint8(hlen / 4)
	if s.IHL != 0 {
		ihl = s.IHL & 0x0f
	}
	p[0] = 4<<4 | ihl
	p[1] = s.TOS
	total := uint16(hlen + tlen)
	if s.TotalLen != 0 {
		total = s.TotalLen
	}
	binary.BigEndian.PutUint16(p[2:], total)
	binary.BigEndian.PutUint16(p[4:], s.ID)
	frag := s.FragOffset & 0x1fff
	if s.DontFragment {
		frag |= 0x4000
	}
	if s.MoreFragments {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(p[6:], frag)
	p[8] = ttl(s)
	p[9] = s.Proto
	src, dst := s.Src.As4(), s.Dst.As4()
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	copy(p[20:], s.IPv4Options)
	binary.BigEndian.PutUint16(p[10:], Checksum(0, p[:hlen]))

	// Pseudo-header: source, destination, zero, protocol, transport length.
	sum := sum16(0, src[:])
	sum = sum16(sum, dst[:])
	sum += uint32(s.Proto) + uint32(tlen)
	fillTransport(p[hlen:], s, sum)
	return b
}

func append6(b []byte, s *Spec) []byte {
	extLen := 0
	for i := range s.ExtHeaders {
		extLen += extHeaderLen(&s.ExtHeaders[i])
	}
	tlen := transportLen(s)
	b, p := grow(b, ipv6HeaderLen+extLen+tlen)
	binary.BigEndian.PutUint32(p[0:], 6<<28|uint32(s.TrafficClass)<<20|s.FlowLabel&0xfffff)
	plen := uint16(extLen + tlen)
	if s.PayloadLen != 0 {
		plen = s.PayloadLen
	}
	binary.BigEndian.PutUint16(p[4:], plen)
	if len(s.ExtHeaders) > 0 {
		p[6] = s.ExtHeaders[0].Type
	} else {
		p[6] = s.Proto
	}
	p[7] = ttl(s)
	src, dst := s.Src.As16(), s.Dst.As16()
	copy(p[8:24], src[:])
	copy(p[24:40], dst[:])

	off := ipv6HeaderLen
	for i := range s.ExtHeaders {
		e := &s.ExtHeaders[i]
		n := extHeaderLen(e)
		h := p[off : off+n]
		next := s.Proto
		if i+1 < len(s.ExtHeaders) {
			next = s.ExtHeaders[i+1].Type
		}
		h[0] = next
		copy(h[2:], e.Data)
		switch e.Type {
		case Fragment:
			h[1] = 0
			fo := (e.FragOffset & 0x1fff) << 3
			if e.More {
				fo |= 1
			}
			binary.BigEndian.PutUint16(h[2:], fo)
			binary.BigEndian.PutUint32(h[4:], e.ID)
		case AuthHeader:
			h[1] = uint8(n/4 - 2)
		default:
			h[1] = uint8(n/8 - 1)
		}
		off += n
	}

	// Pseudo-header: source, destination, 32-bit length, 24 zero bits,
	// next header (the transport protocol).
	sum := sum16(0, src[:])
	sum = sum16(sum, dst[:])
	sum += uint32(tlen) + uint32(s.Proto)
	fillTransport(p[off:], s, sum)
	return b
}

func extHeaderLen(e *ExtHeader) int {
	switch e.Type {
	case Fragment:
		return fragmentHdrLen
	case AuthHeader:
		n := e.Len
		if n == 0 {
			n = defaultAHLen
		}
		if n < minExtHdrLen || n%4 != 0 || n > (255+2)*4 {
			panic(fmt.Sprintf("pktbuild: AH length %d: want a multiple of 4 in 8-1028", n))
		}
		return n
	}
	n := e.Len
	if n == 0 {
		n = minExtHdrLen
	}
	if n < minExtHdrLen || n%8 != 0 || n > 256*8 {
		panic(fmt.Sprintf("pktbuild: extension header length %d: want a multiple of 8 in 8-2048", n))
	}
	if len(e.Data) > n-2 {
		panic(fmt.Sprintf("pktbuild: %d data bytes do not fit an extension header of %d bytes", len(e.Data), n))
	}
	return n
}

func ttl(s *Spec) uint8 {
	if s.TTL == 0 {
		return defaultTTL
	}
	return s.TTL
}

// fillTransport writes the transport part into t (zeroed, exactly the
// transport length) and its checksum, starting from the pseudo-header sum.
func fillTransport(t []byte, s *Spec, pseudo uint32) {
	if s.Raw != nil {
		copy(t, s.Raw)
		return
	}
	switch s.Proto {
	case ProtoTCP:
		hlen := tcpHeaderLen + pad4(len(s.TCPOptions))
		binary.BigEndian.PutUint16(t[0:], s.SrcPort)
		binary.BigEndian.PutUint16(t[2:], s.DstPort)
		binary.BigEndian.PutUint32(t[4:], s.Seq)
		binary.BigEndian.PutUint32(t[8:], s.Ack)
		off := uint8(hlen / 4)
		if s.DataOffset != 0 {
			off = s.DataOffset & 0x0f
		}
		t[12] = off << 4
		t[13] = s.Flags
		w := s.Window
		if w == 0 {
			w = defaultWindow
		}
		binary.BigEndian.PutUint16(t[14:], w)
		copy(t[20:], s.TCPOptions)
		copy(t[hlen:], s.Payload)
		if !s.NoChecksum {
			binary.BigEndian.PutUint16(t[16:], Checksum(pseudo, t))
		}
	case ProtoUDP:
		binary.BigEndian.PutUint16(t[0:], s.SrcPort)
		binary.BigEndian.PutUint16(t[2:], s.DstPort)
		ulen := uint16(len(t))
		if s.UDPLen != 0 {
			ulen = s.UDPLen
		}
		binary.BigEndian.PutUint16(t[4:], ulen)
		copy(t[8:], s.Payload)
		if !s.NoChecksum {
			c := Checksum(pseudo, t)
			if c == 0 {
				c = 0xffff // zero means "no checksum" in UDP
			}
			binary.BigEndian.PutUint16(t[6:], c)
		}
	default:
		copy(t, s.Payload)
	}
}

// sum16 adds b as big-endian 16-bit words (an odd last byte is padded
// with zero) to sum without folding.
func sum16(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// Checksum returns the Internet checksum (RFC 1071) of b, starting from
// the unfolded partial sum initial (for example a pseudo-header sum).
// Computing it over data that includes a correct checksum yields 0.
func Checksum(initial uint32, b []byte) uint16 {
	sum := sum16(initial, b)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// PseudoSum returns the unfolded sum of the transport pseudo-header for a
// transport part of length n: feed it to Checksum with the transport bytes
// to verify a received checksum (the result is 0 when it is correct).
func PseudoSum(src, dst netip.Addr, proto uint8, n int) uint32 {
	var sum uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		sum = sum16(sum16(0, a[:]), b[:])
	} else {
		a, b := src.As16(), dst.As16()
		sum = sum16(sum16(0, a[:]), b[:])
	}
	return sum + uint32(proto) + uint32(n)
}
