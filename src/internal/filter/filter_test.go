package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/knockd-go/knockd-go/src/internal/decode"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	pb "github.com/knockd-go/knockd-go/src/internal/pktbuild"
)

var (
	s4 = netip.MustParseAddr("203.0.113.5")
	d4 = netip.MustParseAddr("192.0.2.1")
	s6 = netip.MustParseAddr("2001:db8::5")
	d6 = netip.MustParseAddr("2001:db8::1")
)

const (
	tcp = l4.TCP
	udp = l4.UDP
)

// doors is a typical set: a SYN-only door, a door without flags, a FIN
// door, UDP knocks, and the same UDP port as a TCP port.
var doors = []Port{
	{Port: l4.Port{Proto: tcp, Num: 7000}, Flags: l4.Flags{Set: l4.SYN, Clear: l4.ACK}},
	{Port: l4.Port{Proto: tcp, Num: 8000}},
	{Port: l4.Port{Proto: tcp, Num: 9000}, Flags: l4.Flags{Set: l4.FIN}},
	{Port: l4.Port{Proto: tcp, Num: 10000}, Flags: l4.Flags{Clear: l4.RST}},
	{Port: l4.Port{Proto: udp, Num: 8000}},
	{Port: l4.Port{Proto: udp, Num: 53}},
	{Port: l4.Port{Proto: tcp, Num: 7000}, Flags: l4.Flags{Set: l4.SYN, Clear: l4.ACK}}, // a second door, same test
}

func vm(t testing.TB, o Options) *bpf.VM {
	t.Helper()
	p, err := Program(o)
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	v, err := bpf.NewVM(p)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return v
}

func run(t testing.TB, v *bpf.VM, b []byte) bool {
	t.Helper()
	n, err := v.Run(b)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	if n != 0 && n != Snap {
		t.Fatalf("VM returned %d, want 0 or Snap", n)
	}
	return n > 0
}

type named struct {
	name string
	b    []byte
}

func tcp4(dport uint16, flags uint8) []byte { return pb.TCP4(s4, d4, 40000, dport, flags) }
func tcp6(dport uint16, flags uint8) []byte { return pb.TCP6(s6, d6, 40000, dport, flags) }
func udp4(dport uint16) []byte              { return pb.UDP4(s4, d4, 40000, dport, []byte("k")) }
func udp6(dport uint16) []byte              { return pb.UDP6(s6, d6, 40000, dport, []byte("k")) }

// table lists packets with what the filter must do with them under
// Options{Ports: doors} and under the same with NoIPv6.
func table() []struct {
	named
	want, wantNoV6 bool
} {
	type row = struct {
		named
		want, wantNoV6 bool
	}
	r := func(name string, b []byte, want, noV6 bool) row { return row{named{name, b}, want, noV6} }
	opt := func(v6 bool, s pb.Spec) []byte {
		if v6 {
			s.Src, s.Dst = s6, d6
		} else {
			s.Src, s.Dst = s4, d4
		}
		return pb.Build(s)
	}
	var rows []row
	for _, v6 := range []bool{false, true} {
		fam := "v4"
		t, u := tcp4, udp4
		if v6 {
			fam, t, u = "v6", tcp6, udp6
		}
		w := func(b bool) (bool, bool) { return b, b && !v6 }
		add := func(name string, b []byte, want bool) {
			a, n := w(want)
			rows = append(rows, r(fam+" "+name, b, a, n))
		}
		add("tcp 7000 SYN", t(7000, l4.SYN), true)
		add("tcp 7000 SYN+PSH", t(7000, l4.SYN|l4.PSH), true)
		add("tcp 7000 SYN+ACK", t(7000, l4.SYN|l4.ACK), false)
		add("tcp 7000 ACK", t(7000, l4.ACK), false)
		add("tcp 7000 none", t(7000, 0), false)
		add("tcp 8000 any flags", t(8000, l4.RST|l4.ACK), true)
		add("tcp 8000 no flags", t(8000, 0), true)
		add("tcp 9000 FIN", t(9000, l4.FIN|l4.ACK), true)
		add("tcp 9000 SYN", t(9000, l4.SYN), false)
		add("tcp 10000 SYN (clear RST)", t(10000, l4.SYN), true)
		add("tcp 10000 RST", t(10000, l4.RST), false)
		add("tcp 10000 none", t(10000, 0), true)
		add("tcp 53 (udp-only port)", t(53, l4.SYN), false)
		add("tcp 7001", t(7001, l4.SYN), false)
		add("tcp 6999", t(6999, l4.SYN), false)
		add("tcp 0", t(0, l4.SYN), false)
		add("tcp 65535", t(65535, l4.SYN), false)
		add("udp 8000", u(8000), true)
		add("udp 53", u(53), true)
		add("udp 7000 (tcp-only port)", u(7000), false)
		add("udp 8001", u(8001), false)
		add("tcp source port 7000 to 22", pb.Build(pb.Spec{Src: pick(v6, s4, s6), Dst: pick(v6, d4, d6), Proto: pb.ProtoTCP, SrcPort: 7000, DstPort: 22, Flags: l4.SYN}), false)
		add("icmp", opt(v6, pb.Spec{Proto: pickProto(v6), Raw: make([]byte, 8)}), false)
		add("tcp 8000 cut to 1 byte of ports", t(8000, 0)[:pick(v6, 21, 41)], false)
		add("tcp 7000 SYN cut before flags", t(7000, l4.SYN)[:pick(v6, 33, 53)], false)
		add("tcp 8000 cut before flags, no flag test", t(8000, 0)[:pick(v6, 24, 44)], true)
		add("ip header only", t(8000, 0)[:pick(v6, 20, 40)], false)
	}
	rows = append(rows,
		r("v4 options, tcp 7000 SYN", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoTCP, DstPort: 7000, Flags: l4.SYN, IPv4Options: make([]byte, 12)}), true, true),
		r("v4 options, tcp 7000 ACK", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoTCP, DstPort: 7000, Flags: l4.ACK, IPv4Options: make([]byte, 40)}), false, false),
		r("v4 first fragment tcp 8000", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoTCP, DstPort: 8000, MoreFragments: true}), true, true),
		r("v4 later fragment 'to' 8000", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoTCP, FragOffset: 1, Raw: tcp4(8000, 0)[20:]}), false, false),
		r("v4 last fragment 'to' udp 53", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoUDP, FragOffset: 0x1fff, Raw: udp4(53)[20:]}), false, false),
		r("v4 DF tcp 8000", pb.Build(pb.Spec{Src: s4, Dst: d4, Proto: pb.ProtoTCP, DstPort: 8000, DontFragment: true}), true, true),
		r("v6 hop-by-hop to tcp 1 (punted)", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: pb.ProtoTCP, DstPort: 1, ExtHeaders: []pb.ExtHeader{{Type: pb.HopByHop}}}), true, false),
		r("v6 routing (punted)", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: pb.ProtoUDP, DstPort: 1, ExtHeaders: []pb.ExtHeader{{Type: pb.Routing}}}), true, false),
		r("v6 fragment (punted)", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: pb.ProtoUDP, DstPort: 1, ExtHeaders: []pb.ExtHeader{{Type: pb.Fragment, FragOffset: 9}}}), true, false),
		r("v6 AH (punted)", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: pb.ProtoUDP, DstPort: 1, ExtHeaders: []pb.ExtHeader{{Type: pb.AuthHeader}}}), true, false),
		r("v6 dstopts (punted)", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: pb.ProtoUDP, DstPort: 1, ExtHeaders: []pb.ExtHeader{{Type: pb.DestOpts}}}), true, false),
		r("v6 ESP", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: 50, Raw: make([]byte, 16)}), false, false),
		r("v6 mobility header", pb.Build(pb.Spec{Src: s6, Dst: d6, Proto: 135, Raw: make([]byte, 16)}), false, false),
		r("empty", []byte{}, false, false),
		r("one byte 0x45", []byte{0x45}, false, false),
		r("one byte 0x60", []byte{0x60}, false, false),
		r("v6 6 bytes", tcp6(8000, 0)[:6], false, false),
		r("v6 7 bytes", tcp6(8000, 0)[:7], false, false),
		r("arp request", []byte{0, 1, 8, 0, 6, 4, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 192, 0, 2, 9, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1}, false, false),
		r("version 5 with tcp 8000 layout", patch(tcp6(8000, 0), 0, 0x50), false, false),
		r("version 0 with tcp 8000 layout", patch(tcp4(8000, 0), 0, 0x05), false, false),
		r("version 15", patch(tcp6(8000, 0), 0, 0xf0), false, false),
	)
	return rows
}

func pick[T any](v6 bool, a, b T) T {
	if v6 {
		return b
	}
	return a
}

func pickProto(v6 bool) uint8 { return pick(v6, uint8(pb.ProtoICMP), uint8(pb.ProtoICMPv6)) }

func patch(b []byte, off int, v ...byte) []byte {
	b = bytes.Clone(b)
	copy(b[off:], v)
	return b
}

func TestTable(t *testing.T) {
	for _, noV6 := range []bool{false, true} {
		o := Options{Ports: doors, NoIPv6: noV6}
		v := vm(t, o)
		for _, c := range table() {
			want := c.want
			if noV6 {
				want = c.wantNoV6
			}
			got := run(t, v, c.b)
			if got != want {
				t.Errorf("NoIPv6=%v %s: filter %v, want %v", noV6, c.name, got, want)
			}
			if ref := Reference(o, c.b); ref != want {
				t.Errorf("NoIPv6=%v %s: Reference %v, want %v", noV6, c.name, ref, want)
			}
		}
	}
}

// optionSets are the port configurations every packet is run against.
func optionSets() map[string]Options {
	return map[string]Options{
		"doors":        {Ports: doors},
		"doors -4":     {Ports: doors, NoIPv6: true},
		"none":         {},
		"none -4":      {NoIPv6: true},
		"udp only":     {Ports: []Port{{Port: l4.Port{Proto: udp, Num: 62201}}, {Port: l4.Port{Proto: udp, Num: 8000}}}},
		"tcp only":     {Ports: []Port{{Port: l4.Port{Proto: tcp, Num: 22}, Flags: l4.Flags{Set: l4.SYN}}}},
		"conflicting":  {Ports: []Port{{Port: l4.Port{Proto: tcp, Num: 7000}, Flags: l4.Flags{Set: l4.SYN}}, {Port: l4.Port{Proto: tcp, Num: 7000}, Flags: l4.Flags{Set: l4.FIN}}}},
		"udp w/ flags": {Ports: []Port{{Port: l4.Port{Proto: udp, Num: 8000}, Flags: l4.Flags{Set: l4.SYN}}}},
		"port 0":       {Ports: []Port{{Port: l4.Port{Proto: tcp, Num: 0}}, {Port: l4.Port{Proto: udp, Num: 0}}, {Port: l4.Port{Proto: tcp, Num: 65535}, Flags: l4.Flags{Clear: 0xff}}}},
	}
}

// corpus is every table packet plus every truncation of it, plus random
// mutations.
func corpus() []named {
	var out []named
	rnd := rand.New(rand.NewSource(1))
	for _, c := range table() {
		out = append(out, c.named)
		for n := 0; n < len(c.b); n++ {
			out = append(out, named{fmt.Sprintf("%s cut %d", c.name, n), c.b[:n]})
		}
		for i := 0; i < 20 && len(c.b) > 0; i++ {
			m := bytes.Clone(c.b)
			m[rnd.Intn(len(m))] ^= byte(1 << rnd.Intn(8))
			out = append(out, named{fmt.Sprintf("%s flip %d", c.name, i), m})
		}
	}
	return out
}

func TestProgramEqualsReference(t *testing.T) {
	cs := corpus()
	for name, o := range optionSets() {
		v := vm(t, o)
		for _, c := range cs {
			if got, ref := run(t, v, c.b), Reference(o, c.b); got != ref {
				t.Errorf("%s / %s: program %v, Reference %v (% x)", name, c.name, got, ref, c.b)
			}
		}
	}
}

// decoderAccepts is what the daemon would act on: a packet that decodes
// and is sent to a configured port with flags the door accepts.
func decoderAccepts(o Options, b []byte) bool {
	var p decode.Packet
	if decode.Decode(b, &p) != nil {
		return false
	}
	if o.NoIPv6 && p.Src.Is6() {
		return false
	}
	for _, q := range o.Ports {
		if q.Proto == p.Proto && q.Num == p.DstPort && (p.Proto == udp || q.Flags.Match(p.Flags)) {
			return true
		}
	}
	return false
}

// TestNeverDropsWhatDecoderAccepts: the kernel filter may pass more than
// the daemon wants, never less.
func TestNeverDropsWhatDecoderAccepts(t *testing.T) {
	cs := corpus()
	accepted := 0
	for name, o := range optionSets() {
		v := vm(t, o)
		for _, c := range cs {
			if decoderAccepts(o, c.b) {
				accepted++
				if !run(t, v, c.b) {
					t.Errorf("%s / %s: decoder accepts, filter drops (% x)", name, c.name, c.b)
				}
			}
		}
	}
	if accepted < 50 {
		t.Fatalf("only %d accepted packets in the corpus: the test checks little", accepted)
	}
}

func TestConflictingFlagsDropKernelTest(t *testing.T) {
	o := optionSets()["conflicting"]
	v := vm(t, o)
	for _, f := range []uint8{l4.SYN, l4.FIN, 0, l4.ACK} {
		if !run(t, v, tcp4(7000, f)) {
			t.Errorf("flags %#x dropped: with doors disagreeing no kernel flag test applies", f)
		}
	}
}

func TestUDPIgnoresFlags(t *testing.T) {
	v := vm(t, optionSets()["udp w/ flags"])
	// Byte 13 after the UDP header is payload; it must not be tested.
	for _, pl := range [][]byte{nil, bytes.Repeat([]byte{0}, 10), bytes.Repeat([]byte{0xff}, 10)} {
		if !run(t, v, pb.UDP4(s4, d4, 1, 8000, pl)) {
			t.Errorf("UDP with payload % x dropped", pl)
		}
	}
}

func TestUnknownProtocol(t *testing.T) {
	if _, err := Program(Options{Ports: []Port{{Port: l4.Port{Proto: 1, Num: 5}}}}); err == nil {
		t.Fatal("protocol 1 accepted")
	}
	if _, err := Assemble(Options{Ports: []Port{{Port: l4.Port{Proto: 132, Num: 5}}}}); err == nil {
		t.Fatal("protocol 132 accepted")
	}
}

func randomPorts(rnd *rand.Rand, n int, flags bool) []Port {
	seen := map[[2]int]bool{}
	var ps []Port
	for len(ps) < n {
		p := Port{Port: l4.Port{Proto: tcp, Num: uint16(1 + rnd.Intn(65535))}}
		if rnd.Intn(3) == 0 {
			p.Proto = udp
		} else if flags {
			p.Flags = l4.Flags{Set: l4.SYN, Clear: l4.ACK}
		}
		k := [2]int{int(p.Proto), int(p.Num)}
		if !seen[k] {
			seen[k] = true
			ps = append(ps, p)
		}
	}
	return ps
}

// TestLargePortLists: long lists assemble within the kernel's 4096
// instructions, every listed port passes, and while the list fits
// exactly, unlisted ports and wrong flags are dropped.
func TestLargePortLists(t *testing.T) {
	for _, c := range []struct {
		n     int
		flags bool
		exact bool // the program can test every port and flag exactly
	}{
		{300, false, true},
		{300, true, true},
		{2000, false, true},
		{2000, true, false},
		{5000, false, false},
		{65535 * 2, false, false},
	} {
		t.Run(fmt.Sprintf("%d flags=%v", c.n, c.flags), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(int64(c.n)))
			var ps []Port
			if c.n == 65535*2 {
				for p := 1; p <= 65535; p++ {
					ps = append(ps, Port{Port: l4.Port{Proto: tcp, Num: uint16(p)}}, Port{Port: l4.Port{Proto: udp, Num: uint16(p)}})
				}
			} else {
				ps = randomPorts(rnd, c.n, c.flags)
			}
			o := Options{Ports: ps}
			raw, err := Assemble(o)
			if err != nil {
				t.Fatalf("Assemble: %v", err)
			}
			if len(raw) > 4096 {
				t.Fatalf("%d instructions", len(raw))
			}
			t.Logf("%d ports: %d instructions", c.n, len(raw))
			v := vm(t, o)
			// Every listed port is inside a test of its protocol.
			tcpS, udpS, err := plan(o)
			if err != nil {
				t.Fatal(err)
			}
			listed := map[[2]int]Port{}
			for _, p := range ps {
				listed[[2]int{int(p.Proto), int(p.Num)}] = p
				ss := tcpS
				if p.Proto == udp {
					ss = udpS
				}
				i := sort.Search(len(ss), func(i int) bool { return ss[i].Hi >= p.Num })
				if i == len(ss) || ss[i].Lo > p.Num {
					t.Fatalf("listed %d/%d not covered by the plan", p.Proto, p.Num)
				}
			}
			// Run a sample through the VM (the x/net/bpf VM is slow on
			// 4000-instruction programs) and fewer through Reference, which
			// plans again on every call.
			step := 1 + len(ps)/1000
			refEvery := 1 + len(ps)/40
			for i := 0; i < len(ps); i += step {
				p := ps[i]
				var b []byte
				switch {
				case p.Proto == udp && p.Num%2 == 0:
					b = udp6(p.Num)
				case p.Proto == udp:
					b = udp4(p.Num)
				case p.Num%2 == 0:
					b = tcp6(p.Num, l4.SYN)
				default:
					b = tcp4(p.Num, l4.SYN)
				}
				if !run(t, v, b) {
					t.Fatalf("listed %d/%d dropped", p.Proto, p.Num)
				}
				if i%refEvery == 0 && !Reference(o, b) {
					t.Fatalf("Reference drops listed %d/%d", p.Proto, p.Num)
				}
				if c.exact && p.Flags.Set != 0 && run(t, v, tcp4(p.Num, l4.SYN|l4.ACK)) {
					t.Fatalf("listed %d with wrong flags passes", p.Num)
				}
			}
			for i := 0; i < 3000/refEvery; i++ {
				pr := tcp
				if i%2 == 1 {
					pr = udp
				}
				port := uint16(rnd.Intn(65536))
				b := tcp4(port, l4.SYN)
				if pr == udp {
					b = udp6(port)
				}
				got := run(t, v, b)
				if got != Reference(o, b) {
					t.Fatalf("%d/%d: program %v, Reference %v", pr, port, got, Reference(o, b))
				}
				if _, ok := listed[[2]int{int(pr), int(port)}]; !ok && got && c.exact {
					t.Fatalf("unlisted %d/%d passes", pr, port)
				}
			}
		})
	}
}

// TestIncomingOnly checks the kernel-only prefix: it loads the packet
// type and drops everything but PACKET_HOST (0). The VM cannot run the
// extension, so the test replaces the load by a constant.
func TestIncomingOnly(t *testing.T) {
	o := Options{Ports: doors, IncomingOnly: true}
	p, err := Program(o)
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != (bpf.LoadExtension{Num: bpf.ExtType}) {
		t.Fatalf("instruction 0 = %#v, want LoadExtension ExtType", p[0])
	}
	j, ok := p[1].(bpf.JumpIf)
	if !ok || j.Val != 0 || (j.Cond != bpf.JumpEqual && j.Cond != bpf.JumpNotEqual) {
		t.Fatalf("instruction 1 = %#v, want a comparison with 0 (PACKET_HOST)", p[1])
	}
	raw, err := Assemble(o)
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != (bpf.RawInstruction{Op: 0x20, K: 0xfffff000 + 4}) { // ld #type (SKF_AD_OFF + SKF_AD_PKTTYPE)
		t.Fatalf("raw instruction 0 = %#v", raw[0])
	}
	for _, typ := range []uint32{0, 1, 2, 3, 4} { // HOST, BROADCAST, MULTICAST, OTHERHOST, OUTGOING
		q := append([]bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: typ}}, p[1:]...)
		v, err := bpf.NewVM(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range table() {
			want := c.want && typ == 0
			if got := run(t, v, c.b); got != want {
				t.Errorf("pkt_type %d, %s: %v, want %v", typ, c.name, got, want)
			}
		}
	}
}

// FuzzProgram runs random bytes through the program and Reference with a
// small random port set: they must agree, and the program must keep every
// packet the decoder and matcher would act on.
func FuzzProgram(f *testing.F) {
	for i, c := range table() {
		f.Add(c.b, uint64(i)*0x9e3779b97f4a7c15, uint8(i))
	}
	f.Add(tcp4(7000, l4.SYN), uint64(7000)<<16|6, uint8(0))
	f.Add(udp6(53), uint64(53)<<16|17, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64, cfg uint8) {
		// Derive up to 4 ports from seed; steer some toward the packet's
		// own destination port so that matches are frequent.
		var ps []Port
		for i := 0; i < int(cfg%5); i++ {
			x := seed >> (16 * i)
			p := Port{Port: l4.Port{Proto: tcp, Num: uint16(x)}}
			if x&0x10000 != 0 || cfg&0x40 != 0 && i == 0 {
				p.Proto = udp
			}
			if cfg&0x20 != 0 && i == 0 {
				if d, ok := dport(b); ok {
					p.Num = d
				}
			}
			if cfg&0x80 != 0 {
				p.Flags = l4.Flags{Set: uint8(x >> 8 & 0x3f), Clear: uint8(x>>4) & 0x3f &^ uint8(x>>8&0x3f)}
			}
			ps = append(ps, p)
		}
		o := Options{Ports: ps, NoIPv6: cfg&0x08 != 0}
		v := vm(t, o)
		got := run(t, v, b)
		if ref := Reference(o, b); got != ref {
			t.Fatalf("program %v, Reference %v, ports %+v", got, ref, ps)
		}
		if decoderAccepts(o, b) && !got {
			t.Fatalf("decoder accepts, program drops; ports %+v", ps)
		}
	})
}

// dport guesses the destination port of a TCP/UDP packet without
// extension headers.
func dport(b []byte) (uint16, bool) {
	if len(b) < 1 {
		return 0, false
	}
	off := 40
	if b[0]>>4 == 4 {
		off = int(b[0]&0xf) * 4
	}
	if len(b) < off+4 {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[off+2:]), true
}

func BenchmarkVM(b *testing.B) {
	v := vm(b, Options{Ports: randomPorts(rand.New(rand.NewSource(3)), 100, true)})
	pkt := tcp4(1, l4.SYN)
	for i := 0; i < b.N; i++ {
		_, _ = v.Run(pkt)
	}
}
