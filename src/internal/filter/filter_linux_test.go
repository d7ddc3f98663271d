package filter

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/decode"
	pb "github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func attach(fd int, raw []bpf.RawInstruction) error {
	f := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		f[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

// TestKernelAcceptsProgram attaches programs to an ordinary UDP socket,
// which needs no privilege: the kernel's classic BPF checker validates
// them (jump targets, length, final return) the same way as on a packet
// socket.
func TestKernelAcceptsProgram(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// The checker must be able to say no, or this test proves nothing.
	bad := []bpf.RawInstruction{{Op: 0x15, Jt: 3, Jf: 0, K: 1}, {Op: 0x06, K: 0}} // jeq past the end
	if err := attach(fd, bad); err == nil {
		t.Fatal("kernel accepted a jump past the end of the program")
	}
	rnd := rand.New(rand.NewSource(9))
	sets := optionSets()
	for _, n := range []int{300, 2000, 5000} {
		for _, flags := range []bool{false, true} {
			sets[fmt.Sprintf("%d ports flags=%v", n, flags)] = Options{Ports: randomPorts(rnd, n, flags)}
		}
	}
	for name, o := range sets {
		for _, in := range []bool{false, true} {
			o.IncomingOnly = in
			raw, err := Assemble(o)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := attach(fd, raw); err != nil {
				t.Errorf("%s (IncomingOnly=%v, %d instructions): kernel rejects the program: %v", name, in, len(raw), err)
			}
		}
	}
}

// inNetNS runs f on a thread switched into the named network namespace;
// sockets created by f stay in that namespace.
func inNetNS(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with the goroutine.
		t.Fatalf("setns back: %v", err)
	}
	runtime.UnlockOSThread()
}

// TestKernelFilterOnLoopback runs the assembled program in the kernel: a
// cooked packet socket on lo of a fresh namespace, with the filter, sees
// the packets another packet socket sends. Without IncomingOnly every
// accepted packet shows up twice (the outgoing copy and the looped-back
// incoming one), with it once, as PACKET_HOST. What arrives must be exactly
// what Reference accepts.
func TestKernelFilterOnLoopback(t *testing.T) {
	ns := testenv.NetNS(t, "kfilt")
	var pkts [][]byte
	for _, c := range table() {
		if len(c.b) > 0 {
			pkts = append(pkts, c.b)
		}
	}
	sentinel := pb.UDP4(s4, d4, 40001, 53, []byte("sentinel"))

	for _, in := range []bool{false, true} {
		t.Run(fmt.Sprintf("IncomingOnly=%v", in), func(t *testing.T) {
			o := Options{Ports: doors, IncomingOnly: in}
			raw, err := Assemble(o)
			if err != nil {
				t.Fatal(err)
			}
			var rx, tx int
			inNetNS(t, ns, func() {
				rx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
				if err != nil {
					t.Fatal(err)
				}
				tx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
			})
			defer unix.Close(rx)
			defer unix.Close(tx)
			if err := attach(rx, raw); err != nil {
				t.Fatalf("attach: %v", err)
			}
			lo := 1 // the loopback device of a fresh namespace
			if err := unix.Bind(rx, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lo}); err != nil {
				t.Fatal(err)
			}
			if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000}); err != nil {
				t.Fatal(err)
			}
			send := func(b []byte) {
				proto := uint16(unix.ETH_P_IP)
				if len(b) > 0 && b[0]>>4 == 6 {
					proto = unix.ETH_P_IPV6
				}
				if err := unix.Sendto(tx, b, 0, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: lo, Halen: 6}); err != nil {
					t.Fatalf("send % x: %v", b, err)
				}
			}
			want := map[string]int{}
			copies := 1
			if !in {
				copies = 2
			}
			for _, b := range pkts {
				send(b)
				if Reference(o, b) {
					want[string(b)] += copies
				}
			}
			send(sentinel)
			got := map[string]int{}
			buf := make([]byte, 65536)
			deadline := time.Now().Add(5 * time.Second)
			seenSentinel := 0
			for seenSentinel < copies && time.Now().Before(deadline) {
				n, from, err := unix.Recvfrom(rx, buf, 0)
				if err == unix.EAGAIN || err == unix.EINTR {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				b := buf[:n]
				if bytes.Equal(b, sentinel) {
					seenSentinel++
					continue
				}
				if ll, ok := from.(*unix.SockaddrLinklayer); ok && in && ll.Pkttype != unix.PACKET_HOST {
					t.Errorf("packet type %d passed with IncomingOnly: % x", ll.Pkttype, b)
				}
				var p decode.Packet
				if decode.Decode(b, &p) == nil && p.DstPort == 40000 {
					continue // the namespace's own replies (RST) to our source port
				}
				got[string(b)]++
			}
			if seenSentinel < copies {
				t.Fatalf("sentinel seen %d times, want %d", seenSentinel, copies)
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("accepted packet seen %d times, want %d: % x", got[k], n, []byte(k))
				}
			}
			for k, n := range got {
				if want[k] == 0 {
					t.Errorf("kernel passed %d copies of a packet Reference drops: % x", n, []byte(k))
				}
			}
			if len(want) < 10 {
				t.Fatalf("only %d accepted packets: the table checks little", len(want))
			}
			t.Logf("%d packets sent, %d distinct accepted, %d copies each", len(pkts), len(want), copies)
		})
	}
}
