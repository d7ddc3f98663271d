package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

const wait = 5 * time.Second

// doorConf is a config with one door whose command touches dir/opened-%IP%.
func doorConf(dir, seq, extra string) string {
	return fmt.Sprintf("[options]\n  UseSyslog\n[door]\n  sequence = %s\n  seq_timeout = 5\n  command = touch %s/opened-%%IP%%\n%s", seq, dir, extra)
}

func TestDebianKnockClientOpensKnockdGo(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	for _, tc := range []struct{ name, dst, src string }{
		{"ipv4", p.raddr4, p.haddr4},
		{"ipv6", p.raddr6, p.haddr6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000:udp,9000", "  tcpflags = syn\n"))
			testenv.In(t, p.host, knock, tc.dst, "7000", "8000:udp", "9000")
			if !fileAppears(filepath.Join(dir, "opened-"+tc.src), wait) {
				t.Fatalf("door did not open for %s; log:\n%s", tc.src, d.out.String())
			}
			for _, line := range []string{tc.src + ": door: Stage 1", tc.src + ": door: Stage 3", tc.src + ": door: OPEN SESAME",
				"door: running command: touch " + dir + "/opened-" + tc.src} {
				d.mustSee(line, wait)
			}
		})
	}
}

func TestKnockGoOpensDebianKnockd(t *testing.T) {
	p := newPair(t)
	knockdBin := testenv.NeedBin(t, "knockd")
	for _, tc := range []struct{ name, dst, src string }{
		{"ipv4", p.raddr4, p.haddr4},
		{"ipv6", p.raddr6, p.haddr6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := writeFile(t, "knockd.conf", doorConf(dir, "7100,8100:udp,9100", "  tcpflags = syn\n"))
			d := start(t, p.router, knockdBin, "-i", p.rdev, "-c", conf, "-v")
			d.mustSee("listening on", wait)
			// knockd prints "listening" before libpcap has its filter in
			// place: knock again (a whole sequence) if the first was early.
			opened := false
			for try := 0; try < 3 && !opened; try++ {
				time.Sleep(300 * time.Millisecond)
				testenv.In(t, p.host, bin.knock, "-v", tc.dst, "7100", "8100:UDP", "9100:tcp")
				opened = fileAppears(filepath.Join(dir, "opened-"+tc.src), 2*time.Second)
			}
			if !opened {
				t.Fatalf("Debian knockd did not open for %s; log:\n%s", tc.src, d.out.String())
			}
		})
	}
}

func TestTunLinkWithoutEthernetHeader(t *testing.T) {
	needBinaries(t)
	ns := testenv.NetNS(t, "kt")
	dev := "ktun0"
	testenv.Run(t, "ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tun")
	testenv.Run(t, "ip", "-n", ns, "addr", "add", "10.78.0.1/24", "dev", dev)
	testenv.Run(t, "ip", "-n", ns, "addr", "add", "fd78::1/64", "dev", dev, "nodad")
	testenv.Run(t, "ip", "-n", ns, "link", "set", dev, "up")
	dir := t.TempDir()
	d := knockd(t, ns, dev, doorConf(dir, "7000,8000:udp,9000", ""))
	for _, fam := range []struct{ src, dst string }{{"10.78.0.2", "10.78.0.1"}, {"fd78::2", "fd78::1"}} {
		s, dst := netip.MustParseAddr(fam.src), netip.MustParseAddr(fam.dst)
		var pkts [][]byte
		if s.Is4() {
			pkts = [][]byte{pktbuild.TCP4(s, dst, 40000, 7000, 0x02), pktbuild.UDP4(s, dst, 40001, 8000, []byte{0}), pktbuild.TCP4(s, dst, 40002, 9000, 0x02)}
		} else {
			pkts = [][]byte{pktbuild.TCP6(s, dst, 40000, 7000, 0x02), pktbuild.UDP6(s, dst, 40001, 8000, []byte{0}), pktbuild.TCP6(s, dst, 40002, 9000, 0x02)}
		}
		tunInject(t, ns, dev, pkts...)
		if !fileAppears(filepath.Join(dir, "opened-"+fam.src), wait) {
			t.Fatalf("no door over tun for %s; log:\n%s", fam.src, d.out.String())
		}
	}
}

func TestVLANSubinterface(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	rv, hv := p.rdev+".7", p.hdev+".7"
	if len(rv) > 15 {
		rv, hv = "kvr7", "kvh7"
	}
	if out, err := testenv.Output("ip", "-n", p.router, "link", "add", "link", p.rdev, "name", rv, "type", "vlan", "id", "7"); err != nil {
		if strings.Contains(out, "Unknown device type") {
			// A kernel limit, not a missing tool: skip even in strict mode.
			t.Skipf("this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q): %s", strings.TrimSpace(out))
		}
		t.Fatalf("add VLAN device: %v\n%s", err, out)
	}
	testenv.Run(t, "ip", "-n", p.host, "link", "add", "link", p.hdev, "name", hv, "type", "vlan", "id", "7")
	testenv.Run(t, "ip", "-n", p.router, "addr", "add", "10.79.0.1/24", "dev", rv)
	testenv.Run(t, "ip", "-n", p.host, "addr", "add", "10.79.0.2/24", "dev", hv)
	testenv.Run(t, "ip", "-n", p.router, "link", "set", rv, "up")
	testenv.Run(t, "ip", "-n", p.host, "link", "set", hv, "up")
	dir := t.TempDir()
	d := knockd(t, p.router, rv, doorConf(dir, "7000,8000:udp,9000", ""))
	testenv.In(t, p.host, knock, "10.79.0.1", "7000", "8000:udp", "9000")
	if !fileAppears(filepath.Join(dir, "opened-10.79.0.2"), wait) {
		t.Fatalf("no door through VLAN; log:\n%s", d.out.String())
	}
}

func TestForeignDestinationAndAddressChange(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000,9000", ""))
	src := netip.MustParseAddr(p.haddr4)
	foreign := netip.MustParseAddr("10.77.0.99")
	inject(t, p.host, p.hdev, p.rmac,
		pktbuild.TCP4(src, foreign, 40000, 7000, 0x02),
		pktbuild.TCP4(src, foreign, 40001, 8000, 0x02),
		pktbuild.TCP4(src, foreign, 40002, 9000, 0x02))
	// The packets reached the socket (debug line) but opened nothing.
	d.mustSee("10.77.0.99:9000", wait)
	if d.count("OPEN SESAME") != 0 {
		t.Fatalf("a knock to a foreign address opened the door:\n%s", d.out.String())
	}
	// Renumber the device: the old address stops working, the new one works.
	testenv.Run(t, "ip", "-n", p.router, "addr", "del", p.raddr4+"/24", "dev", p.rdev)
	testenv.Run(t, "ip", "-n", p.router, "addr", "add", "10.77.0.50/24", "dev", p.rdev)
	d.mustSee("local IP: 10.77.0.50", wait)
	testenv.In(t, p.host, knock, "10.77.0.50", "7000", "8000", "9000")
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("knock to the new address failed:\n%s", d.out.String())
	}
}

func TestWrongFlagsIgnored(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000,9000", "  tcpflags = syn,!ack\n"))
	s, dst := netip.MustParseAddr(p.haddr4), netip.MustParseAddr(p.raddr4)
	inject(t, p.host, p.hdev, p.rmac,
		pktbuild.TCP4(s, dst, 40000, 7000, 0x02),
		pktbuild.TCP4(s, dst, 40001, 8000, 0x12), // SYN+ACK: ignored, not breaking
		pktbuild.TCP4(s, dst, 40002, 8000, 0x10), // ACK: ignored
		pktbuild.TCP4(s, dst, 40003, 8000, 0x02),
		pktbuild.TCP4(s, dst, 40004, 9000, 0x02))
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("flag-mismatched packets broke the sequence:\n%s", d.out.String())
	}
}

func TestDuplicateKnocksAndStrict(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := fmt.Sprintf(`[loose]
  sequence = 4,2012,3
  command = touch %[1]s/loose-%%IP%%
[strict]
  sequence = 5,2013,6
  duplicate_knocks = strict
  command = touch %[1]s/strict-%%IP%%
`, dir)
	d := knockd(t, p.router, p.rdev, conf)
	// telnet-style: every knock three times.
	testenv.In(t, p.host, knock, p.raddr4, "4", "4", "4", "2012", "2012", "2012", "3", "3", "3")
	testenv.In(t, p.host, knock, p.raddr4, "5", "5", "5", "2013", "2013", "2013", "6", "6", "6")
	if !fileAppears(filepath.Join(dir, "loose-"+p.haddr4), wait) {
		t.Fatalf("repeated knocks broke a default door:\n%s", d.out.String())
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "strict-"+p.haddr4)); err == nil {
		t.Fatalf("a strict door accepted repeated knocks:\n%s", d.out.String())
	}
}

func TestSequenceTimeoutOnTime(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, fmt.Sprintf("[door]\n  sequence = 7000,8000\n  seq_timeout = 1\n  command = touch %s/x\n"+
		"[long]\n  sequence = 7100,7200\n  seq_timeout = 60\n  command = true\n", dir))
	within := func(what string, t0 time.Time, limit time.Duration) {
		t.Helper()
		d.mustSee(what, limit+time.Second)
		if el := time.Since(t0); el > limit {
			t.Fatalf("%q logged after %v, want within %v", what, el, limit)
		}
	}
	// knockd 0.8 logged a timeout only at that source's next packet,
	// possibly hours later. knockd-go's expiry loop logs it: the first
	// knock waits up to a second in the ring (its deadline starts when it
	// is read) and times out a second later.
	t0 := time.Now()
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	within(p.haddr4+": door: sequence timeout (stage 1)", t0, 3*time.Second)
	// The loop then sleeps 10 s; meanwhile the next batch of packets, from
	// any source, expires what is due: IPv6's attempt with IPv4's knock
	// 2.5 s later, read within a second.
	testenv.In(t, p.host, knock, p.raddr6, "7000")
	time.Sleep(2500 * time.Millisecond)
	t1 := time.Now()
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	within(p.haddr6+": door: sequence timeout (stage 1)", t1, 1500*time.Millisecond)
	// The last attempt's timeout: the loop's, 10 s after its first
	// wake-up (at most 2 s after t0).
	line4 := p.haddr4 + ": door: sequence timeout (stage 1)"
	if n := d.count(line4); n != 1 {
		t.Fatalf("%d timeouts of %s before the loop's next wake-up, want 1", n, p.haddr4)
	}
	nth := func(n int, since time.Time, limit time.Duration) {
		t.Helper()
		if !testenv.Eventually(limit+2*time.Second, func() bool { return d.count(line4) == n }) {
			t.Fatalf("timeout %d of %s not logged; output:\n%s", n, p.haddr4, d.out.String())
		}
		if el := time.Since(since); el > limit {
			t.Fatalf("timeout %d of %s logged after %v, want within %v", n, p.haddr4, el, limit)
		}
	}
	nth(2, t0, 13500*time.Millisecond)
	// A door with a longer timeout does not hold a shorter one's back: the
	// loop, set for the long door's deadline a minute on (once the knock
	// has left the ring, within a second), still wakes within 10 s.
	testenv.In(t, p.host, knock, p.raddr6, "7100")
	time.Sleep(1500 * time.Millisecond)
	t2 := time.Now()
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	nth(3, t2, 11500*time.Millisecond)
	// After the timeout the second knock alone opens nothing.
	testenv.In(t, p.host, knock, p.raddr4, "8000")
	time.Sleep(200 * time.Millisecond)
	if d.count("OPEN SESAME") != 0 {
		t.Fatal("opened after timeout")
	}
}

func TestOneTimeSequences(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	otp := writeFile(t, "otp", "# one-time sequences\n 1001,1002\n 2001,2002:udp\n")
	d := knockd(t, p.router, p.rdev, fmt.Sprintf("[otp]\n  one_time_sequences = %s\n  command = touch %s/opened-%%IP%%\n", otp, dir))
	testenv.In(t, p.host, knock, p.raddr4, "1001", "1002")
	d.mustSee("otp: OPEN SESAME", wait)
	// The door closes at once; the sequence is marked off the packet
	// path (through the spawner: the daemon's user cannot write the file).
	var b []byte
	if !testenv.Eventually(wait, func() bool { b, _ = os.ReadFile(otp); return strings.Contains(string(b), "\n#1001,1002\n") }) {
		t.Fatalf("used sequence not marked with #:\n%s", b)
	}
	// The used sequence no longer works; the next one does.
	testenv.In(t, p.host, knock, p.raddr4, "1001", "1002")
	testenv.In(t, p.host, knock, p.raddr4, "2001", "2002:udp")
	if !testenv.Eventually(wait, func() bool { return d.count("otp: OPEN SESAME") == 2 }) {
		t.Fatalf("second one-time sequence did not open:\n%s", d.out.String())
	}
	if n := d.count("otp: OPEN SESAME"); n != 2 {
		t.Fatalf("OPEN SESAME %d times, want 2 (used sequence replayed?)", n)
	}
	d.mustSee("no more sequences left in the one time sequences file for door otp --> disabling the door", wait)
}

func TestReloadKeepsConfigOnError(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	os.WriteFile(conf, []byte(doorConf(dir, "7000,8000", "")), 0o644)
	d := start(t, p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-v", "-D")
	d.mustSee("listening on", wait)
	os.WriteFile(conf, []byte("[door]\n  sequence = 7000,\n  bogus = 1\n"), 0o644)
	for i := 0; i < 20; i++ { // a storm of SIGHUPs
		d.signal(syscall.SIGHUP)
	}
	d.mustSee(conf+":3: door \"door\": bogus: unknown directive in door", wait)
	d.mustSee("keeping the running configuration", wait)
	testenv.In(t, p.host, knock, p.raddr4, "7000", "8000")
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("old config lost after a bad reload:\n%s", d.out.String())
	}
	os.WriteFile(conf, []byte(doorConf(dir, "7500,8500", "")), 0o644)
	d.signal(syscall.SIGHUP)
	d.mustSee("filter accepts: tcp/7500 tcp/8500", wait)
	os.Remove(filepath.Join(dir, "opened-"+p.haddr4))
	testenv.In(t, p.host, knock, p.raddr4, "7500", "8500")
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("new config not used after reload:\n%s", d.out.String())
	}
}

func TestStopCommandsRunAtShutdown(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := fmt.Sprintf("[door]\n  sequence = 7000\n  start_command = touch %[1]s/start-%%IP%%\n  cmd_timeout = 3600\n  stop_command = touch %[1]s/stop-%%IP%%\n", dir)
	d := knockd(t, p.router, p.rdev, conf)
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	if !fileAppears(filepath.Join(dir, "start-"+p.haddr4), wait) {
		t.Fatalf("start command did not run:\n%s", d.out.String())
	}
	d.stop(10 * time.Second)
	if _, err := os.Stat(filepath.Join(dir, "stop-"+p.haddr4)); err != nil {
		t.Fatalf("pending stop command did not run at shutdown: %v\n%s", err, d.out.String())
	}
	if !strings.Contains(d.out.String(), "shutting down") {
		t.Fatalf("no shutdown line:\n%s", d.out.String())
	}
}

func TestDaemonModePidfileAndLogfile(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := writeFile(t, "knockd.conf", doorConf(dir, "7000,8000", ""))
	pidfile, logfile := filepath.Join(dir, "knockd.pid"), filepath.Join(dir, "knockd.log")
	ownPaths(t, []string{"-c", conf}, false)
	testenv.In(t, p.router, bin.knockd, "-d", "-i", p.rdev, "-c", conf, "-p", pidfile, "-g", logfile)
	var pid int
	if !testenv.Eventually(wait, func() bool {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil && pid > 0
	}) {
		t.Fatal("no pid file from knockd -d")
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !testenv.Eventually(wait, func() bool { b, _ := os.ReadFile(logfile); return strings.Contains(string(b), "starting up") }) {
		t.Fatal("no startup line in the log file")
	}
	testenv.In(t, p.host, knock, p.raddr4, "7000", "8000")
	if !testenv.Eventually(wait, func() bool {
		b, _ := os.ReadFile(logfile)
		return strings.Contains(string(b), "] "+p.haddr4+": door: OPEN SESAME")
	}) {
		b, _ := os.ReadFile(logfile)
		t.Fatalf("log file lacks OPEN SESAME:\n%s", b)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !testenv.Eventually(wait, func() bool { _, err := os.Stat(pidfile); return os.IsNotExist(err) }) {
		t.Fatal("pid file not removed at exit")
	}
}

// TestVLANTaggedFrames sends knocks in 802.1Q-tagged frames to a device:
// the kernel strips the tag before the cooked socket, so the IP header is
// at offset 0 as on any other link (knockd 0.8 dropped such frames). It
// runs on every kernel, also those without VLAN sub-interfaces.
func TestVLANTaggedFrames(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000:udp,9000", ""))
	hmac := macOf(t, p.host, p.hdev)
	src, dst := netip.MustParseAddr(p.haddr4), netip.MustParseAddr(p.raddr4)
	tag := func(ip []byte) []byte {
		f := append([]byte{}, p.rmac...)
		f = append(f, hmac...)
		f = append(f, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00) // VLAN 7, then IPv4
		return append(f, ip...)
	}
	injectRaw(t, p.host, p.hdev,
		tag(pktbuild.TCP4(src, dst, 40000, 7000, 0x02)),
		tag(pktbuild.UDP4(src, dst, 40001, 8000, []byte{0})),
		tag(pktbuild.TCP4(src, dst, 40002, 9000, 0x02)))
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("knock in VLAN-tagged frames did not open:\n%s", d.out.String())
	}
}

func TestOnlyIPv4Flag(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	d := knockd(t, p.router, p.rdev, doorConf(dir, "7000,8000", ""), "-4")
	testenv.In(t, p.host, knock, p.raddr6, "7000", "8000")
	testenv.In(t, p.host, knock, p.raddr4, "7000", "8000")
	if !fileAppears(filepath.Join(dir, "opened-"+p.haddr4), wait) {
		t.Fatalf("IPv4 knock failed with -4:\n%s", d.out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "opened-"+p.haddr6)); err == nil || strings.Contains(d.out.String(), p.haddr6+": door") {
		t.Fatalf("IPv6 knock tracked despite -4:\n%s", d.out.String())
	}
}
