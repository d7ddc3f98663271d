//go:build linux

package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/filter"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
	"golang.org/x/sys/unix"
)

// The namespace tests run the test binary again inside a network
// namespace of their own (all its threads in it, as the daemon's are) and
// make packets arrive on a device there: a veth device fed from its peer,
// or a tun device (no link-layer header, like PPP or WireGuard).

const nsEnv = "CAPTURE_TEST_NETNS"

// inNamespace reports whether the calling test runs inside its namespace;
// outside, it runs the test there and reports its result.
func inNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(nsEnv) != "" {
		return true
	}
	testenv.NeedRoot(t)
	testenv.NeedBin(t, "ip")
	ns := testenv.NetNS(t, "kc")
	args := []string{"netns", "exec", ns}
	if emu := os.Getenv("KNOCKD_GO_TEST_EXEC"); emu != "" {
		args = append(args, emu)
	}
	args = append(args, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), nsEnv+"="+ns)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in namespace %s: %v\n%s", ns, err, out)
	}
	return false
}

// udpPorts returns the capture's filters: every port delivered, the last
// one urgent.
func udpPorts(t *testing.T, ports ...uint16) (all, urgent []filter.Port) {
	t.Helper()
	for i, p := range ports {
		fp := filter.Port{Port: l4.Port{Proto: l4.UDP, Num: p}}
		all = append(all, fp)
		if i == len(ports)-1 {
			urgent = append(urgent, fp)
		}
	}
	return all, urgent
}

// nsCapture runs a capture on dev and collects what it hands over.
type nsCapture struct {
	c    *Capture
	mu   sync.Mutex
	got  [][]byte
	when []time.Time
	ends []int // len(got) at each end of a batch
}

func startCapture(t *testing.T, dev string, ports ...uint16) *nsCapture {
	t.Helper()
	all, urgent := udpPorts(t, ports...)
	a, err := filter.Assemble(filter.Options{Ports: all, IncomingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := filter.Assemble(filter.Options{Ports: urgent, IncomingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	n := &nsCapture{c: New(dev, nil, logx.Discard())}
	if err := n.c.SetFilter(a, u); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- n.c.Run(ctx, func(b []byte, _ time.Time) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if b == nil {
				n.ends = append(n.ends, len(n.got))
				return
			}
			n.got = append(n.got, append([]byte(nil), b...))
			n.when = append(n.when, time.Now())
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("capture did not stop")
		}
	})
	select {
	case <-n.c.Ready():
	case <-time.After(5 * time.Second):
		t.Fatalf("capture on %s not ready", dev)
	}
	return n
}

// waitFor waits until want packets were handed over and returns them
// with the time each was.
func (n *nsCapture) waitFor(t *testing.T, want int, limit time.Duration) ([][]byte, []time.Time) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		n.mu.Lock()
		got, when := append([][]byte(nil), n.got...), append([]time.Time(nil), n.when...)
		n.mu.Unlock()
		if len(got) >= want || time.Now().After(deadline) {
			return got, when
		}
		time.Sleep(time.Millisecond)
	}
}

func ip(t *testing.T, args ...string) { t.Helper(); testenv.Run(t, "ip", args...) }

// veth makes device dev (addresses addrs) with a peer to send from, and
// returns a function that sends an IP packet through the peer, so that
// it arrives on dev from outside.
func veth(t *testing.T, dev string, addrs ...string) func(pkt []byte) {
	t.Helper()
	peer := dev + "p"
	ip(t, "link", "add", dev, "type", "veth", "peer", "name", peer)
	for _, a := range addrs {
		ip(t, "addr", "add", a, "dev", dev, "nodad")
	}
	ip(t, "link", "set", dev, "up")
	ip(t, "link", "set", peer, "up")
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	pifi, err := net.InterfaceByName(peer)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	to := &unix.SockaddrLinklayer{Ifindex: pifi.Index, Halen: 6}
	copy(to.Addr[:], ifi.HardwareAddr)
	return func(pkt []byte) {
		t.Helper()
		eth := make([]byte, 14, 14+len(pkt))
		copy(eth, ifi.HardwareAddr)
		copy(eth[6:], pifi.HardwareAddr)
		typ := uint16(unix.ETH_P_IP)
		if pkt[0]>>4 == 6 {
			typ = unix.ETH_P_IPV6
		}
		binary.BigEndian.PutUint16(eth[12:], typ)
		if err := unix.Sendto(fd, append(eth, pkt...), 0, to); err != nil {
			t.Fatalf("send on %s: %v", peer, err)
		}
	}
}

func dport(b []byte) uint16 {
	if len(b) > 0 && b[0]>>4 == 6 {
		return binary.BigEndian.Uint16(b[42:])
	}
	return binary.BigEndian.Uint16(b[int(b[0]&0x0f)*4+2:])
}

var (
	src4, dst4 = netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1")
	src6, dst6 = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1")
)

// TestRingKnockAndSPA: a knock sequence and an SPA-sized packet (urgent)
// come through the ring whole, in order and at once, over IPv4 and IPv6;
// the first knocks alone wait at most a block's retire timeout.
func TestRingKnockAndSPA(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	send := veth(t, "kr0", "192.0.2.1/24", "2001:db8::1/64")
	n := startCapture(t, "kr0", 7000, 8000, 62201)
	spa := bytes.Repeat([]byte("S"), 1200)
	want := 0
	for _, fam := range [][2]netip.Addr{{src4, dst4}, {src6, dst6}} {
		udp := pktbuild.UDP4
		if fam[0].Is6() {
			udp = pktbuild.UDP6
		}
		send(udp(fam[0], fam[1], 40000, 7000, []byte{0}))
		send(udp(fam[0], fam[1], 40000, 8000, []byte{0}))
		sent := time.Now()
		send(udp(fam[0], fam[1], 40000, 62201, spa))
		want += 3
		got, when := n.waitFor(t, want, 2*time.Second)
		if len(got) != want {
			t.Fatalf("%v: %d packets handed over, want %d", fam[0], len(got), want)
		}
		got, when = got[want-3:], when[want-3:]
		if dport(got[0]) != 7000 || dport(got[1]) != 8000 || dport(got[2]) != 62201 {
			t.Fatalf("%v: ports %d %d %d, want 7000 8000 62201", fam[0], dport(got[0]), dport(got[1]), dport(got[2]))
		}
		if !bytes.HasSuffix(got[2], spa) {
			t.Fatalf("%v: the SPA packet came in %d bytes, not whole", fam[0], len(got[2]))
		}
		if d := when[2].Sub(sent); d > 50*time.Millisecond {
			t.Fatalf("%v: the urgent packet was handed over %v after it was sent", fam[0], d)
		}
	}
	// First knocks alone: handed over with their block, in one go.
	sent := time.Now()
	for i := 0; i < 20; i++ {
		send(pktbuild.UDP4(src4, dst4, 40000, 7000, []byte{byte(i)}))
	}
	got, when := n.waitFor(t, want+20, 4*ringRetire*time.Millisecond)
	if len(got) != want+20 {
		t.Fatalf("%d of 20 first knocks handed over", len(got)-want)
	}
	if d := when[len(when)-1].Sub(sent); d > 3*ringRetire*time.Millisecond {
		t.Fatalf("first knocks handed over %v after they were sent, want within the retire timeout (%d ms)", d, ringRetire)
	}
	if p, d, err := n.c.Stats(); err != nil || p < 26 || d != 0 {
		t.Fatalf("kernel counts: %d packets, %d drops, %v", p, d, err)
	}
	// Each batch ended after its packets (the daemon writes the log
	// lines of a batch then): the urgent packets' reads, then the
	// first knocks' block, which ended once they were all in.
	n.mu.Lock()
	ends := slices.Clone(n.ends)
	n.mu.Unlock()
	if len(ends) < 3 || ends[len(ends)-1] != want+20 || !slices.IsSorted(ends) || slices.Contains(ends, 0) {
		t.Fatalf("batches ended after %v packets, want an end after each urgent packet's read and after the %d-th", ends, want+20)
	}
	for i := 1; i < len(ends); i++ {
		if ends[i] == ends[i-1] {
			t.Fatalf("an empty batch ended (after %v packets)", ends)
		}
	}
}

// TestRingDeviceRecreated: the ring follows a device deleted and made
// again (a new index), as a PPPoE reconnect does.
func TestRingDeviceRecreated(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	send := veth(t, "kd0", "192.0.2.1/24")
	n := startCapture(t, "kd0", 7000, 8000)
	for round := 1; round <= 3; round++ {
		send(pktbuild.UDP4(src4, dst4, 40000, 7000, []byte{0}))
		send(pktbuild.UDP4(src4, dst4, 40000, 8000, []byte{0}))
		if got, _ := n.waitFor(t, 2*round, 2*time.Second); len(got) != 2*round {
			t.Fatalf("round %d: %d packets handed over, want %d", round, len(got), 2*round)
		}
		old := n.c.index.Load()
		ip(t, "link", "del", "kd0")
		send = veth(t, "kd0", "192.0.2.1/24")
		if !testenv.Eventually(5*time.Second, func() bool { return n.c.index.Load() != old && n.c.index.Load() != 0 }) {
			t.Fatalf("round %d: the capture did not follow the new device", round)
		}
		// The new sockets are open once the capture has the new index
		// and has had a moment to bind.
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRingTun: on a link without a link-layer header (tun, as PPP and
// WireGuard are) the ring hands over the IP packets, IPv4 and IPv6.
func TestRingTun(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no tun device: %v", err)
	}
	defer f.Close()
	ifr, err := unix.NewIfreq("kt0")
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr); err != nil {
		t.Fatalf("TUNSETIFF: %v", err)
	}
	ip(t, "addr", "add", "192.0.2.1/24", "dev", "kt0")
	ip(t, "addr", "add", "2001:db8::1/64", "dev", "kt0", "nodad")
	ip(t, "link", "set", "kt0", "up")
	n := startCapture(t, "kt0", 7000, 62201)
	spa := bytes.Repeat([]byte("T"), 900)
	pkts := [][]byte{
		pktbuild.UDP4(src4, dst4, 40000, 7000, []byte{0}),
		pktbuild.UDP4(src4, dst4, 40000, 62201, spa),
		pktbuild.UDP6(src6, dst6, 40000, 7000, []byte{0}),
		pktbuild.UDP6(src6, dst6, 40000, 62201, spa),
	}
	for _, p := range pkts {
		if _, err := f.Write(p); err != nil {
			t.Fatalf("tun write: %v", err)
		}
	}
	got, _ := n.waitFor(t, 4, 2*time.Second)
	if len(got) != 4 {
		t.Fatalf("%d packets handed over, want 4", len(got))
	}
	for i, p := range pkts {
		if !bytes.Equal(got[i], p) {
			t.Fatalf("packet %d: got % x, want % x", i, got[i][:20], p[:20])
		}
	}
}
