package decode_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/decode"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	pb "github.com/knockd-go/knockd-go/src/internal/pktbuild"
)

var (
	src4 = netip.MustParseAddr("203.0.113.9")
	dst4 = netip.MustParseAddr("192.0.2.1")
	src6 = netip.MustParseAddr("2001:db8:1::9")
	dst6 = netip.MustParseAddr("2001:db8:2::1")
)

// want is the expected outcome of Decode: an error, or these fields.
type want struct {
	err     error
	src     netip.Addr
	dst     netip.Addr
	proto   l4.Proto
	sport   uint16
	dport   uint16
	flags   uint8
	payload []byte
}

type tcase struct {
	name string
	pkt  []byte
	want want
}

func ok(src, dst netip.Addr, proto l4.Proto, sport, dport uint16, flags uint8, payload []byte) want {
	if payload == nil {
		payload = []byte{}
	}
	return want{src: src, dst: dst, proto: proto, sport: sport, dport: dport, flags: flags, payload: payload}
}

func fail(err error) want { return want{err: err} }

func patch(b []byte, off int, v ...byte) []byte {
	b = bytes.Clone(b)
	copy(b[off:], v)
	return b
}

func put16(b []byte, off int, v uint16) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint16(b[off:], v)
	return b
}

func ext(types ...uint8) []pb.ExtHeader {
	var hs []pb.ExtHeader
	for _, t := range types {
		hs = append(hs, pb.ExtHeader{Type: t})
	}
	return hs
}

func v6(proto uint8, hs []pb.ExtHeader, payload []byte) []byte {
	return pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: proto, SrcPort: 1111, DstPort: 2222, Flags: pb.SYN, Payload: payload, ExtHeaders: hs})
}

func cases() []tcase {
	tcp4 := pb.TCP4(src4, dst4, 40000, 7000, pb.SYN)
	udp4 := pb.UDP4(src4, dst4, 5353, 8000, []byte("knock"))
	tcp6 := pb.TCP6(src6, dst6, 40001, 9000, pb.SYN|pb.ACK)
	udp6 := pb.UDP6(src6, dst6, 5353, 62201, []byte("spa-data"))
	tcp4opts := pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, SrcPort: 1, DstPort: 22, Flags: pb.SYN,
		IPv4Options: []byte{0x94, 4, 0, 0}, TCPOptions: []byte{2, 4, 5, 0xb4}, Payload: []byte("data")})
	eight := []uint8{pb.HopByHop, pb.DestOpts, pb.Routing, pb.Fragment, pb.AuthHeader, pb.DestOpts, pb.Routing, pb.DestOpts}
	nine := append(append([]uint8{}, eight...), pb.DestOpts)

	cs := []tcase{
		{"tcp4 syn", tcp4, ok(src4, dst4, l4.TCP, 40000, 7000, l4.SYN, nil)},
		{"udp4", udp4, ok(src4, dst4, l4.UDP, 5353, 8000, 0, []byte("knock"))},
		{"tcp6 synack", tcp6, ok(src6, dst6, l4.TCP, 40001, 9000, l4.SYN|l4.ACK, nil)},
		{"udp6", udp6, ok(src6, dst6, l4.UDP, 5353, 62201, 0, []byte("spa-data"))},
		{"tcp4 ip+tcp options, payload", tcp4opts, ok(src4, dst4, l4.TCP, 1, 22, l4.SYN, []byte("data"))},
		{"tcp4 all flags", pb.TCP4(src4, dst4, 1, 2, 0xff), ok(src4, dst4, l4.TCP, 1, 2, 0xff, nil)},
		{"tcp4 payload", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, SrcPort: 3, DstPort: 4, Flags: pb.PSH | pb.ACK, Payload: []byte("GET /")}),
			ok(src4, dst4, l4.TCP, 3, 4, l4.PSH|l4.ACK, []byte("GET /"))},
		{"udp4 empty", pb.UDP4(src4, dst4, 1, 2, nil), ok(src4, dst4, l4.UDP, 1, 2, 0, nil)},
		{"udp6 empty", pb.UDP6(src6, dst6, 1, 2, nil), ok(src6, dst6, l4.UDP, 1, 2, 0, nil)},
		{"udp4 port 0 and 65535", pb.UDP4(src4, dst4, 0, 65535, nil), ok(src4, dst4, l4.UDP, 0, 65535, 0, nil)},
		{"v4 in v6 addresses", pb.TCP6(netip.MustParseAddr("::ffff:1.2.3.4"), dst6, 1, 2, pb.SYN),
			ok(netip.MustParseAddr("::ffff:1.2.3.4"), dst6, l4.TCP, 1, 2, l4.SYN, nil)},

		// Link padding after the IP datagram (Ethernet minimum frame) is ignored.
		{"udp4 link padding", append(pb.UDP4(src4, dst4, 1, 2, []byte("ab")), 0, 0, 0, 0, 0, 0),
			ok(src4, dst4, l4.UDP, 1, 2, 0, []byte("ab"))},
		{"tcp4 link padding", append(bytes.Clone(tcp4), 0xde, 0xad, 0xbe, 0xef, 0, 0),
			ok(src4, dst4, l4.TCP, 40000, 7000, l4.SYN, nil)},
		{"udp6 link padding", append(pb.UDP6(src6, dst6, 1, 2, []byte("ab")), 0xff, 0xff),
			ok(src6, dst6, l4.UDP, 1, 2, 0, []byte("ab"))},
		{"tcp6 link padding", append(bytes.Clone(tcp6), 1, 2, 3),
			ok(src6, dst6, l4.TCP, 40001, 9000, l4.SYN|l4.ACK, nil)},

		// IPv4 fragments: the first (offset 0, MF set) carries the header.
		{"tcp4 first fragment", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, SrcPort: 5, DstPort: 6, Flags: pb.SYN, MoreFragments: true}),
			ok(src4, dst4, l4.TCP, 5, 6, l4.SYN, nil)},
		{"tcp4 DF", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, SrcPort: 5, DstPort: 6, Flags: pb.SYN, DontFragment: true}),
			ok(src4, dst4, l4.TCP, 5, 6, l4.SYN, nil)},
		{"udp4 later fragment", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoUDP, FragOffset: 1, Raw: []byte{0, 1, 0x1f, 0x40, 0, 8, 0, 0}}), fail(decode.ErrFragment)},
		{"tcp4 last fragment", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, FragOffset: 0x1fff, Raw: make([]byte, 20)}), fail(decode.ErrFragment)},
		{"tcp4 fragment offset high byte", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, FragOffset: 0x100, MoreFragments: true, Raw: make([]byte, 20)}), fail(decode.ErrFragment)},
		// The first fragment of a UDP datagram larger than the fragment:
		// UDP length exceeds the data present.
		{"udp4 first fragment of big datagram", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoUDP, SrcPort: 1, DstPort: 2, MoreFragments: true, UDPLen: 3000, Payload: make([]byte, 100)}),
			fail(decode.ErrHeader)},

		// Other protocols.
		{"icmp4", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoICMP, Raw: []byte{8, 0, 0, 0, 0, 0, 0, 0}}), fail(decode.ErrProto)},
		{"icmp6", pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: pb.ProtoICMPv6, Raw: []byte{128, 0, 0, 0, 0, 0, 0, 0}}), fail(decode.ErrProto)},
		{"esp6", pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: 50, Raw: make([]byte, 16)}), fail(decode.ErrProto)},
		{"v6 no next header", pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: pb.NoNextHeader, Raw: make([]byte, 8)}), fail(decode.ErrProto)},
		{"v6 hop-by-hop then no next header", pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: pb.NoNextHeader, ExtHeaders: ext(pb.HopByHop), Raw: []byte{}}), fail(decode.ErrProto)},
		{"sctp4", pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: 132, Raw: make([]byte, 12)}), fail(decode.ErrProto)},

		// Versions.
		{"empty", []byte{}, fail(decode.ErrShort)},
		{"nil", nil, fail(decode.ErrShort)},
		{"version 0", patch(tcp4, 0, 0x05), fail(decode.ErrVersion)},
		{"version 5", patch(tcp4, 0, 0x55), fail(decode.ErrVersion)},
		{"version 15", []byte{0xf0}, fail(decode.ErrVersion)},
		{"arp-ish", []byte{0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01}, fail(decode.ErrVersion)},
		{"one byte v4", []byte{0x45}, fail(decode.ErrShort)},
		{"one byte v6", []byte{0x60}, fail(decode.ErrShort)},

		// Malformed IPv4 header.
		{"ihl 0", patch(tcp4, 0, 0x40), fail(decode.ErrHeader)},
		{"ihl 4", patch(tcp4, 0, 0x44), fail(decode.ErrHeader)},
		{"ihl beyond total", patch(tcp4, 0, 0x4f), fail(decode.ErrHeader)},     // 60 > total 40
		{"ihl 6 without options", patch(tcp4, 0, 0x46), fail(decode.ErrShort)}, // 16 bytes left for TCP
		{"total length 0", put16(tcp4, 2, 0), fail(decode.ErrHeader)},
		{"total length 19", put16(tcp4, 2, 19), fail(decode.ErrHeader)},
		{"total length beyond data", put16(tcp4, 2, 41), fail(decode.ErrShort)},
		{"total length 65535", put16(tcp4, 2, 65535), fail(decode.ErrShort)},
		{"total length = header only", put16(tcp4, 2, 20), fail(decode.ErrShort)},
		{"total length cuts tcp", put16(tcp4, 2, 39), fail(decode.ErrShort)},
		{"total length cuts udp payload", put16(udp4, 2, 30), fail(decode.ErrHeader)},

		// Malformed TCP.
		{"tcp data offset 0", patch(tcp4, 32, 0x00), fail(decode.ErrHeader)},
		{"tcp data offset 4", patch(tcp4, 32, 0x40), fail(decode.ErrHeader)},
		{"tcp data offset 6 > segment", patch(tcp4, 32, 0x60), fail(decode.ErrHeader)},
		{"tcp data offset 15", patch(tcp4, 32, 0xf0), fail(decode.ErrHeader)},
		{"tcp6 data offset 15", patch(tcp6, 52, 0xf0), fail(decode.ErrHeader)},
		{"tcp data offset 7 eats payload", patch(tcp4opts, 24+12, 0x70), ok(src4, dst4, l4.TCP, 1, 22, l4.SYN, nil)},
		{"tcp reserved bits ignored", patch(tcp4, 32, 0x5f), ok(src4, dst4, l4.TCP, 40000, 7000, l4.SYN, nil)},

		// Malformed UDP.
		{"udp length 0", put16(udp4, 24, 0), fail(decode.ErrHeader)},
		{"udp length 7", put16(udp4, 24, 7), fail(decode.ErrHeader)},
		{"udp length beyond", put16(udp4, 24, 14), fail(decode.ErrHeader)},
		{"udp length shorter", put16(udp4, 24, 10), ok(src4, dst4, l4.UDP, 5353, 8000, 0, []byte("kn"))},
		{"udp length 8", put16(udp4, 24, 8), ok(src4, dst4, l4.UDP, 5353, 8000, 0, nil)},
		{"udp6 length beyond", put16(udp6, 44, 17), fail(decode.ErrHeader)},

		// Malformed IPv6.
		{"v6 payload length 0 (jumbogram)", put16(udp6, 4, 0), fail(decode.ErrHeader)},
		{"v6 payload length beyond", put16(udp6, 4, 17), fail(decode.ErrShort)},
		{"v6 payload length cuts udp", put16(udp6, 4, 7), fail(decode.ErrShort)},
		{"v6 payload length cuts payload", put16(udp6, 4, 10), fail(decode.ErrHeader)},
		{"v6 payload length 65535", put16(udp6, 4, 65535), fail(decode.ErrShort)},
		{"v6 header only", udp6[:40], fail(decode.ErrShort)},

		// IPv6 extension headers, each kind.
		{"v6 hop-by-hop", v6(pb.ProtoTCP, ext(pb.HopByHop), nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 routing", v6(pb.ProtoUDP, ext(pb.Routing), []byte("r")), ok(src6, dst6, l4.UDP, 1111, 2222, 0, []byte("r"))},
		{"v6 dstopts", v6(pb.ProtoTCP, ext(pb.DestOpts), nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 dstopts 2048 bytes", v6(pb.ProtoTCP, []pb.ExtHeader{{Type: pb.DestOpts, Len: 2048}}, nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 AH", v6(pb.ProtoUDP, ext(pb.AuthHeader), nil), ok(src6, dst6, l4.UDP, 1111, 2222, 0, nil)},
		{"v6 AH 12 bytes", v6(pb.ProtoUDP, []pb.ExtHeader{{Type: pb.AuthHeader, Len: 12}}, nil), ok(src6, dst6, l4.UDP, 1111, 2222, 0, nil)},
		{"v6 fragment atomic", v6(pb.ProtoTCP, ext(pb.Fragment), nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 fragment first", v6(pb.ProtoTCP, []pb.ExtHeader{{Type: pb.Fragment, More: true, ID: 1}}, nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 fragment non-first", v6(pb.ProtoTCP, []pb.ExtHeader{{Type: pb.Fragment, FragOffset: 1, ID: 1}}, nil), fail(decode.ErrFragment)},
		{"v6 fragment non-first more", v6(pb.ProtoUDP, []pb.ExtHeader{{Type: pb.Fragment, FragOffset: 0x1fff, More: true}}, nil), fail(decode.ErrFragment)},
		{"v6 fragment after hbh+dstopts, non-first", v6(pb.ProtoUDP, []pb.ExtHeader{{Type: pb.HopByHop}, {Type: pb.DestOpts}, {Type: pb.Fragment, FragOffset: 185}}, nil), fail(decode.ErrFragment)},
		{"v6 chain of 8", v6(pb.ProtoTCP, ext(eight...), nil), ok(src6, dst6, l4.TCP, 1111, 2222, l4.SYN, nil)},
		{"v6 chain of 9", v6(pb.ProtoTCP, ext(nine...), nil), fail(decode.ErrExtHeaders)},
		{"v6 chain of 30", v6(pb.ProtoUDP, ext(bytes.Repeat([]byte{pb.DestOpts}, 30)...), nil), fail(decode.ErrExtHeaders)},
		{"v6 chain of 9 to icmp", pb.Build(pb.Spec{Src: src6, Dst: dst6, Proto: pb.ProtoICMPv6, ExtHeaders: ext(nine...), Raw: make([]byte, 8)}), fail(decode.ErrExtHeaders)},
		{"v6 unknown ext header", v6(pb.ProtoTCP, ext(135), nil), fail(decode.ErrProto)}, // mobility header: not walked
		{"v6 ext header length beyond", patch(v6(pb.ProtoTCP, ext(pb.DestOpts), nil), 41, 5), fail(decode.ErrShort)},
		{"v6 AH length beyond", patch(v6(pb.ProtoTCP, ext(pb.AuthHeader), nil), 41, 200), fail(decode.ErrShort)},
		{"v6 ext header swallows tcp", patch(v6(pb.ProtoTCP, ext(pb.HopByHop), nil), 41, 3), fail(decode.ErrShort)}, // 32 bytes claimed, 28 present
		{"v6 ext header ends exactly, tcp missing", patch(put16(v6(pb.ProtoTCP, ext(pb.HopByHop), nil), 4, 8), 41, 0)[:48], fail(decode.ErrShort)},
	}
	return cs
}

func TestDecodeTable(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.pkt, c.want)
		})
	}
}

func check(t *testing.T, b []byte, w want) {
	t.Helper()
	in := bytes.Clone(b)
	var p decode.Packet
	err := decode.Decode(b, &p)
	if !bytes.Equal(in, b) {
		t.Fatalf("Decode modified its input")
	}
	if w.err != nil {
		if !errors.Is(err, w.err) {
			t.Fatalf("Decode = %v, want %v", err, w.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decode = %v, want success", err)
	}
	got := fmt.Sprintf("%v>%v p%d %d>%d f%#x %q", p.Src, p.Dst, p.Proto, p.SrcPort, p.DstPort, p.Flags, p.Payload)
	exp := fmt.Sprintf("%v>%v p%d %d>%d f%#x %q", w.src, w.dst, w.proto, w.sport, w.dport, w.flags, w.payload)
	if got != exp {
		t.Fatalf("Decode =\n %s\nwant\n %s", got, exp)
	}
	if p.Payload == nil {
		t.Fatalf("Payload is nil, want an empty slice of the input")
	}
	inside(t, b, p.Payload)
}

// inside fails unless s is a sub-slice of b.
func inside(t testing.TB, b, s []byte) {
	t.Helper()
	off := cap(b) - cap(s)
	if off < 0 || off+len(s) > len(b) {
		t.Fatalf("payload [%d:+%d] outside input of %d bytes", off, len(s), len(b))
	}
	if len(s) > 0 && &b[off] != &s[0] {
		t.Fatalf("payload does not alias the input")
	}
}

// TestTruncations cuts good packets at every length. Cutting without
// fixing the IP length field always reports ErrShort; cutting with the
// length field fixed to the new size gives the error of the layer the cut
// falls in.
func TestTruncations(t *testing.T) {
	type layout struct {
		name   string
		pkt    []byte
		v6     bool
		ipHdr  int   // IPv4 IHL*4 or 40
		exts   []int // end offsets of IPv6 extension headers
		l4     int   // offset of the transport header
		l4Min  int   // 20 or 8
		l4Hdr  int   // full transport header length (TCP data offset)
		isUDP  bool
		wantOK want
	}
	tcpOpt := pb.Build(pb.Spec{Src: src4, Dst: dst4, Proto: pb.ProtoTCP, SrcPort: 1, DstPort: 2, Flags: pb.SYN,
		IPv4Options: []byte{1, 1, 1, 1, 1, 1, 1, 0}, TCPOptions: []byte{2, 4, 5, 0xb4, 4, 2, 1, 0}, Payload: []byte("xy")})
	chain := v6(pb.ProtoUDP, []pb.ExtHeader{{Type: pb.HopByHop}, {Type: pb.Routing, Len: 24}, {Type: pb.Fragment}, {Type: pb.AuthHeader}, {Type: pb.DestOpts}}, []byte("pay"))
	ls := []layout{
		{name: "tcp4", pkt: pb.TCP4(src4, dst4, 1, 2, pb.SYN), ipHdr: 20, l4: 20, l4Min: 20, l4Hdr: 20,
			wantOK: ok(src4, dst4, l4.TCP, 1, 2, l4.SYN, nil)},
		{name: "tcp4 options", pkt: tcpOpt, ipHdr: 28, l4: 28, l4Min: 20, l4Hdr: 28,
			wantOK: ok(src4, dst4, l4.TCP, 1, 2, l4.SYN, []byte("xy"))},
		{name: "udp4", pkt: pb.UDP4(src4, dst4, 1, 2, []byte("abc")), ipHdr: 20, l4: 20, l4Min: 8, l4Hdr: 8, isUDP: true,
			wantOK: ok(src4, dst4, l4.UDP, 1, 2, 0, []byte("abc"))},
		{name: "tcp6", pkt: pb.TCP6(src6, dst6, 1, 2, pb.SYN), v6: true, ipHdr: 40, l4: 40, l4Min: 20, l4Hdr: 20,
			wantOK: ok(src6, dst6, l4.TCP, 1, 2, l4.SYN, nil)},
		{name: "udp6 chain", pkt: chain, v6: true, ipHdr: 40, exts: []int{48, 72, 80, 104, 112}, l4: 112, l4Min: 8, l4Hdr: 8, isUDP: true,
			wantOK: ok(src6, dst6, l4.UDP, 1111, 2222, 0, []byte("pay"))},
	}
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			check(t, l.pkt, l.wantOK)
			for n := 0; n < len(l.pkt); n++ {
				// Plain cut: the IP header announces more than is there.
				cut := bytes.Clone(l.pkt[:n])
				var p decode.Packet
				if err := decode.Decode(cut, &p); !errors.Is(err, decode.ErrShort) {
					t.Errorf("cut at %d: %v, want ErrShort", n, err)
				}
				// Cut with the length field fixed.
				fixed := bytes.Clone(l.pkt[:n])
				var exp error
				switch {
				case n < l.ipHdr && l.v6, n < 20:
					exp = decode.ErrShort
					if n >= 6 && l.v6 {
						binary.BigEndian.PutUint16(fixed[4:], uint16(max(n-40, 0)))
					} else if n >= 4 && !l.v6 {
						binary.BigEndian.PutUint16(fixed[2:], uint16(n))
					}
				default:
					if l.v6 {
						binary.BigEndian.PutUint16(fixed[4:], uint16(n-40))
					} else {
						binary.BigEndian.PutUint16(fixed[2:], uint16(n))
					}
					exp = layerError(n, l.v6, l.ipHdr, l.exts, l.l4, l.l4Min, l.l4Hdr, l.isUDP)
				}
				if exp == nil {
					// Cut inside the TCP payload: nothing tells the decoder.
					w := l.wantOK
					w.payload = w.payload[:n-l.l4-l.l4Hdr]
					check(t, fixed, w)
					continue
				}
				err := decode.Decode(fixed, &p)
				if !errors.Is(err, exp) {
					t.Errorf("cut at %d with length fixed: %v, want %v", n, err, exp)
				}
			}
		})
	}
}

// layerError is the outcome for a packet of n bytes whose IP length field
// says n: a cut inside the IPv4 options makes total < IHL (malformed), an
// empty IPv6 payload is a jumbogram (malformed), a cut inside an extension
// header or the fixed transport header is short, and a cut after the fixed
// transport header but before its full length (TCP options, UDP payload
// counted in the UDP length) is malformed. A cut inside the TCP payload is
// invisible: nil.
func layerError(n int, v6 bool, ipHdr int, exts []int, l4, l4Min, l4Hdr int, isUDP bool) error {
	if !v6 && n < ipHdr {
		return decode.ErrHeader
	}
	if v6 && n == 40 {
		return decode.ErrHeader
	}
	for _, e := range exts {
		if n < e {
			return decode.ErrShort
		}
	}
	if n < l4+l4Min {
		return decode.ErrShort
	}
	if !isUDP && n < l4+l4Hdr {
		return decode.ErrHeader
	}
	if isUDP {
		return decode.ErrHeader // UDP length counts the payload that was cut
	}
	return nil
}

func TestZeroAlloc(t *testing.T) {
	cs := cases()
	var p decode.Packet
	n := testing.AllocsPerRun(50, func() {
		for _, c := range cs {
			_ = decode.Decode(c.pkt, &p)
		}
	})
	if n != 0 {
		t.Fatalf("Decode allocates: %v allocations per pass over %d packets", n, len(cs))
	}
}

// FuzzDecode: Decode never panics, never reads past its input, and what
// it decodes is consistent with the bytes: the payload is a sub-slice of
// the input, the addresses are at their fixed offsets and a transport
// header that carries the ports precedes the payload.
func FuzzDecode(f *testing.F) {
	for _, c := range cases() {
		f.Add(c.pkt)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		var p decode.Packet
		err := decode.Decode(b, &p)
		if !bytes.Equal(in, b) {
			t.Fatal("input modified")
		}
		if err != nil {
			switch err {
			case decode.ErrShort, decode.ErrVersion, decode.ErrHeader, decode.ErrFragment, decode.ErrProto, decode.ErrExtHeaders:
				return
			}
			t.Fatalf("unexpected error value %v", err)
		}
		inside(t, b, p.Payload)
		poff := cap(b) - cap(p.Payload)
		switch b[0] >> 4 {
		case 4:
			if !p.Src.Is4() || p.Src.As4() != [4]byte(b[12:16]) || p.Dst.As4() != [4]byte(b[16:20]) {
				t.Fatalf("IPv4 addresses %v %v do not match the header", p.Src, p.Dst)
			}
			if poff+len(p.Payload) > int(binary.BigEndian.Uint16(b[2:])) {
				t.Fatal("payload runs past the IPv4 total length")
			}
			if l4.Proto(b[9]) != p.Proto {
				t.Fatalf("proto %d, header says %d", p.Proto, b[9])
			}
		case 6:
			if !p.Src.Is6() || p.Src.As16() != [16]byte(b[8:24]) || p.Dst.As16() != [16]byte(b[24:40]) {
				t.Fatalf("IPv6 addresses %v %v do not match the header", p.Src, p.Dst)
			}
			if poff+len(p.Payload) > 40+int(binary.BigEndian.Uint16(b[4:])) {
				t.Fatal("payload runs past the IPv6 payload length")
			}
		default:
			t.Fatalf("decoded a version %d packet", b[0]>>4)
		}
		ports := func(h int) bool {
			return h >= 20 && binary.BigEndian.Uint16(b[h:]) == p.SrcPort && binary.BigEndian.Uint16(b[h+2:]) == p.DstPort
		}
		switch p.Proto {
		case l4.UDP:
			h := poff - 8
			if !ports(h) || p.Flags != 0 || int(binary.BigEndian.Uint16(b[h+4:])) != 8+len(p.Payload) {
				t.Fatalf("UDP fields inconsistent with the header at %d", h)
			}
		case l4.TCP:
			found := false
			for h := poff - 60; h <= poff-20; h++ {
				if h >= 20 && h+int(b[h+12]>>4)*4 == poff && b[h+13] == p.Flags && ports(h) {
					found = true
				}
			}
			if !found {
				t.Fatal("no TCP header before the payload matches the decoded fields")
			}
		default:
			t.Fatalf("decoded protocol %d", p.Proto)
		}
	})
}

// FuzzRoundTrip builds packets from fuzzed parameters with pktbuild and
// decodes them: every well-formed packet decodes to what was built.
func FuzzRoundTrip(f *testing.F) {
	f.Add(true, false, uint16(1), uint16(2), uint8(2), []byte("x"), uint8(0), []byte{}, uint8(0))
	f.Add(false, true, uint16(65535), uint16(7000), uint8(0x12), []byte{}, uint8(3), []byte{0, 43, 60}, uint8(8))
	f.Add(true, true, uint16(0), uint16(0), uint8(0xff), bytes.Repeat([]byte{1}, 300), uint8(0), []byte{44, 51}, uint8(12))
	f.Fuzz(func(t *testing.T, isV6, isUDP bool, sport, dport uint16, flags uint8, payload []byte, nopt uint8, chain []byte, tcpOpt uint8) {
		s := pb.Spec{Proto: pb.ProtoTCP, SrcPort: sport, DstPort: dport, Flags: flags, Payload: payload,
			TCPOptions: bytes.Repeat([]byte{1}, int(tcpOpt%41))}
		if isUDP {
			s.Proto, s.Flags = pb.ProtoUDP, 0
		}
		if isV6 {
			s.Src, s.Dst = src6, dst6
			for _, c := range chain {
				switch c % 5 {
				case 0:
					s.ExtHeaders = append(s.ExtHeaders, pb.ExtHeader{Type: pb.HopByHop, Len: 8 * (1 + int(c>>3)%4)})
				case 1:
					s.ExtHeaders = append(s.ExtHeaders, pb.ExtHeader{Type: pb.Routing})
				case 2:
					s.ExtHeaders = append(s.ExtHeaders, pb.ExtHeader{Type: pb.Fragment, More: c&8 != 0})
				case 3:
					s.ExtHeaders = append(s.ExtHeaders, pb.ExtHeader{Type: pb.AuthHeader, Len: 12 + 4*(int(c>>3)%4)})
				case 4:
					s.ExtHeaders = append(s.ExtHeaders, pb.ExtHeader{Type: pb.DestOpts})
				}
			}
		} else {
			s.Src, s.Dst = src4, dst4
			s.IPv4Options = bytes.Repeat([]byte{1}, int(nopt%41))
		}
		b := pb.Build(s)
		if len(b) > 65535 && !isV6 || len(b)-40 > 65535 && isV6 || len(s.ExtHeaders) > 8 && isV6 {
			var p decode.Packet
			_ = decode.Decode(b, &p) // only "no panic" is defined for these
			return
		}
		w := ok(s.Src, s.Dst, l4.Proto(s.Proto), sport, dport, s.Flags, payload)
		check(t, b, w)
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		pkt  []byte
	}{
		{"tcp4", pb.TCP4(src4, dst4, 40000, 7000, pb.SYN)},
		{"udp6", pb.UDP6(src6, dst6, 1, 62201, make([]byte, 200))},
		{"udp6-ext4", v6(pb.ProtoUDP, ext(pb.HopByHop, pb.DestOpts, pb.Routing, pb.Fragment), nil)},
		{"bad", []byte{0x45, 0, 0}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var p decode.Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.pkt)))
			for i := 0; i < b.N; i++ {
				_ = decode.Decode(bc.pkt, &p)
			}
		})
	}
}

// TestWriteSeedCorpus refreshes testdata/fuzz/FuzzDecode from the table
// when KNOCKD_GO_WRITE_CORPUS=1; otherwise it checks the stored corpus
// files are in the fuzzing format Go reads.
func TestWriteSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("KNOCKD_GO_WRITE_CORPUS") == "1" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, c := range cases() {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", c.pkt)
			name := filepath.Join(dir, fmt.Sprintf("table-%03d", i))
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no corpus under %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("go test fuzz v1\n[]byte(")) {
			t.Errorf("%s is not a FuzzDecode corpus file", f)
		}
	}
}
