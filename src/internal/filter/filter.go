// Package filter builds the classic BPF program attached to the capture
// socket. The program runs on the bytes a cooked (SOCK_DGRAM) AF_PACKET
// socket sees, where offset 0 is the IP header on every link type, and keeps
// only TCP and UDP packets to a knock port, with TCP flag tests where every
// door using a port asks for them. Everything else stays in the kernel.
// Lists too long for the kernel's 4096 instructions are coarsened: flag
// tests are dropped, then neighbouring ports are merged into ranges.
//
// The program is a pre-filter; the Go decoder and matcher re-check all of it.
package filter

import (
	"fmt"
	"sort"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"golang.org/x/net/bpf"
)

// Port is one destination port to accept.
type Port struct {
	l4.Port
	// Flags is the TCP flag test applied in the kernel. A port used by
	// several doors gets a test only if all of them share it; otherwise the
	// zero value (accept any flags) is used.
	Flags l4.Flags
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
	_          [0]func() // not comparable: no equality function in the binary
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

// maxInstructions is the kernel's limit for a classic BPF program
// (BPF_MAXINSNS).
const maxInstructions = 4096

// span is one test of a port list: destination ports Lo through Hi, with
// a TCP flag test when Lo == Hi and Flags is not zero.
type span struct {
	Lo, Hi uint16
	Flags  l4.Flags
}

// cost is the number of instructions ports emits for s.
func (s span) cost() int {
	switch {
	case s.Lo != s.Hi:
		return 3
	case s.Flags != (l4.Flags{}):
		return 6
	}
	return 2
}

func cost(ss []span) int {
	n := 0
	for _, s := range ss {
		n += s.cost()
	}
	return n
}

// plan turns o.Ports into the tests the program makes, per protocol. When
// exact tests do not fit in the kernel's instruction limit it first drops
// the TCP flag tests, then merges neighbouring ports into ranges, closest
// first: the program then passes more than asked, never less.
func plan(o Options) (tcp, udp []span, err error) {
	for _, p := range dedupe(o.Ports) {
		s := span{Lo: p.Num, Hi: p.Num, Flags: p.Flags}
		switch p.Proto {
		case l4.TCP:
			tcp = append(tcp, s)
		case l4.UDP:
			udp = append(udp, s)
		default:
			return nil, nil, fmt.Errorf("filter: port %d: unknown protocol %d", p.Num, p.Proto)
		}
	}
	// Everything but the port tests: the skeleton, plus the port load and
	// final drop of each non-empty list.
	budget := maxInstructions - len(build(o, nil, nil).ins)
	for _, l := range [][]span{tcp, udp} {
		if len(l) > 0 {
			budget-- // the ldh [x+2] before the tests
		}
	}
	if cost(tcp)+cost(udp) <= budget {
		return tcp, udp, nil
	}
	for i := range tcp {
		tcp[i].Flags = l4.Flags{}
	}
	if cost(tcp)+cost(udp) <= budget {
		return tcp, udp, nil
	}
	tcp, udp = merge(tcp, udp, budget)
	return tcp, udp, nil
}

// merge joins neighbouring single ports (no flag tests) of each sorted
// list into ranges, smallest gap first, until the tests cost at most
// budget instructions.
func merge(tcp, udp []span, budget int) ([]span, []span) {
	lists := [2][]span{tcp, udp}
	type gap struct{ list, i, size int }
	var gaps []gap
	var joined [2][]bool // joined[l][i]: entry i and i+1 of list l are one range
	for l, ss := range lists {
		joined[l] = make([]bool, len(ss))
		for i := 0; i+1 < len(ss); i++ {
			gaps = append(gaps, gap{l, i, int(ss[i+1].Lo) - int(ss[i].Hi)})
		}
	}
	// Smallest gaps first, ties in list order (sort.Slice with the order
	// as tie-break: sort.SliceStable would link a second sort).
	sort.Slice(gaps, func(a, b int) bool {
		ga, gb := gaps[a], gaps[b]
		if ga.size != gb.size {
			return ga.size < gb.size
		}
		return ga.list < gb.list || ga.list == gb.list && ga.i < gb.i
	})
	total := cost(tcp) + cost(udp)
	for _, g := range gaps {
		if total <= budget {
			break
		}
		j := joined[g.list]
		left, right := 3, 3
		if g.i == 0 || !j[g.i-1] {
			left = 2
		}
		if !j[g.i+1] {
			right = 2
		}
		total += 3 - left - right
		j[g.i] = true
	}
	for l, ss := range lists {
		var out []span
		for i := 0; i < len(ss); i++ {
			s := ss[i]
			for joined[l][i] {
				i++
				s.Hi = ss[i].Hi
			}
			out = append(out, s)
		}
		lists[l] = out
	}
	return lists[0], lists[1]
}

// Program returns the filter for o. Port lists of any length are
// supported: every port test returns directly, so only unconditional jumps
// (which have 32-bit offsets) cross the lists, and lists too long for the
// kernel are coarsened by plan.
func Program(o Options) ([]bpf.Instruction, error) {
	tcp, udp, err := plan(o)
	if err != nil {
		return nil, err
	}
	return build(o, tcp, udp).resolve()
}

// build emits the program; jumps are resolved by the caller.
func build(o Options, tcp, udp []span) *asm {
	a := &asm{labels: map[string]int{}}
	if o.IncomingOnly {
		a.emit(bpf.LoadExtension{Num: bpf.ExtType})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1}) // PACKET_HOST
		a.emit(bpf.RetConstant{Val: 0})
	}
	a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	a.ifEq(4, "v4")
	if o.NoIPv6 {
		a.emit(bpf.RetConstant{Val: 0})
	} else {
		// IPv6 without extension headers: X = 40. Packets with an
		// extension header are passed to userspace, which walks the chain.
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipTrue: 1})
		a.emit(bpf.RetConstant{Val: 0}) // neither IPv4 nor IPv6
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
		a.emit(bpf.LoadAbsolute{Off: 6, Size: 1})
		a.ifEq(6, "tcp")
		a.ifEq(17, "udp")
		for _, nh := range []uint32{0, 43, 44, 51, 60} {
			a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nh, SkipFalse: 1})
			a.emit(bpf.RetConstant{Val: Snap})
		}
		a.emit(bpf.RetConstant{Val: 0})
	}

	// IPv4: X = header length; later fragments carry no L4 header.
	a.label("v4")
	a.emit(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipFalse: 1})
	a.emit(bpf.RetConstant{Val: 0})
	a.emit(bpf.LoadMemShift{Off: 0})
	a.emit(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.ifEq(6, "tcp")
	a.ifEq(17, "udp")
	a.emit(bpf.RetConstant{Val: 0})

	a.label("tcp")
	a.ports(tcp)
	a.label("udp")
	a.ports(udp)
	return a
}

// ifEq jumps to label when A == v, at any distance.
func (a *asm) ifEq(v uint32, label string) {
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: v, SkipFalse: 1})
	a.jmp(label)
}

// ports emits: load the destination port at X+2, then for each span a
// test that returns accept (after the flag test, if any) or falls through
// to the next; drop at the end. No conditional jump skips more than 5.
func (a *asm) ports(ss []span) {
	if len(ss) == 0 {
		a.emit(bpf.RetConstant{Val: 0})
		return
	}
	a.emit(bpf.LoadIndirect{Off: 2, Size: 2})
	for _, s := range ss {
		switch {
		case s.Lo != s.Hi:
			a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(s.Lo), SkipFalse: 2})
			a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(s.Hi), SkipTrue: 1})
			a.emit(bpf.RetConstant{Val: Snap})
		case s.Flags != (l4.Flags{}):
			a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(s.Lo), SkipFalse: 5})
			a.emit(bpf.LoadIndirect{Off: 13, Size: 1})
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(s.Flags.Set | s.Flags.Clear)})
			a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(s.Flags.Set), SkipFalse: 1})
			a.emit(bpf.RetConstant{Val: Snap})
			a.emit(bpf.RetConstant{Val: 0})
		default:
			a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(s.Lo), SkipFalse: 1})
			a.emit(bpf.RetConstant{Val: Snap})
		}
	}
	a.emit(bpf.RetConstant{Val: 0})
}

// dedupe sorts the ports and keeps one entry per protocol and port. Flag
// tests apply to TCP only; a port whose doors disagree gets none.
func dedupe(ps []Port) []Port {
	seen := map[l4.Port]int{}
	var out []Port
	for _, p := range ps {
		if p.Proto != l4.TCP {
			p.Flags = l4.Flags{}
		}
		k := p.Port
		if i, ok := seen[k]; ok {
			if out[i].Flags != p.Flags {
				out[i].Flags = l4.Flags{} // doors disagree: no kernel test
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, p)
	}
	// Protocol and port are unique in out: any sort gives one order.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Num < out[j].Num
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
