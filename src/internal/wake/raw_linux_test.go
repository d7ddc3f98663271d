package wake

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// inNetNS runs fn on a thread that is inside network namespace ns (a name
// from testenv.NetNS). Sockets opened by fn stay in ns after it returns.
func inNetNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open own netns: %v", err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open netns %s: %v", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		// On failure the thread stays locked and dies with the goroutine,
		// so no other goroutine ever runs in the wrong namespace.
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns back: %v", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// capture is an AF_PACKET socket bound to EtherType 0x0842 on one device.
type capture struct {
	t *testing.T
	c *packet.Conn
}

func listen(t *testing.T, ns, dev string) *capture {
	t.Helper()
	var (
		c   *packet.Conn
		err error
	)
	inNetNS(t, ns, func() {
		var ifi *net.Interface
		ifi, err = net.InterfaceByName(dev)
		if err == nil {
			c, err = packet.Listen(ifi, packet.Raw, 0x0842, nil)
		}
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", dev, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return &capture{t: t, c: c}
}

// next returns the next incoming 0x0842 frame, or nil after 3 s.
func (c *capture) next() []byte {
	c.t.Helper()
	if err := c.c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		c.t.Fatalf("deadline: %v", err)
	}
	buf := make([]byte, 2048)
	for i := 0; i < 100; i++ {
		n, _, err := c.c.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			c.t.Fatalf("read: %v", err)
		}
		if n >= 14 && buf[12] == 0x08 && buf[13] == 0x42 {
			return append([]byte(nil), buf[:n]...)
		}
	}
	c.t.Fatal("no magic packet among 100 frames")
	return nil
}

// waitUp waits until dev in ns has carrier: a veth drops what is sent
// before its peer is up.
func waitUp(t *testing.T, ns, dev string) {
	t.Helper()
	ok := testenv.Eventually(5*time.Second, func() bool {
		out, err := testenv.Output("ip", "-n", ns, "link", "show", "dev", dev)
		return err == nil && strings.Contains(out, "LOWER_UP") && strings.Contains(out, "state UP")
	})
	if !ok {
		out, _ := testenv.Output("ip", "-n", ns, "link", "show", "dev", dev)
		t.Fatalf("%s in %s did not come up: %s", dev, ns, out)
	}
}

func hwaddr(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	var (
		ifi *net.Interface
		err error
	)
	inNetNS(t, ns, func() { ifi, err = net.InterfaceByName(dev) })
	if err != nil {
		t.Fatalf("%s in %s: %v", dev, ns, err)
	}
	return ifi.HardwareAddr
}

// checkFrame compares a captured frame byte by byte with what must be on the
// wire: dst, src, 0x0842, 6×0xff, 16×mac, password.
func checkFrame(t *testing.T, got []byte, dst, src, mac net.HardwareAddr, pw []byte) {
	t.Helper()
	if got == nil {
		t.Fatal("no frame captured within 3 s")
	}
	want := wantFrame(dst, src, mac, pw)
	if len(got) != len(want) {
		t.Errorf("frame is %d bytes, want %d:\n%x", len(got), len(want), got)
	}
	for i := 0; i < len(want) && i < len(got); i++ {
		if got[i] != want[i] {
			t.Errorf("frame byte %d = %#02x, want %#02x\ngot  %x\nwant %x", i, got[i], want[i], got, want)
			return
		}
	}
}

func TestRawWakeOnWire(t *testing.T) {
	testenv.NeedRoot(t)
	nsA := testenv.NetNS(t, "wka")
	nsB := testenv.NetNS(t, "wkb")
	devA, devB := testenv.Veth(t, nsA, "", nsB, "")
	waitUp(t, nsA, devA)
	waitUp(t, nsB, devB)
	src := hwaddr(t, nsA, devA)
	rx := listen(t, nsB, devB)
	target := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}

	tests := []struct {
		name    string
		unicast bool
		pw      []byte
	}{
		{"broadcast, no password", false, nil},
		{"broadcast, 4-byte password", false, []byte{192, 168, 1, 77}},
		{"broadcast, 6-byte password", false, []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}},
		{"unicast, 6-byte password", true, []byte{1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			r := &Raw{Unicast: tt.unicast}
			inNetNS(t, nsA, func() { err = r.Wake(devA, target, tt.pw) })
			if err != nil {
				t.Fatalf("Wake: %v", err)
			}
			dst := Broadcast
			if tt.unicast {
				dst = target
			}
			checkFrame(t, rx.next(), dst, src, target, tt.pw)
		})
	}
}

// TestRawDeviceRecreated deletes the sending device and creates it again
// under the same name (a new index): the next wake must still go out.
func TestRawDeviceRecreated(t *testing.T) {
	testenv.NeedRoot(t)
	nsA := testenv.NetNS(t, "wka")
	nsB := testenv.NetNS(t, "wkb")
	devA, devB := testenv.Veth(t, nsA, "", nsB, "")
	waitUp(t, nsA, devA)
	target := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x66}
	var r Raw

	var err error
	inNetNS(t, nsA, func() { err = r.Wake(devA, target, nil) })
	if err != nil {
		t.Fatalf("first Wake: %v", err)
	}

	testenv.Run(t, "ip", "-n", nsA, "link", "del", devA)
	inNetNS(t, nsA, func() { err = r.Wake(devA, target, nil) })
	if err == nil {
		t.Fatal("Wake on a deleted device succeeded")
	}
	t.Logf("err: %v", err)

	testenv.Run(t, "ip", "link", "add", devA, "netns", nsA, "type", "veth", "peer", "name", devB, "netns", nsB)
	testenv.Run(t, "ip", "-n", nsA, "link", "set", devA, "up")
	testenv.Run(t, "ip", "-n", nsB, "link", "set", devB, "up")
	waitUp(t, nsA, devA)
	waitUp(t, nsB, devB)
	src := hwaddr(t, nsA, devA)
	rx := listen(t, nsB, devB)
	inNetNS(t, nsA, func() { err = r.Wake(devA, target, nil) })
	if err != nil {
		t.Fatalf("Wake after re-creation: %v", err)
	}
	got := rx.next()
	checkFrame(t, got, Broadcast, src, target, nil)
	if got != nil && bytes.Equal(got[6:12], Broadcast) {
		t.Error("source address is broadcast")
	}
}
