package pktbuild

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

var (
	a4 = netip.MustParseAddr("192.0.2.1")
	b4 = netip.MustParseAddr("198.51.100.7")
	a6 = netip.MustParseAddr("2001:db8::1")
	b6 = netip.MustParseAddr("2001:db8:ffff::abcd")
)

// TestIPv4HeaderChecksumVector checks the header checksum against the
// worked example of RFC 1071 style computations found in textbooks:
// 4500 0073 0000 4000 4011 xxxx c0a8 0001 c0a8 00c7 has checksum b861.
func TestIPv4HeaderChecksumVector(t *testing.T) {
	h, _ := hex.DecodeString("450000730000400040110000c0a80001c0a800c7")
	if got := Checksum(0, h); got != 0xb861 {
		t.Fatalf("Checksum = %#04x, want 0xb861", got)
	}
	p := Build(Spec{
		Src: netip.MustParseAddr("192.168.0.1"), Dst: netip.MustParseAddr("192.168.0.199"),
		Proto: ProtoUDP, Raw: make([]byte, 0x73-20), DontFragment: true,
	})
	if got := binary.BigEndian.Uint16(p[10:]); got != 0xb861 {
		t.Fatalf("built header checksum = %#04x, want 0xb861 (header % x)", got, p[:20])
	}
}

func TestChecksumOddLength(t *testing.T) {
	// 0x0102 + 0x0300 = 0x0402 -> ^ = 0xfbfd
	if got := Checksum(0, []byte{1, 2, 3}); got != 0xfbfd {
		t.Fatalf("Checksum = %#04x, want 0xfbfd", got)
	}
	// Carries fold: 0xffff + 0x0001 = 0x10000 -> 0x0001 -> ^ = 0xfffe
	if got := Checksum(0, []byte{0xff, 0xff, 0, 1}); got != 0xfffe {
		t.Fatalf("Checksum = %#04x, want 0xfffe", got)
	}
}

func specs() map[string]Spec {
	return map[string]Spec{
		"tcp4 syn":        {Src: a4, Dst: b4, Proto: ProtoTCP, SrcPort: 40000, DstPort: 7000, Flags: SYN, Seq: 0x01020304},
		"tcp4 data opts":  {Src: a4, Dst: b4, Proto: ProtoTCP, SrcPort: 1, DstPort: 2, Flags: PSH | ACK, TCPOptions: []byte{2, 4, 5, 0xb4, 1}, Payload: []byte("hello")},
		"tcp4 ip opts":    {Src: a4, Dst: b4, Proto: ProtoTCP, SrcPort: 1, DstPort: 22, Flags: SYN, IPv4Options: []byte{1, 1, 1}},
		"udp4":            {Src: a4, Dst: b4, Proto: ProtoUDP, SrcPort: 53, DstPort: 8000, Payload: []byte("odd")},
		"udp4 empty":      {Src: a4, Dst: b4, Proto: ProtoUDP, SrcPort: 53, DstPort: 8000},
		"tcp6 syn":        {Src: a6, Dst: b6, Proto: ProtoTCP, SrcPort: 40000, DstPort: 9000, Flags: SYN},
		"udp6":            {Src: a6, Dst: b6, Proto: ProtoUDP, SrcPort: 5353, DstPort: 62201, Payload: bytes.Repeat([]byte{0xa5}, 101)},
		"udp6 ext chain":  {Src: a6, Dst: b6, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("x"), ExtHeaders: []ExtHeader{{Type: HopByHop}, {Type: DestOpts, Len: 16}, {Type: Routing}, {Type: Fragment, ID: 7}, {Type: AuthHeader}}},
		"tcp6 frag first": {Src: a6, Dst: b6, Proto: ProtoTCP, SrcPort: 1, DstPort: 2, Flags: SYN, ExtHeaders: []ExtHeader{{Type: Fragment, More: true, ID: 99}}},
	}
}

// TestChecksumsVerify re-adds every checksum: an Internet checksum over
// data that contains its correct checksum is zero.
func TestChecksumsVerify(t *testing.T) {
	for name, s := range specs() {
		t.Run(name, func(t *testing.T) {
			p := Build(s)
			var l4 []byte
			if s.Src.Is4() {
				ihl := int(p[0]&0xf) * 4
				if c := Checksum(0, p[:ihl]); c != 0 {
					t.Fatalf("IPv4 header does not verify: %#04x", c)
				}
				if int(binary.BigEndian.Uint16(p[2:])) != len(p) {
					t.Fatalf("total length %d, packet %d", binary.BigEndian.Uint16(p[2:]), len(p))
				}
				l4 = p[ihl:]
			} else {
				if int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
					t.Fatalf("payload length %d, packet %d", binary.BigEndian.Uint16(p[4:]), len(p))
				}
				off := 40
				for _, e := range s.ExtHeaders {
					off += extHeaderLen(&e)
				}
				l4 = p[off:]
			}
			if c := Checksum(PseudoSum(s.Src, s.Dst, s.Proto, len(l4)), l4); c != 0 {
				t.Fatalf("transport checksum does not verify: %#04x", c)
			}
			if got := binary.BigEndian.Uint16(l4[2:]); got != s.DstPort {
				t.Fatalf("dport %d, want %d", got, s.DstPort)
			}
			if !bytes.HasSuffix(p, s.Payload) {
				t.Fatalf("payload not at the end")
			}
		})
	}
}

// TestTcpdumpAgrees lets tcpdump, an independent implementation, verify
// the IP, TCP and UDP checksums of built packets read from a pcap file.
func TestTcpdumpAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tcpdump")
	}
	tcpdump := testenv.NeedBin(t, "tcpdump")
	var pcap bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	pcap.Write(hdr)
	names := []string{}
	for name, s := range specs() {
		if len(s.ExtHeaders) > 0 {
			continue // tcpdump does not verify through fragment/AH headers
		}
		names = append(names, name)
		p := Build(s)
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(p)))
		pcap.Write(rec)
		pcap.Write(p)
	}
	f := filepath.Join(t.TempDir(), "p.pcap")
	if err := os.WriteFile(f, pcap.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-nn", "-vvv", "-r", f).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "incorrect") || strings.Contains(text, "bad cksum") {
		t.Fatalf("tcpdump reports a bad checksum:\n%s", text)
	}
	if n := strings.Count(text, "(correct)") + strings.Count(text, "[udp sum ok]"); n != len(names) {
		t.Fatalf("tcpdump verified %d transport checksums, want %d (%v):\n%s", n, len(names), names, text)
	}
}

func TestLayout(t *testing.T) {
	p := TCP4(a4, b4, 1234, 7000, SYN|ACK)
	want := "45000028000000004006"
	if got := hex.EncodeToString(p[:10]); got != want {
		t.Errorf("IPv4 header start %s, want %s", got, want)
	}
	if len(p) != 40 || p[20+13] != SYN|ACK || p[20+12] != 5<<4 {
		t.Errorf("TCP header wrong: % x", p[20:])
	}
	p = Build(Spec{Src: a4, Dst: b4, Proto: ProtoUDP, IPv4Options: []byte{0x94, 4, 0, 0, 1}, FragOffset: 0x1abc, MoreFragments: true, DontFragment: true, TTL: 3})
	if p[0] != 0x47 || binary.BigEndian.Uint16(p[6:]) != 0x7abc || p[8] != 3 || p[9] != ProtoUDP {
		t.Errorf("IPv4 fields wrong: % x", p[:28])
	}
	p = Build(Spec{Src: a4, Dst: b4, Proto: ProtoTCP, IHL: 3, TotalLen: 999, DataOffset: 15})
	if p[0] != 0x43 || binary.BigEndian.Uint16(p[2:]) != 999 || p[20+12] != 0xf0 {
		t.Errorf("overrides not applied: % x", p)
	}
	p = UDP6(a6, b6, 1, 2, []byte{9})
	if len(p) != 49 || p[0] != 0x60 || p[6] != ProtoUDP || p[7] != 64 || binary.BigEndian.Uint16(p[44:]) != 9 {
		t.Errorf("IPv6 UDP wrong: % x", p)
	}
	p = Build(Spec{Src: a6, Dst: b6, Proto: ProtoTCP, Flags: SYN, ExtHeaders: []ExtHeader{
		{Type: HopByHop, Len: 16}, {Type: Routing, Data: []byte{0, 0}}, {Type: Fragment, FragOffset: 3, More: true, ID: 0xdeadbeef}, {Type: AuthHeader}, {Type: DestOpts},
	}})
	// Walk the chain by hand.
	type hop struct{ typ, next, lenByte uint8 }
	want6 := []hop{{HopByHop, Routing, 1}, {Routing, Fragment, 0}, {Fragment, AuthHeader, 0}, {AuthHeader, DestOpts, 4}, {DestOpts, ProtoTCP, 0}}
	if p[6] != HopByHop {
		t.Fatalf("first next header %d", p[6])
	}
	off := 40
	for _, h := range want6 {
		if p[off] != h.next || p[off+1] != h.lenByte {
			t.Fatalf("header %d at %d: next %d len %d, want %d %d", h.typ, off, p[off], p[off+1], h.next, h.lenByte)
		}
		switch h.typ {
		case Fragment:
			if binary.BigEndian.Uint16(p[off+2:]) != 3<<3|1 || binary.BigEndian.Uint32(p[off+4:]) != 0xdeadbeef {
				t.Fatalf("fragment header % x", p[off:off+8])
			}
			off += 8
		case AuthHeader:
			off += (int(p[off+1]) + 2) * 4
		default:
			off += (int(p[off+1]) + 1) * 8
		}
	}
	if len(p) != off+20 || p[off+13] != SYN {
		t.Fatalf("TCP header not after the chain: off %d len %d", off, len(p))
	}
}

func TestUDPZeroChecksumBecomesFFFF(t *testing.T) {
	// Search a payload whose UDP checksum computes to zero: it must be sent
	// as 0xffff. Two payload bytes reach every sum, so the search ends.
	for v := 0; v < 1<<16; v++ {
		pl := []byte{byte(v >> 8), byte(v)}
		s := Spec{Src: a4, Dst: b4, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Payload: pl}
		p := Build(s)
		if binary.BigEndian.Uint16(p[26:]) == 0xffff {
			if c := Checksum(PseudoSum(a4, b4, ProtoUDP, 10), p[20:]); c != 0 {
				t.Fatalf("0xffff checksum does not verify: %#x", c)
			}
			return
		}
		if binary.BigEndian.Uint16(p[26:]) == 0 {
			t.Fatalf("payload %x: UDP checksum sent as 0", pl)
		}
	}
	t.Fatal("no payload produced a 0xffff checksum")
}

func TestAppendNoAlloc(t *testing.T) {
	s := Spec{Src: a6, Dst: b6, Proto: ProtoTCP, SrcPort: 1, DstPort: 2, Flags: SYN}
	buf := make([]byte, 0, 128)
	n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], s) })
	if n != 0 {
		t.Fatalf("Append allocates %v times per call", n)
	}
	if !bytes.Equal(buf, Build(s)) {
		t.Fatal("Append and Build differ")
	}
	pre := []byte{0xee}
	if got := Append(pre, s); got[0] != 0xee || !bytes.Equal(got[1:], Build(s)) {
		t.Fatal("Append does not keep the prefix")
	}
}

func TestPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"mixed":        func() { Build(Spec{Src: a4, Dst: b6}) },
		"TCP4 with v6": func() { TCP4(a6, b6, 1, 2, 0) },
		"UDP6 with v4": func() { UDP6(a4, b4, 1, 2, nil) },
		"ext len 12":   func() { Build(Spec{Src: a6, Dst: b6, ExtHeaders: []ExtHeader{{Type: HopByHop, Len: 12}}}) },
		"ip opts 44":   func() { Build(Spec{Src: a4, Dst: b4, IPv4Options: make([]byte, 44)}) },
		"zero addrs":   func() { Build(Spec{}) },
		"ext data long": func() {
			Build(Spec{Src: a6, Dst: b6, ExtHeaders: []ExtHeader{{Type: DestOpts, Data: make([]byte, 7)}}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func BenchmarkAppendTCP4(b *testing.B) {
	s := Spec{Src: a4, Dst: b4, Proto: ProtoTCP, SrcPort: 1, DstPort: 2, Flags: SYN}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.SrcPort = uint16(i)
		buf = Append(buf[:0], s)
	}
}
