package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// recreate deletes the router's WAN veth and makes a new pair with the
// same name but a new ifindex and a new address, as a PPPoE reconnect does.
func recreate(t *testing.T, p *pair, newAddr string) {
	t.Helper()
	testenv.Run(t, "ip", "-n", p.router, "link", "del", p.rdev)
	addVeth(t, p, newAddr)
}

// addVeth makes the pair's veth again after it was deleted, with the
// router's address newAddr.
func addVeth(t *testing.T, p *pair, newAddr string) {
	t.Helper()
	testenv.Run(t, "ip", "link", "add", p.rdev, "netns", p.router, "type", "veth", "peer", "name", p.hdev, "netns", p.host)
	testenv.Run(t, "ip", "-n", p.router, "addr", "add", newAddr+"/24", "dev", p.rdev)
	testenv.Run(t, "ip", "-n", p.host, "addr", "add", p.haddr4+"/24", "dev", p.hdev)
	testenv.Run(t, "ip", "-n", p.router, "link", "set", p.rdev, "up")
	testenv.Run(t, "ip", "-n", p.host, "link", "set", p.hdev, "up")
}

// knockUntilOpen knocks every 200 ms until the door opens or limit passes,
// and returns how long it took.
func knockUntilOpen(t *testing.T, p *pair, dst, flag string, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	knock := testenv.NeedBin(t, "knock")
	t0 := time.Now()
	for time.Since(t0) < limit {
		_, _ = testenv.InOutput(p.host, knock, dst, "7000", "8000", "9000")
		if fileAppears(flag, 200*time.Millisecond) {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}

func TestDeviceRecreatedWithNewIndexAndAddress(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000,9000", ""))
	flag := filepath.Join(dir, "opened-"+p.haddr4)
	if _, ok := knockUntilOpen(t, p, p.raddr4, flag, wait); !ok {
		t.Fatalf("first knock failed:\n%s", d.out.String())
	}
	os.Remove(flag)
	t0 := time.Now()
	recreate(t, p, "10.77.0.60")
	el, ok := knockUntilOpen(t, p, "10.77.0.60", flag, 5*time.Second)
	if !ok {
		t.Fatalf("knocks did not work after the device was re-created:\n%s", d.out.String())
	}
	t.Logf("knock worked again %v after re-creation (%v of knocking)", time.Since(t0), el)
	if time.Since(t0) > 2*time.Second+500*time.Millisecond {
		t.Fatalf("took %v to recover, want within 2s", time.Since(t0))
	}
	if n := d.count("listening on " + p.rdev + " (index"); n < 2 {
		t.Fatalf("socket opened %d times, want a re-open on the new device:\n%s", n, d.out.String())
	}
}

func TestLinkDownUp(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000,9000", ""))
	testenv.Run(t, "ip", "-n", p.router, "link", "set", p.rdev, "down")
	time.Sleep(300 * time.Millisecond)
	testenv.Run(t, "ip", "-n", p.router, "link", "set", p.rdev, "up")
	t0 := time.Now()
	flag := filepath.Join(dir, "opened-"+p.haddr4)
	if _, ok := knockUntilOpen(t, p, p.raddr4, flag, 5*time.Second); !ok {
		t.Fatalf("knocks did not work after link down/up:\n%s", d.out.String())
	}
	if el := time.Since(t0); el > 2500*time.Millisecond {
		t.Fatalf("took %v after link up, want within 2s", el)
	}
}

func TestDeviceAbsentAtStart(t *testing.T) {
	needBinaries(t)
	router := testenv.NetNS(t, "kr")
	host := testenv.NetNS(t, "kh")
	dir := t.TempDir()
	dev := testenv.Unique("vl")
	path := writeFile(t, "knockd.conf", doorConf(dir, "7000,8000,9000", ""))
	d := start(t, router, bin.knockd, "-i", dev, "-c", path, "-v", "-D")
	d.mustSee("waiting for device "+dev, wait)
	time.Sleep(500 * time.Millisecond)
	select {
	case <-d.done:
		t.Fatalf("daemon exited while waiting for its device:\n%s", d.out.String())
	default:
	}
	hdev := testenv.Unique("vh")
	testenv.Run(t, "ip", "link", "add", dev, "netns", router, "type", "veth", "peer", "name", hdev, "netns", host)
	testenv.Run(t, "ip", "-n", router, "addr", "add", "10.76.0.1/24", "dev", dev)
	testenv.Run(t, "ip", "-n", host, "addr", "add", "10.76.0.2/24", "dev", hdev)
	testenv.Run(t, "ip", "-n", router, "link", "set", dev, "up")
	testenv.Run(t, "ip", "-n", host, "link", "set", hdev, "up")
	p := &pair{router: router, host: host, rdev: dev, hdev: hdev, haddr4: "10.76.0.2"}
	if _, ok := knockUntilOpen(t, p, "10.76.0.1", filepath.Join(dir, "opened-10.76.0.2"), 5*time.Second); !ok {
		t.Fatalf("no knock after the device appeared:\n%s", d.out.String())
	}
}
