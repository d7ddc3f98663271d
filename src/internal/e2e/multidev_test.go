package e2e

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// Several capture devices in one daemon, as on an OpenWrt router that has
// wan (pppoe-wan), wan6 (a 6in4 tunnel) and wg0: a veth pair to a host
// namespace stands for an Ethernet link, a TUN device in the router
// namespace for a point-to-point link without an Ethernet header.

// The knock of every multi-device test and the tun's addresses.
const (
	mdSeq    = "7000,8000:udp,9000"
	tunAddr4 = "10.78.0.1"
	tunPeer4 = "10.78.0.2"
	tunAddr6 = "fd78::1"
	tunPeer6 = "fd78::2"
)

// addTun creates the persistent TUN device dev in ns with tunAddr4/24 and
// tunAddr6/64 and brings it up; tunInject attaches to it to make packets
// arrive. The device goes with the namespace.
func addTun(t *testing.T, ns, dev string) {
	t.Helper()
	testenv.Run(t, "ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
	testenv.Run(t, "ip", "-n", ns, "addr", "add", tunAddr4+"/24", "dev", dev)
	testenv.Run(t, "ip", "-n", ns, "addr", "add", tunAddr6+"/64", "dev", dev, "nodad")
	testenv.Run(t, "ip", "-n", ns, "link", "set", dev, "up")
}

// seqPackets returns mdSeq's packets from src to dst (TCP SYN, UDP, TCP SYN).
func seqPackets(src, dst string) [][]byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		return [][]byte{pktbuild.TCP4(s, d, 40000, 7000, 0x02), pktbuild.UDP4(s, d, 40001, 8000, []byte{0}), pktbuild.TCP4(s, d, 40002, 9000, 0x02)}
	}
	return [][]byte{pktbuild.TCP6(s, d, 40000, 7000, 0x02), pktbuild.UDP6(s, d, 40001, 8000, []byte{0}), pktbuild.TCP6(s, d, 40002, 9000, 0x02)}
}

// tunKnockUntilOpen knocks mdSeq over the tun from src every 200 ms until
// flag appears or limit passes, and returns how long it took.
func tunKnockUntilOpen(t *testing.T, ns, dev, src, dst, flag string, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	t0 := time.Now()
	for i := 0; i < 100 && time.Since(t0) < limit; i++ {
		tunInject(t, ns, dev, seqPackets(src, dst)...)
		if fileAppears(flag, 200*time.Millisecond) {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}

// vethKnockUntilOpen is knockUntilOpen towards dst, bounded in count too.
func vethKnockUntilOpen(t *testing.T, p *pair, dst, flag string, limit time.Duration) (time.Duration, bool) {
	t.Helper()
	knock := testenv.NeedBin(t, "knock")
	t0 := time.Now()
	for i := 0; i < 100 && time.Since(t0) < limit; i++ {
		_, _ = testenv.InOutput(p.host, knock, dst, "7000", "8000:udp", "9000")
		if fileAppears(flag, 200*time.Millisecond) {
			return time.Since(t0), true
		}
	}
	return time.Since(t0), false
}

// knockdOn starts knockd-go in ns with conf and the extra arguments (-i
// …, or -u instead of -c when uci), and waits until it captures on every
// device of listening.
func knockdOn(t *testing.T, ns, conf string, uci bool, listening []string, args ...string) *proc {
	t.Helper()
	name, flag := "knockd.conf", "-c"
	if uci {
		name, flag = "knockd", "-u"
	}
	path := writeFile(t, name, conf)
	d := start(t, ns, bin.knockd, append([]string{flag, path, "-v", "-D"}, args...)...)
	for _, dev := range listening {
		d.mustSee("listening on "+dev+" (index", 10*time.Second)
	}
	return d
}

// mdRig is a router with the veth of a pair and a TUN device.
type mdRig struct {
	*pair
	tun string
}

func newMDRig(t *testing.T) *mdRig {
	t.Helper()
	r := &mdRig{pair: newPair(t), tun: testenv.Unique("kt")}
	addTun(t, r.router, r.tun)
	return r
}

// noFile fails the test if path exists.
func noFile(t *testing.T, path, why string, d *proc) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s: %s exists; log:\n%s", why, path, d.out.String())
	}
}

// helperCmd returns the command running the test binary's helper kind
// ("inject", "tun") inside ns.
func helperCmd(ns, kind string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+kind)
	return cmd
}

// hexes returns the packets in hex, as the helpers take them.
func hexes(pkts ...[]byte) []string {
	var out []string
	for _, p := range pkts {
		out = append(out, hex.EncodeToString(p))
	}
	return out
}

// One daemon on a veth and a tun: knocks of both families on the veth and
// on the tun, all in progress at the same time, each open the door. Each
// hit arrives on both devices at once (the injections run together), and
// the next hit is sent once the daemon followed the last one of all four.
func TestMultiDeviceKnocksOnBothAtOnce(t *testing.T) {
	r := newMDRig(t)
	dir := t.TempDir()
	d := knockdOn(t, r.router, doorConf(dir, mdSeq, ""), false, []string{r.rdev, r.tun}, "-i", r.rdev, "-i", r.tun)
	d.mustSee("starting up, listening on "+r.rdev+" "+r.tun, wait)

	srcs := []string{r.haddr4, r.haddr6, tunPeer4, tunPeer6}
	v4, v6 := seqPackets(r.haddr4, r.raddr4), seqPackets(r.haddr6, r.raddr6)
	t4, t6 := seqPackets(tunPeer4, tunAddr4), seqPackets(tunPeer6, tunAddr6)
	for step := range v4 {
		cmds := []*exec.Cmd{
			helperCmd(r.host, "inject", append([]string{r.hdev, r.rmac.String()}, hexes(v4[step], v6[step])...)...),
			helperCmd(r.router, "tun", append([]string{r.tun}, hexes(t6[step], t4[step])...)...),
		}
		outs := make([]*testenv.Buffer, len(cmds))
		for i, c := range cmds {
			outs[i] = &testenv.Buffer{}
			c.Stdout, c.Stderr = outs[i], outs[i]
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			kill := time.AfterFunc(30*time.Second, func() { _ = c.Process.Kill() })
			defer kill.Stop()
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("step %d: %s: %v\n%s", step+1, c.Args, err, outs[i].String())
			}
		}
		if step == len(v4)-1 {
			break
		}
		for _, src := range srcs {
			d.mustSee(fmt.Sprintf("%s: door: Stage %d", src, step+1), wait)
		}
	}
	for _, src := range srcs {
		if !fileAppears(filepath.Join(dir, "opened-"+src), wait) {
			t.Fatalf("the door did not open for %s; log:\n%s", src, d.out.String())
		}
	}
}

// Each device is re-attached on its own: the veth works while the tun is
// gone, the tun works again once re-created, and the other way round.
func TestMultiDeviceIndependentReattach(t *testing.T) {
	r := newMDRig(t)
	dir := t.TempDir()
	d := knockdOn(t, r.router, doorConf(dir, mdSeq, ""), false, []string{r.rdev, r.tun}, "-i", r.rdev, "-i", r.tun)
	vflag := filepath.Join(dir, "opened-"+r.haddr4)
	tflag := filepath.Join(dir, "opened-"+tunPeer4)
	checkVeth := func(dst, when string) {
		t.Helper()
		os.Remove(vflag)
		if _, ok := vethKnockUntilOpen(t, r.pair, dst, vflag, wait); !ok {
			t.Fatalf("no knock on the veth %s; log:\n%s", when, d.out.String())
		}
	}
	checkTun := func(when string) {
		t.Helper()
		os.Remove(tflag)
		if _, ok := tunKnockUntilOpen(t, r.router, r.tun, tunPeer4, tunAddr4, tflag, wait); !ok {
			t.Fatalf("no knock on the tun %s; log:\n%s", when, d.out.String())
		}
	}
	listening := func(dev string) int { return d.count("listening on " + dev + " (index") }
	checkVeth(r.raddr4, "at start")
	checkTun("at start")

	// The tun goes away; the veth goes on.
	testenv.Run(t, "ip", "-n", r.router, "link", "del", r.tun)
	d.mustSee("waiting for device "+r.tun, wait)
	checkVeth(r.raddr4, "while the tun is gone")
	if n := listening(r.rdev); n != 1 {
		t.Fatalf("the veth's socket was opened %d times while the tun went away, want 1:\n%s", n, d.out.String())
	}

	// The tun comes back (a new index).
	t0 := time.Now()
	addTun(t, r.router, r.tun)
	os.Remove(tflag)
	el, ok := tunKnockUntilOpen(t, r.router, r.tun, tunPeer4, tunAddr4, tflag, wait)
	back := time.Since(t0)
	if !ok {
		t.Fatalf("no knock on the re-created tun within %v; log:\n%s", wait, d.out.String())
	}
	t.Logf("tun: a knock worked again %v after re-creation (%v of knocking)", back.Round(time.Millisecond), el.Round(time.Millisecond))
	if back > 2*time.Second {
		t.Fatalf("the tun took %v to come back, want within 2s", back)
	}
	// One socket per device: the new one is bound while still down and
	// kept when it comes up.
	if n := listening(r.tun); n != 2 {
		t.Fatalf("the tun's socket was opened %d times, want 2:\n%s", n, d.out.String())
	}
	checkVeth(r.raddr4, "after the tun came back")
	if n := listening(r.rdev); n != 1 {
		t.Fatalf("the veth's socket was opened %d times while the tun went and came back, want 1:\n%s", n, d.out.String())
	}

	// The veth goes away; the tun goes on.
	testenv.Run(t, "ip", "-n", r.router, "link", "del", r.rdev)
	d.mustSee("waiting for device "+r.rdev, wait)
	checkTun("while the veth is gone")

	// The veth comes back with a new index and address.
	t0 = time.Now()
	addVeth(t, r.pair, "10.77.0.60")
	os.Remove(vflag)
	el, ok = vethKnockUntilOpen(t, r.pair, "10.77.0.60", vflag, wait)
	back = time.Since(t0)
	if !ok {
		t.Fatalf("no knock on the re-created veth within %v; log:\n%s", wait, d.out.String())
	}
	t.Logf("veth: a knock worked again %v after re-creation (%v of knocking)", back.Round(time.Millisecond), el.Round(time.Millisecond))
	if back > 2*time.Second {
		t.Fatalf("the veth took %v to come back, want within 2s", back)
	}
	if n := listening(r.rdev); n != 2 {
		t.Fatalf("the veth's socket was opened %d times, want 2:\n%s", n, d.out.String())
	}
	checkTun("after the veth came back")
	if n := listening(r.tun); n != 2 {
		t.Fatalf("the tun's socket was opened %d times, want still 2 after the veth went and came back:\n%s", n, d.out.String())
	}
	if !d.waitFor("device "+r.tun+" is present", 0) || !d.waitFor("device "+r.rdev+" is present", 0) {
		t.Fatalf("no 'is present' line for both devices:\n%s", d.out.String())
	}
}

// limitedConf has two doors on the same knock: "wan6door" limited to the
// devices named by iface (touching dir/wan6-%IP%), "anydoor" on every
// device (touching dir/any-%IP%).
func limitedConf(dir, iface, options string) string {
	return fmt.Sprintf(`[options]
  UseSyslog
%[3]s[wan6door]
  sequence = %[4]s
  seq_timeout = 5
  interface = %[2]s
  command = touch %[1]s/wan6-%%IP%%
[anydoor]
  sequence = %[4]s
  seq_timeout = 5
  command = touch %[1]s/any-%%IP%%
`, dir, iface, options, mdSeq)
}

// checkLimited knocks on the veth and then on the tun, from both
// families: the door limited to the tun opens only there, the other on
// both.
func checkLimited(t *testing.T, r *mdRig, d *proc, dir string) {
	t.Helper()
	knock := testenv.NeedBin(t, "knock")
	for _, dst := range []string{r.raddr4, r.raddr6} {
		testenv.In(t, r.host, knock, dst, "7000", "8000:udp", "9000")
	}
	for _, src := range []string{r.haddr4, r.haddr6} {
		if !fileAppears(filepath.Join(dir, "any-"+src), wait) {
			t.Fatalf("the door without interface did not open on the veth for %s; log:\n%s", src, d.out.String())
		}
		d.mustSee(src+": anydoor: OPEN SESAME", wait)
	}
	for _, src := range []string{tunPeer4, tunPeer6} {
		dst := tunAddr4
		if strings.Contains(src, ":") {
			dst = tunAddr6
		}
		tunInject(t, r.router, r.tun, seqPackets(src, dst)...)
	}
	for _, src := range []string{tunPeer4, tunPeer6} {
		for _, f := range []string{"wan6-", "any-"} {
			if !fileAppears(filepath.Join(dir, f+src), wait) {
				t.Fatalf("no %s%s: a door did not open on the tun; log:\n%s", f, src, d.out.String())
			}
		}
	}
	// The veth's knocks were handled before the tun's.
	for _, src := range []string{r.haddr4, r.haddr6} {
		noFile(t, filepath.Join(dir, "wan6-"+src), "the door limited to the tun opened on the veth", d)
		if n := d.count(src + ": wan6door: "); n != 0 {
			t.Fatalf("the door limited to the tun followed a knock on the veth; log:\n%s", d.out.String())
		}
	}
}

// A door's interface directive limits it to some of the daemon's
// devices, named by device or by network (-i wan6=<tun>).
func TestMultiDeviceDoorLimitedToDevice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		iface func(r *mdRig) string
		args  func(r *mdRig) []string
	}{
		{"network names", func(*mdRig) string { return "wan6" },
			func(r *mdRig) []string { return []string{"-i", "wan=" + r.rdev, "-i", "wan6=" + r.tun} }},
		{"device names", func(r *mdRig) string { return r.tun },
			func(r *mdRig) []string { return []string{"-i", r.rdev + " " + r.tun} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMDRig(t)
			dir := t.TempDir()
			d := knockdOn(t, r.router, limitedConf(dir, tc.iface(r), ""), false, []string{r.rdev, r.tun}, tc.args(r)...)
			checkLimited(t, r, d, dir)
		})
	}
}

// The devices come from the configuration: knockd.conf's "interface = a
// b" and UCI's "list interface" (its doors' "list interface" too).
func TestMultiDeviceFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		uci  bool
		conf func(r *mdRig, dir string) string
	}{
		{"knockd.conf", false, func(r *mdRig, dir string) string {
			return limitedConf(dir, r.tun, "  interface = "+r.rdev+" "+r.tun+"\n")
		}},
		{"uci", true, func(r *mdRig, dir string) string {
			return fmt.Sprintf(`config knockd 'global'
	option use_syslog '1'
	list interface '%[2]s'
	list interface '%[3]s'

config door 'wan6door'
	option sequence '%[4]s'
	option seq_timeout '5'
	list interface '%[3]s'
	option command 'touch %[1]s/wan6-%%IP%%'

config door 'anydoor'
	option sequence '%[4]s'
	option seq_timeout '5'
	option command 'touch %[1]s/any-%%IP%%'
`, dir, r.rdev, r.tun, mdSeq)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMDRig(t)
			dir := t.TempDir()
			d := knockdOn(t, r.router, tc.conf(r, dir), tc.uci, []string{r.rdev, r.tun})
			d.mustSee("starting up, listening on "+r.rdev+" "+r.tun, wait)
			checkLimited(t, r, d, dir)
		})
	}
}

// A device named at start that does not exist yet (wg0 comes up later):
// the daemon waits for it, knocks on the other device work meanwhile, and
// once it appears knocks on it work too, the other device untouched.
func TestMultiDeviceOneAbsentAtStart(t *testing.T) {
	p := newPair(t)
	wg := testenv.Unique("wg")
	dir := t.TempDir()
	d := knockdOn(t, p.router, doorConf(dir, mdSeq, ""), false, []string{p.rdev}, "-i", p.rdev, "-i", wg)
	d.mustSee("waiting for device "+wg, wait)
	d.mustSee("starting up, listening on "+p.rdev+" "+wg, wait)
	vflag := filepath.Join(dir, "opened-"+p.haddr4)
	if _, ok := vethKnockUntilOpen(t, p, p.raddr4, vflag, wait); !ok {
		t.Fatalf("no knock on the veth while waiting for %s; log:\n%s", wg, d.out.String())
	}

	t0 := time.Now()
	addTun(t, p.router, wg)
	tflag := filepath.Join(dir, "opened-"+tunPeer6)
	el, ok := tunKnockUntilOpen(t, p.router, wg, tunPeer6, tunAddr6, tflag, wait)
	back := time.Since(t0)
	if !ok {
		t.Fatalf("no knock on %s after it appeared; log:\n%s", wg, d.out.String())
	}
	t.Logf("%s: a knock worked %v after the device appeared (%v of knocking)", wg, back.Round(time.Millisecond), el.Round(time.Millisecond))
	if back > 2*time.Second {
		t.Fatalf("took %v after the device appeared, want within 2s", back)
	}
	d.mustSee("device "+wg+" is present", wait)
	os.Remove(vflag)
	if _, ok := vethKnockUntilOpen(t, p, p.raddr4, vflag, wait); !ok {
		t.Fatalf("no knock on the veth after %s appeared; log:\n%s", wg, d.out.String())
	}
	if n := d.count("listening on " + p.rdev + " (index"); n != 1 {
		t.Fatalf("the veth's socket was opened %d times, want 1:\n%s", n, d.out.String())
	}
	if n := d.count("listening on " + wg + " (index"); n != 1 {
		t.Fatalf("%s's socket was opened %d times, want 1:\n%s", wg, n, d.out.String())
	}
}

// A device that goes down and up again, time after time, works again at
// once each time; the other device is not disturbed.
func TestMultiDeviceLinkDownUpRepeated(t *testing.T) {
	r := newMDRig(t)
	dir := t.TempDir()
	d := knockdOn(t, r.router, doorConf(dir, mdSeq, ""), false, []string{r.rdev, r.tun}, "-i", r.rdev, "-i", r.tun)
	tflag := filepath.Join(dir, "opened-"+tunPeer4)
	var times []string
	for i := 0; i < 8; i++ {
		testenv.Run(t, "ip", "-n", r.router, "link", "set", r.tun, "down")
		time.Sleep(50 * time.Millisecond)
		testenv.Run(t, "ip", "-n", r.router, "link", "set", r.tun, "up")
		os.Remove(tflag)
		// IPv4: the kernel drops the tun's IPv6 addresses when it goes down.
		el, ok := tunKnockUntilOpen(t, r.router, r.tun, tunPeer4, tunAddr4, tflag, wait)
		if !ok {
			t.Fatalf("down and up #%d: no knock on the tun within %v; log:\n%s", i+1, wait, d.out.String())
		}
		times = append(times, el.Round(time.Millisecond).String())
		if el > time.Second {
			t.Fatalf("down and up #%d: the tun took %v to work again, want within 1s (times %v); log:\n%s", i+1, el, times, d.out.String())
		}
	}
	t.Logf("time until a knock on the tun worked after each down and up: %v", strings.Join(times, " "))
	vflag := filepath.Join(dir, "opened-"+r.haddr4)
	if _, ok := vethKnockUntilOpen(t, r.pair, r.raddr4, vflag, wait); !ok {
		t.Fatalf("no knock on the veth; log:\n%s", d.out.String())
	}
	if n := d.count("listening on " + r.rdev + " (index"); n != 1 {
		t.Fatalf("the veth's socket was opened %d times, want 1:\n%s", n, d.out.String())
	}
}

// A reload whose configuration lists the running devices in another
// order, or with another device, keeps capturing on the running ones: a
// door limited to one of them still follows the knocks on that one only.
func TestMultiDeviceReloadChangedDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		devs func(r *mdRig) string
	}{
		{"reordered", func(r *mdRig) string { return r.tun + " " + r.rdev }},
		{"device added", func(r *mdRig) string { return r.rdev + " " + testenv.Unique("kx") + " " + r.tun }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMDRig(t)
			dir := t.TempDir()
			path := writeFile(t, "knockd.conf", limitedConf(dir, r.tun, "  interface = "+r.rdev+" "+r.tun+"\n"))
			d := start(t, r.router, bin.knockd, "-c", path, "-v", "-D")
			for _, dev := range []string{r.rdev, r.tun} {
				d.mustSee("listening on "+dev+" (index", wait)
			}
			if err := os.WriteFile(path, []byte(limitedConf(dir, r.tun, "  interface = "+tc.devs(r)+"\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			d.signal(syscall.SIGHUP)
			d.mustSee("need a restart; still listening on ["+r.rdev+" "+r.tun+"]", wait)
			checkLimited(t, r, d, dir)
		})
	}
}
