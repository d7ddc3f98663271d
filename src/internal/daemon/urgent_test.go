package daemon

import (
	"net/netip"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"golang.org/x/net/bpf"
)

// runFilter runs a program the daemon installed in the x/net/bpf VM,
// without its kernel-only prefix (pkt_type == PACKET_HOST: three
// instructions the VM cannot run).
func runFilter(t *testing.T, raw []bpf.RawInstruction, frame []byte) bool {
	t.Helper()
	if len(raw) < 4 {
		t.Fatalf("program of %d instructions", len(raw))
	}
	var prog []bpf.Instruction
	for _, r := range raw[3:] {
		prog = append(prog, r.Disassemble())
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestUrgentPorts: every knock and SPA port is delivered; only a
// sequence's last knock and SPA packets without delay (the first and
// middle knocks of a port scanner may wait to be read in a batch).
func TestUrgentPorts(t *testing.T) {
	r := newRig(t, `
[a]
sequence = 7000,8000:udp,9000
tcpflags = syn
command = true
[spa]
spa = yes
spa_port = 62201
spa_key = secret1234
spa_hmac_key = hmacsecret5678
open = tcp/22
[b]
sequence = 9000,6000:udp
command = true
`)
	all, urgent := r.src.Programs()
	src := netip.MustParseAddr("203.0.113.9")
	for _, tc := range []struct {
		name        string
		frame       []byte
		all, urgent bool
	}{
		{"first knock 7000/tcp", pktbuild.TCP4(src, router, 40000, 7000, 0x02), true, false},
		{"middle knock 8000/udp", pktbuild.UDP4(src, router, 40000, 8000, nil), true, false},
		{"last knock 9000/tcp (first of b)", pktbuild.TCP4(src, router, 40000, 9000, 0x02), true, true},
		{"last knock of b 6000/udp", pktbuild.UDP4(src, router, 40000, 6000, nil), true, true},
		{"SPA 62201/udp", pktbuild.UDP4(src, router, 40000, 62201, []byte("x")), true, true},
		{"other port 22/tcp", pktbuild.TCP4(src, router, 40000, 22, 0x02), false, false},
		{"IPv6 last knock 9000/tcp", pktbuild.TCP6(netip.MustParseAddr("2001:db8::9"), router6, 40000, 9000, 0x02), true, true},
		{"IPv6 first knock 7000/tcp", pktbuild.TCP6(netip.MustParseAddr("2001:db8::9"), router6, 40000, 7000, 0x02), true, false},
	} {
		if got := runFilter(t, all, tc.frame); got != tc.all {
			t.Errorf("%s: delivered %v, want %v", tc.name, got, tc.all)
		}
		if got := runFilter(t, urgent, tc.frame); got != tc.urgent {
			t.Errorf("%s: urgent %v, want %v", tc.name, got, tc.urgent)
		}
	}
}
