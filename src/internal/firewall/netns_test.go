package firewall

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
	"golang.org/x/sys/unix"
)

// topo is the privileged test topology:
//
//	wan (hosts A and B: two addresses)  —  router (firewall under test)  —  lan (host)
//	198.51.100.2, .3 / 2001:db8:1::2, ::3   198.51.100.1 / 2001:db8:1::1
//	                                         192.168.77.1 / fd00:77::1     192.168.77.10 / fd00:77::10
//
// The router forwards, listens on tcp/2222 ("router") and the LAN host
// on tcp/80 ("lan"). The LAN host has no default route, so forwards to it
// only work with masquerade.
type topo struct {
	wan, router, lan string
	wanDev, lanDev   string // router's devices
}

var (
	hostA   = netip.MustParseAddr("198.51.100.2")
	hostB   = netip.MustParseAddr("198.51.100.3")
	hostA6  = netip.MustParseAddr("2001:db8:1::2")
	hostB6  = netip.MustParseAddr("2001:db8:1::3")
	rtrWAN  = netip.MustParseAddr("198.51.100.1")
	rtrWAN6 = netip.MustParseAddr("2001:db8:1::1")
	lanHost = netip.MustParseAddrPort("192.168.77.10:80")
	lanHst6 = netip.MustParseAddrPort("[fd00:77::10]:80")
)

const (
	routerPort = 2222
	fwdPort    = 8080
)

func newTopo(t *testing.T) *topo {
	t.Helper()
	testenv.NeedRoot(t)
	tp := &topo{
		wan:    testenv.NetNS(t, "fww"),
		router: testenv.NetNS(t, "fwr"),
		lan:    testenv.NetNS(t, "fwl"),
	}
	_, tp.wanDev = testenv.Veth(t, tp.wan, "198.51.100.2/24 198.51.100.3/24 2001:db8:1::2/64 2001:db8:1::3/64",
		tp.router, "198.51.100.1/24 2001:db8:1::1/64")
	tp.lanDev, _ = testenv.Veth(t, tp.router, "192.168.77.1/24 fd00:77::1/64", tp.lan, "192.168.77.10/24 fd00:77::10/64")
	testenv.In(t, tp.router, "sh", "-c",
		"echo 1 >/proc/sys/net/ipv4/ip_forward && echo 1 >/proc/sys/net/ipv6/conf/all/forwarding")
	tp.listen(t, tp.router, fmt.Sprintf(":%d", routerPort), "router")
	tp.listen(t, tp.lan, ":80", "lan")
	return tp
}

// inNS runs fn on an OS thread switched into namespace ns. Sockets made
// there stay in ns.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return // the locked thread is dropped with the goroutine
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join("/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("restore netns: %w", err)
			return // thread stays locked and dies: it is in the wrong namespace
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// listen serves banner on addr inside ns until the test ends.
func (tp *topo) listen(t *testing.T, ns, addr, banner string) {
	t.Helper()
	var ln net.Listener
	if err := inNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Write([]byte(banner + "\n"))
			_ = c.Close()
		}
	}()
}

// dial connects from src (a WAN address) to dst and returns the banner.
func (tp *topo) dial(src netip.Addr, dst netip.AddrPort) (string, error) {
	var banner string
	err := inNS(tp.wan, func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 700 * time.Millisecond}
		c, err := d.Dial("tcp", dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		banner, err = bufio.NewReader(c).ReadString('\n')
		banner = strings.TrimSpace(banner)
		return err
	})
	return banner, err
}

func routerAddr(src netip.Addr, port uint16) netip.AddrPort {
	if src.Is6() {
		return netip.AddrPortFrom(rtrWAN6, port)
	}
	return netip.AddrPortFrom(rtrWAN, port)
}

// expect checks what src reaches on the router's port (want "router") and
// through the forward (want "lan"); want "" means it must fail.
func (tp *topo) expect(t *testing.T, src netip.Addr, open, fwd string) {
	t.Helper()
	for _, c := range []struct {
		port uint16
		want string
	}{{routerPort, open}, {fwdPort, fwd}} {
		dst := routerAddr(src, c.port)
		got, err := tp.dial(src, dst)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s reached %s (%q), want no access", src, dst, got)
		case c.want != "" && err != nil:
			t.Errorf("%s -> %s failed: %v, want %q", src, dst, err, c.want)
		case c.want != "" && got != c.want:
			t.Errorf("%s -> %s answered %q, want %q", src, dst, got, c.want)
		}
	}
}

// eventuallyExpect retries expect's checks until they pass (bounded).
func (tp *topo) eventuallyExpect(t *testing.T, limit time.Duration, src netip.Addr, open, fwd string) {
	t.Helper()
	ok := testenv.Eventually(limit, func() bool {
		for _, c := range []struct {
			port uint16
			want string
		}{{routerPort, open}, {fwdPort, fwd}} {
			got, err := tp.dial(src, routerAddr(src, c.port))
			if (c.want == "") != (err != nil) || (c.want != "" && got != c.want) {
				return false
			}
		}
		return true
	})
	if !ok {
		tp.expect(t, src, open, fwd) // reports the details
	}
}

// wrapper writes an executable running bin inside ns, for backends that
// run firewall tools. The executable is written by another process
// (install(1)): were it written here, a child forked meanwhile by a
// parallel test would inherit the write descriptor until its exec, and
// running the wrapper then fails with ETXTBSY ("text file busy").
func wrapper(t *testing.T, ns, bin string) string {
	t.Helper()
	path := testenv.NeedBin(t, bin)
	dir := t.TempDir()
	src, p := filepath.Join(dir, bin+".sh"), filepath.Join(dir, bin)
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, path)
	if err := os.WriteFile(src, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("install", "-m", "0755", src, p).CombinedOutput(); err != nil {
		t.Fatalf("install %s: %v: %s", p, err, out)
	}
	return p
}

// specFor is the test grant: the router port, and the forward to the LAN
// host of src's family, with masquerade.
func specFor(src netip.Addr) Spec {
	to := lanHost
	if src.Is6() {
		to = lanHst6
	}
	return Spec{
		Open:    []l4.Port{{Proto: l4.TCP, Num: routerPort}},
		Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: fwdPort}, To: to, Masquerade: true}},
	}
}
