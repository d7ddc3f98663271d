// Package filter builds the classic BPF program attached to the capture
// socket. The program runs on the bytes a cooked (SOCK_DGRAM) AF_PACKET
// socket sees, where offset 0 is the IP header on every link type, and keeps
// only TCP and UDP packets to a knock port, with TCP flag tests where every
// door using a port asks for them. Everything else stays in the kernel.
//
// The program is a pre-filter; the Go decoder and matcher re-check all of it.
package filter

import (
	"fmt"
	"sort"

	"golang.org/x/net/bpf"
)

// FlagTest is a TCP flag condition: every bit of Set must be set and every
// bit of Clear must be clear.
type FlagTest struct{ Set, Clear uint8 }

// Match reports whether TCP flags f pass the test.
func (t FlagTest) Match(f uint8) bool { return f&t.Set == t.Set && f&t.Clear == 0 }

// Port is one destination port to accept.
type Port struct {
	Proto uint8 // 6 (TCP) or 17 (UDP)
	Port  uint16
	// Flags is the TCP flag test applied in the kernel. A port used by
	// several doors gets a test only if all of them share it; otherwise the
	// zero value (accept any flags) is used.
	Flags FlagTest
}

// Options describe the program.
type Options struct {
	Ports []Port
	// IncomingOnly adds the kernel-only prefix that drops packets whose
	// pkt_type is not PACKET_HOST (outgoing copies, broadcast, multicast).
	// The x/net/bpf VM cannot run it; tests build without it.
	IncomingOnly bool
	// NoIPv6 drops every IPv6 packet (knockd's -4).
	NoIPv6 bool
}

// Snap is the number of bytes the program keeps of an accepted packet.
const Snap = 0x40000

type fixup struct {
	at         int
	jt, jf, ja string
}

type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []fixup
}

func (a *asm) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }
func (a *asm) label(name string)      { a.labels[name] = len(a.ins) }
func (a *asm) jif(c bpf.JumpTest, v uint32, jt, jf string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), jt: jt, jf: jf})
	a.emit(bpf.JumpIf{Cond: c, Val: v})
}
func (a *asm) jmp(to string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), ja: to})
	a.emit(bpf.Jump{})
}

func (a *asm) resolve() ([]bpf.Instruction, error) {
	skip := func(at int, to string) (int, error) {
		if to == "" {
			return 0, nil
		}
		t, ok := a.labels[to]
		if !ok {
			return 0, fmt.Errorf("filter: unknown label %q", to)
		}
		s := t - at - 1
		if s < 0 {
			return 0, fmt.Errorf("filter: backward jump to %q", to)
		}
		return s, nil
	}
	for _, f := range a.fix {
		if f.ja != "" {
			s, err := skip(f.at, f.ja)
			if err != nil {
				return nil, err
			}
			a.ins[f.at] = bpf.Jump{Skip: uint32(s)}
			continue
		}
		j := a.ins[f.at].(bpf.JumpIf)
		st, err := skip(f.at, f.jt)
		if err != nil {
			return nil, err
		}
		sf, err := skip(f.at, f.jf)
		if err != nil {
			return nil, err
		}
		if st > 255 || sf > 255 {
			return nil, fmt.Errorf("filter: jump too far at %d", f.at)
		}
		j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
		a.ins[f.at] = j
	}
	return a.ins, nil
}

// Program returns the filter for o. Port lists of any length are supported:
// each comparison is followed by its own accept, so no jump grows with the
// number of ports.
func Program(o Options) ([]bpf.Instruction, error) {
	var tcp, udp []Port
	for _, p := range dedupe(o.Ports) {
		switch p.Proto {
		case 6:
			tcp = append(tcp, p)
		case 17:
			udp = append(udp, p)
		default:
			return nil, fmt.Errorf("filter: port %d: unknown protocol %d", p.Port, p.Proto)
		}
	}
	a := &asm{labels: map[string]int{}}
	if o.IncomingOnly {
		a.emit(bpf.LoadExtension{Num: bpf.ExtType})
		a.jif(bpf.JumpEqual, 0, "", "drop")
	}
	a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	if o.NoIPv6 {
		a.jif(bpf.JumpEqual, 4, "", "drop")
	} else {
		a.jif(bpf.JumpEqual, 4, "", "v6")
	}

	// IPv4: X = header length; later fragments carry no L4 header.
	a.emit(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.jif(bpf.JumpBitsSet, 0x1fff, "drop", "")
	a.emit(bpf.LoadMemShift{Off: 0})
	a.emit(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.jif(bpf.JumpEqual, 6, "", "v4udp")
	a.ports(tcp, "v4")
	a.label("v4udp")
	a.jif(bpf.JumpEqual, 17, "", "drop")
	a.ports(udp, "v4")

	if !o.NoIPv6 {
		// IPv6 without extension headers: X = 40. Packets with an extension
		// header are passed to userspace, which walks the chain.
		a.label("v6")
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
		a.emit(bpf.LoadAbsolute{Off: 6, Size: 1})
		a.jif(bpf.JumpEqual, 6, "", "v6udp")
		a.ports(tcp, "v6")
		a.label("v6udp")
		a.jif(bpf.JumpEqual, 17, "", "v6ext")
		a.ports(udp, "v6")
		a.label("v6ext")
		for _, nh := range []uint32{0, 43, 44, 51, 60} {
			a.jif(bpf.JumpEqual, nh, "accept", "")
		}
		a.jmp("drop")
	}
	a.label("accept")
	a.emit(bpf.RetConstant{Val: Snap})
	a.label("drop")
	a.emit(bpf.RetConstant{Val: 0})
	return a.resolve()
}

// ports emits: load the destination port at X+2, then for each port a
// comparison; on a match, the flag test (if any) and accept.
func (a *asm) ports(ps []Port, fam string) {
	if len(ps) == 0 {
		a.jmp("drop")
		return
	}
	a.emit(bpf.LoadIndirect{Off: 2, Size: 2})
	for i, p := range ps {
		next := fmt.Sprintf("%s-%d-%d-%d", fam, p.Proto, i, len(a.ins))
		a.jif(bpf.JumpEqual, uint32(p.Port), "", next)
		if p.Flags != (FlagTest{}) {
			a.emit(bpf.LoadIndirect{Off: 13, Size: 1})
			if p.Flags.Set != 0 {
				a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(p.Flags.Set | p.Flags.Clear)})
			} else {
				a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(p.Flags.Clear)})
			}
			a.jif(bpf.JumpEqual, uint32(p.Flags.Set), "accept", "drop")
		} else {
			a.jmp("accept")
		}
		a.label(next)
	}
	a.jmp("drop")
}

func dedupe(ps []Port) []Port {
	type key struct {
		proto uint8
		port  uint16
	}
	seen := map[key]int{}
	var out []Port
	for _, p := range ps {
		k := key{p.Proto, p.Port}
		if i, ok := seen[k]; ok {
			if out[i].Flags != p.Flags {
				out[i].Flags = FlagTest{} // doors disagree: no kernel test
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// Assemble returns the raw program for the kernel.
func Assemble(o Options) ([]bpf.RawInstruction, error) {
	p, err := Program(o)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(p)
	if err != nil {
		return nil, fmt.Errorf("filter: assemble: %w", err)
	}
	if len(raw) > 4096 {
		return nil, fmt.Errorf("filter: program has %d instructions, the kernel takes 4096 at most", len(raw))
	}
	return raw, nil
}

// Reference is the plain-Go statement of what the program accepts (without
// the IncomingOnly prefix), used to test the program in the VM.
func Reference(o Options, b []byte) bool {
	if len(b) < 1 {
		return false
	}
	ports := dedupe(o.Ports)
	load := func(off int, n int) (uint32, bool) {
		if off < 0 || off+n > len(b) {
			return 0, false
		}
		var v uint32
		for i := 0; i < n; i++ {
			v = v<<8 | uint32(b[off+i])
		}
		return v, true
	}
	match := func(proto uint8, x int) bool {
		dp, ok := load(x+2, 2)
		if !ok {
			return false
		}
		for _, p := range ports {
			if p.Proto != proto || uint32(p.Port) != dp {
				continue
			}
			if p.Flags == (FlagTest{}) {
				return true
			}
			f, ok := load(x+13, 1)
			return ok && p.Flags.Match(uint8(f))
		}
		return false
	}
	switch b[0] >> 4 {
	case 4:
		fo, ok := load(6, 2)
		if !ok || fo&0x1fff != 0 {
			return false
		}
		x := int(b[0]&0xf) * 4
		proto, ok := load(9, 1)
		if !ok || (proto != 6 && proto != 17) {
			return false
		}
		return match(uint8(proto), x)
	case 6:
		if o.NoIPv6 {
			return false
		}
		nh, ok := load(6, 1)
		if !ok {
			return false
		}
		switch nh {
		case 6, 17:
			return match(uint8(nh), 40)
		case 0, 43, 44, 51, 60:
			return true
		}
	}
	return false
}
