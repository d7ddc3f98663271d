// Package e2e holds the privileged end-to-end tests: the real knockd and
// knock binaries, Debian's knockd 0.8 and knock, network namespaces, veth,
// VLAN, GRE and tun devices, real AF_PACKET capture.
package e2e

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

var bin struct {
	dir           string
	knockd, knock string
	// small is knockd built for the smallest routers: no iptables
	// backend and every optional feature left out (src/internal/feature).
	small string
	err   error
}

const helperEnv = "KNOCKD_E2E_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "inject":
		os.Exit(helperInject(os.Args[1:]))
	case "tun":
		os.Exit(helperTun(os.Args[1:]))
	case "injectraw":
		os.Exit(helperInjectRaw(os.Args[1:]))
	case "dial":
		os.Exit(helperDial(os.Args[1:]))
	case "serve":
		os.Exit(helperServe(os.Args[1:]))
	case "capture":
		os.Exit(helperCapture(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "knockd-e2e-")
	if err != nil {
		panic(err)
	}
	bin.dir = dir
	bin.knockd = filepath.Join(dir, "knockd")
	bin.knock = filepath.Join(dir, "knock")
	bin.small = filepath.Join(dir, "knockd-small")
	for _, b := range []struct{ out, pkg, tags string }{
		{bin.knockd, "../../cmd/knockd", ""},
		{bin.knock, "../../cmd/knock", ""},
		{bin.small, "../../cmd/knockd", "knockd_noiptables knockd_nospa knockd_nomail knockd_norotate knockd_nocontrol knockd_nodoctor"},
	} {
		cmd := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBinaries(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	if bin.err != nil {
		t.Fatal(bin.err)
	}
}

// proc is a daemon started in a namespace.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error
}

// start runs a program inside ns and stops it (SIGTERM, then SIGKILL) when
// the test ends.
func start(t *testing.T, ns string, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, ns, name, args...)
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, env []string, ns string, name string, args ...string) *proc {
	t.Helper()
	if name == bin.knockd || name == bin.small {
		ownPaths(t, args, name == bin.small)
	}
	p := &proc{t: t, out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits up to limit, then kills.
func (p *proc) stop(limit time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) signal(s os.Signal) { _ = p.cmd.Process.Signal(s) }

// waitFor waits until the output contains s.
func (p *proc) waitFor(s string, limit time.Duration) bool {
	return testenv.Eventually(limit, func() bool { return strings.Contains(p.out.String(), s) })
}

func (p *proc) mustSee(s string, limit time.Duration) {
	p.t.Helper()
	if !p.waitFor(s, limit) {
		p.t.Fatalf("did not see %q within %v; output:\n%s", s, limit, p.out.String())
	}
}

func (p *proc) count(s string) int { return strings.Count(p.out.String(), s) }

// knockd starts knockd-go in ns with the given config and waits until it
// listens.
func knockd(t *testing.T, ns, dev, conf string, extra ...string) *proc {
	t.Helper()
	path := writeFile(t, "knockd.conf", conf)
	args := append([]string{"-i", dev, "-c", path, "-v", "-D"}, extra...)
	p := start(t, ns, bin.knockd, args...)
	p.mustSee("listening on "+dev+" (index", 10*time.Second)
	return p
}

// ownPaths gives the daemon of args its own control socket and replay
// journal, beside its configuration, unless the configuration names them:
// one daemon runs per socket and journal (a second refuses to start), and
// tests (and test runs) go side by side. The lines are appended, so the
// line numbers of the configuration's errors stay. A build without the
// control socket (small) gets only the journal.
func ownPaths(t *testing.T, args []string, small bool) {
	t.Helper()
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-c" && args[i] != "-u" {
			continue
		}
		path := args[i+1]
		b, err := os.ReadFile(path)
		if err != nil || strings.Contains(string(b), "# the test's own paths") {
			return
		}
		dir := filepath.Dir(path)
		var add []string
		for _, kv := range [][2]string{{"control_socket", filepath.Join(dir, "knockd.sock")}, {"spa_replay_file", filepath.Join(dir, "replay")}} {
			if strings.Contains(string(b), kv[0]) || small && kv[0] == "control_socket" {
				continue
			}
			if args[i] == "-u" {
				add = append(add, "\toption "+kv[0]+" '"+kv[1]+"'")
			} else {
				add = append(add, "  "+kv[0]+" = "+kv[1])
			}
		}
		if len(add) == 0 {
			return
		}
		head := "\n# the test's own paths\n[options]\n"
		if args[i] == "-u" {
			head = "\n# the test's own paths\nconfig knockd 'paths'\n"
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, head+strings.Join(add, "\n")+"\n"...), fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		return
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// inject writes raw IP packets on dev inside ns, as if they came from the
// peer: a cooked AF_PACKET socket on the peer end of a veth pair (the
// kernel adds the Ethernet header towards dstMAC).
func inject(t *testing.T, ns, dev string, dstMAC net.HardwareAddr, pkts ...[]byte) {
	t.Helper()
	args := []string{"netns", "exec", ns, os.Args[0], dev, dstMAC.String()}
	for _, p := range pkts {
		args = append(args, hex.EncodeToString(p))
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), helperEnv+"=inject")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
}

func helperInject(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "inject: dev mac packets...")
		return 2
	}
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mac, err := net.ParseMAC(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conns := map[int]*packet.Conn{}
	for _, h := range args[2:] {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			fmt.Fprintln(os.Stderr, "bad packet", err)
			return 1
		}
		proto := unix.ETH_P_IP
		if b[0]>>4 == 6 {
			proto = unix.ETH_P_IPV6
		}
		c := conns[proto]
		if c == nil {
			c, err = packet.Listen(ifi, packet.Datagram, proto, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			conns[proto] = c
		}
		if _, err := c.WriteTo(b, &packet.Addr{HardwareAddr: mac}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

// tunInject makes packets arrive on tun device dev in ns (a link with no
// Ethernet header, like ppp or WireGuard).
func tunInject(t *testing.T, ns, dev string, pkts ...[]byte) {
	t.Helper()
	args := []string{"netns", "exec", ns, os.Args[0], dev}
	for _, p := range pkts {
		args = append(args, hex.EncodeToString(p))
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), helperEnv+"=tun")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tun inject: %v\n%s", err, out)
	}
}

func helperTun(args []string) int {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	var req [unix.IFNAMSIZ + 64]byte
	copy(req[:], args[0])
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
		fmt.Fprintln(os.Stderr, "TUNSETIFF:", e)
		return 1
	}
	for _, h := range args[1:] {
		b, err := hex.DecodeString(h)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := f.Write(b); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			return 1
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

// macOf returns the MAC address of dev in ns.
func macOf(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	out := testenv.Run(t, "ip", "-n", ns, "-br", "link", "show", dev)
	for _, f := range strings.Fields(out) {
		if m, err := net.ParseMAC(f); err == nil && len(m) == 6 {
			return m
		}
	}
	t.Fatalf("no MAC for %s: %s", dev, out)
	return nil
}

// pair is a router namespace and an outside host namespace joined by veth.
type pair struct {
	router, host   string
	rdev, hdev     string
	rmac           net.HardwareAddr
	raddr4, haddr4 string
	raddr6, haddr6 string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	needBinaries(t)
	p := &pair{raddr4: "10.77.0.1", haddr4: "10.77.0.2", raddr6: "fd77::1", haddr6: "fd77::2"}
	p.router = testenv.NetNS(t, "kr")
	p.host = testenv.NetNS(t, "kh")
	p.rdev, p.hdev = testenv.Veth(t, p.router, p.raddr4+"/24 "+p.raddr6+"/64", p.host, p.haddr4+"/24 "+p.haddr6+"/64")
	p.rmac = macOf(t, p.router, p.rdev)
	return p
}

// fileAppears waits for path to exist.
func fileAppears(path string, limit time.Duration) bool {
	return testenv.Eventually(limit, func() bool { _, err := os.Stat(path); return err == nil })
}

// injectRaw writes whole Ethernet frames on dev inside ns.
func injectRaw(t *testing.T, ns, dev string, frames ...[]byte) {
	t.Helper()
	args := []string{"netns", "exec", ns, os.Args[0], dev}
	for _, f := range frames {
		args = append(args, hex.EncodeToString(f))
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), helperEnv+"=injectraw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("inject raw: %v\n%s", err, out)
	}
}

func helperInjectRaw(args []string) int {
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	for _, h := range args[1:] {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) < 14 {
			fmt.Fprintln(os.Stderr, "bad frame", err)
			return 1
		}
		if _, err := c.WriteTo(b, &packet.Addr{HardwareAddr: net.HardwareAddr(b[0:6])}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0
}

// injectSYNs sends one TCP SYN per port of seq from src to dst (IPv4 or
// IPv6), source ports from sport up, into the host side of the pair.
func (p *pair) injectSYNs(t *testing.T, src, dst string, sport uint16, seq []l4.Port) {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var pkts [][]byte
	for i, port := range seq {
		if s.Is4() {
			pkts = append(pkts, pktbuild.TCP4(s, d, sport+uint16(i), port.Num, pktbuild.SYN))
		} else {
			pkts = append(pkts, pktbuild.TCP6(s, d, sport+uint16(i), port.Num, pktbuild.SYN))
		}
	}
	inject(t, p.host, p.hdev, p.rmac, pkts...)
}
