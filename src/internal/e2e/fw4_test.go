package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/fw4ruleset"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// loadFW4 installs an fw4-shaped ruleset (input policy drop, wan reject,
// knockd-go's include files where fw4 places them) in the router.
func loadFW4(t *testing.T, r *router) {
	t.Helper()
	nft := testenv.NeedBin(t, "nft")
	root, err := filepath.Abs(filepath.Join("..", "..", "..", "files", "usr", "share", "nftables.d"))
	if err != nil {
		t.Fatal(err)
	}
	rules := writeFile(t, "fw4.nft", fw4ruleset.Render(root, r.rdev, r.lan, true))
	testenv.In(t, r.router, nft, "-f", rules)
}

func TestFW4GrantsKill9AndReload(t *testing.T) {
	knock := testenv.NeedBin(t, "knock")
	r := newRouter(t, "")
	loadFW4(t, r)
	conf := "[options]\n  firewall = fw4\n[ssh]\n  sequence = 7000,8000\n  open = tcp/2222\n  forward = tcp/1723 -> 192.168.1.51:1723\n  duration = 6\n"
	d := knockd(t, r.router, r.rdev, conf)
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatal("router port open before the knock")
	}
	testenv.In(t, r.host, knock, r.raddr4, "7000", "8000")
	d.mustSee("opened tcp/2222", wait)
	t0 := time.Now()
	for _, dst := range []string{":2222", ":1723"} {
		if _, err := dial(r.host, r.a, r.raddr4+dst); err != nil {
			t.Fatalf("A cannot reach %s through fw4: %v\n%s", dst, err, d.out.String())
		}
		if out, err := dial(r.host, r.b, r.raddr4+dst); err == nil {
			t.Fatalf("B reached %s without knocking: %q", dst, out)
		}
	}
	// The daemon dies; the kernel's set timeout still closes the door.
	d.signal(os.Kill)
	<-d.done
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err != nil {
		t.Fatalf("grant vanished with the daemon (should last its time): %v", err)
	}
	time.Sleep(time.Until(t0.Add(6500 * time.Millisecond)))
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("fw4 grant outlived its time after kill -9: %q", out)
	}

	// A full fw4 restart (table deleted and rebuilt) while a grant is open:
	// the grant comes back within seconds and still ends on time.
	d2 := knockd(t, r.router, r.rdev, conf)
	testenv.In(t, r.host, knock, r.raddr4, "7000", "8000")
	d2.mustSee("opened tcp/2222", wait)
	t1 := time.Now()
	testenv.In(t, r.router, testenv.NeedBin(t, "nft"), "delete", "table", "inet", "fw4")
	loadFW4(t, r)
	back := testenv.Eventually(5*time.Second, func() bool {
		_, err := dial(r.host, r.a, r.raddr4+":2222")
		return err == nil
	})
	if !back {
		t.Fatalf("grant not restored after fw4 restart:\n%s", d2.out.String())
	}
	t.Logf("grant restored %v after the restart", time.Since(t1))
	time.Sleep(time.Until(t1.Add(6500 * time.Millisecond)))
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("restored grant outlived its time: %q", out)
	}
}

func TestIptablesReloadRestoresGrants(t *testing.T) {
	ipt := testenv.NeedBin(t, "iptables-legacy")
	r := newRouter(t, ipt)
	d := knockd(t, r.router, r.rdev, sshConf("iptables-legacy", 8))
	t0 := r.knockOpen(t, d)
	// A firewall reload: the built-in chains are flushed and rebuilt,
	// so our jump is gone.
	testenv.In(t, r.router, ipt, "-F")
	r.baseRules(t, ipt)
	if !testenv.Eventually(7*time.Second, func() bool { _, err := dial(r.host, r.a, r.raddr4+":2222"); return err == nil }) {
		t.Fatalf("grant not restored after the reload:\n%s", d.out.String())
	}
	t.Logf("restored %v after the reload", time.Since(t0))
	time.Sleep(time.Until(t0.Add(8500 * time.Millisecond)))
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("grant outlived its time after a reload: %q", out)
	}
	d.mustSee(r.a+": ssh: closed tcp/2222", wait)
}

// TestSmallBuildOpensFW4 runs knockd built for the smallest routers (no
// iptables backend, every optional feature left out) against an
// fw4-shaped ruleset: a knock opens a port on the router and forwards
// another for the knocker only, and runs the door's command.
func TestSmallBuildOpensFW4(t *testing.T) {
	knock := testenv.NeedBin(t, "knock")
	r := newRouter(t, "")
	loadFW4(t, r)
	dir := t.TempDir()
	conf := writeFile(t, "knockd.conf", "[options]\n  firewall = fw4\n[ssh]\n  sequence = 7000,8000\n  open = tcp/2222\n"+
		"  forward = tcp/1723 -> 192.168.1.51:1723\n  duration = 6\n  start_command = touch "+dir+"/opened-%IP%\n")
	d := start(t, r.router, bin.small, "-i", r.rdev, "-c", conf, "-v", "-D")
	d.mustSee("listening on "+r.rdev+" (index", 10*time.Second)
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatal("router port open before the knock")
	}
	testenv.In(t, r.host, knock, r.raddr4, "7000", "8000")
	d.mustSee("opened tcp/2222", wait)
	for _, dst := range []string{":2222", ":1723"} {
		if _, err := dial(r.host, r.a, r.raddr4+dst); err != nil {
			t.Fatalf("A cannot reach %s through fw4: %v\n%s", dst, err, d.out.String())
		}
		if out, err := dial(r.host, r.b, r.raddr4+dst); err == nil {
			t.Fatalf("B reached %s without knocking: %q", dst, out)
		}
	}
	if !fileAppears(filepath.Join(dir, "opened-"+r.a), wait) {
		t.Fatalf("the door's command did not run for %s; log:\n%s", r.a, d.out.String())
	}
}
