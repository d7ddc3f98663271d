package e2e

import (
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

// TestOneTimeSequencesOfDifferentLengths is the remote crash of one-time
// sequences whose lines differ in length: A at stage 3 of the first
// sequence, B completes it, A knocks on. The daemon must stay up and A's
// next sequence work. (knockd-go before the compiled doors panicked:
// "index out of range [3] with length 2".)
func TestOneTimeSequencesOfDifferentLengths(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	otp := writeFile(t, "otp", "1000,2000,3000,4000\n5000,6000\n")
	os.Chmod(otp, 0o600)
	d := knockd(t, p.router, p.rdev, fmt.Sprintf("[otp]\n  one_time_sequences = %s\n  command = touch %s/opened-%%IP%%\n", otp, dir))
	a, b := netip.MustParseAddr(p.haddr4), netip.MustParseAddr("10.77.0.3")
	dst := netip.MustParseAddr(p.raddr4)
	knocks := func(src netip.Addr, ports ...uint16) [][]byte {
		var out [][]byte
		for i, port := range ports {
			out = append(out, pktbuild.TCP4(src, dst, uint16(40000+i), port, 0x02))
		}
		return out
	}
	inject(t, p.host, p.hdev, p.rmac, knocks(a, 1000, 2000, 3000)...)
	d.mustSee("10.77.0.2: otp: Stage 3", wait)
	inject(t, p.host, p.hdev, p.rmac, knocks(b, 1000, 2000, 3000, 4000)...)
	d.mustSee("10.77.0.3: otp: OPEN SESAME", wait)
	time.Sleep(200 * time.Millisecond) // the next sequence is installed
	inject(t, p.host, p.hdev, p.rmac, knocks(a, 4000, 5000, 6000)...)
	d.mustSee("10.77.0.2: otp: OPEN SESAME", wait)
	select {
	case <-d.done:
		t.Fatalf("knockd exited:\n%s", d.out.String())
	default:
	}
	if strings.Contains(d.out.String(), "panic") {
		t.Fatalf("panicked:\n%s", d.out.String())
	}
}

// daemonMode runs knockd -d in ns and returns its exit code and output.
func daemonMode(t *testing.T, ns string, env []string, args ...string) (int, string) {
	t.Helper()
	ownPaths(t, args, false)
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, bin.knockd, "-d"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestDaemonModeReportsFailures: knockd -d exits 0 only when the daemon
// serves; otherwise non-zero with the daemon's reason.
func TestDaemonModeReportsFailures(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	conf := writeFile(t, "knockd.conf", "[d]\n  sequence = 7000,8000\n  open = tcp/22\n")
	fwconf := writeFile(t, "fw.conf", "[options]\n  firewall = iptables\n[d]\n  sequence = 7000,8000\n  open = tcp/22\n")
	// The daemon's user (not root) must find the programs there.
	broken := filepath.Join(testenv.SharedDir(t), "bin")
	os.Mkdir(broken, 0o755)
	for _, b := range []string{"iptables", "ip6tables"} {
		os.WriteFile(filepath.Join(broken, b), []byte("#!/bin/sh\necho \"$0: cannot initialize the table\" >&2\nexit 3\n"), 0o755)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unwritable log", nil, []string{"-i", p.rdev, "-c", conf, "-g", "/nonexistent/dir/knockd.log", "-p", filepath.Join(dir, "1.pid")},
			"knockd: log file /nonexistent/dir/knockd.log: no such file or directory"},
		{"bad pid file", nil, []string{"-i", p.rdev, "-c", conf, "-p", "/nonexistent/dir/knockd.pid"},
			"knockd: pid file: open /nonexistent/dir/knockd.pid: no such file or directory"},
		{"broken firewall", []string{"PATH=" + broken + ":/usr/sbin:/usr/bin:/sbin:/bin"},
			[]string{"-i", p.rdev, "-c", fwconf, "-p", filepath.Join(dir, "3.pid")}, "knockd: firewall: iptables: "},
	}
	for _, tt := range tests {
		code, out := daemonMode(t, p.router, tt.env, tt.args...)
		if code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d, output %q; want non-zero and %q", tt.name, code, out, tt.want)
		}
	}
	for _, c := range []string{conf, fwconf} {
		if out, _ := exec.Command("pgrep", "-f", c).Output(); len(out) > 0 {
			t.Fatalf("a failed daemon is still running: %s", out)
		}
	}
}

// TestDaemonModeAbsentDevice: a WAN device that does not exist yet is
// legitimate: knockd -d exits 0, and knocks work once it appears.
func TestDaemonModeAbsentDevice(t *testing.T) {
	needBinaries(t)
	router := testenv.NetNS(t, "kr")
	host := testenv.NetNS(t, "kh")
	dir := t.TempDir()
	dev := testenv.Unique("vz")
	pidfile := filepath.Join(dir, "knockd.pid")
	conf := writeFile(t, "knockd.conf", fmt.Sprintf("[d]\n  sequence = 7000,8000\n  command = touch %s/opened-%%IP%%\n", dir))
	code, out := daemonMode(t, router, nil, "-i", dev, "-c", conf, "-p", pidfile, "-g", filepath.Join(dir, "log"))
	if code != 0 {
		t.Fatalf("knockd -d with an absent device: exit %d: %s", code, out)
	}
	b, _ := os.ReadFile(pidfile)
	var pid int
	fmt.Sscan(string(b), &pid)
	if pid <= 0 {
		t.Fatalf("no pid file: %q", b)
	}
	// Before the temporary directory goes (cleanups run last first): the
	// daemon's spawner outlives it for a moment (it removes the pid
	// file) and a door command may still run (it creates a file there),
	// so the directory is removed once nothing runs in the namespace.
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGTERM)
		if !testenv.Eventually(10*time.Second, func() bool {
			out, err := testenv.Output("ip", "netns", "pids", router)
			return err == nil && strings.TrimSpace(out) == ""
		}) {
			out, _ := testenv.Output("ip", "netns", "pids", router)
			for _, p := range strings.Fields(out) {
				testenv.Output("kill", "-9", p)
			}
			t.Errorf("still running in the namespace 10 s after SIGTERM: %s", out)
		}
	})
	hdev := testenv.Unique("vh")
	testenv.Run(t, "ip", "link", "add", dev, "netns", router, "type", "veth", "peer", "name", hdev, "netns", host)
	testenv.In(t, router, "ip", "addr", "add", "10.79.0.1/24", "dev", dev)
	testenv.In(t, router, "ip", "link", "set", dev, "up")
	testenv.In(t, host, "ip", "addr", "add", "10.79.0.2/24", "dev", hdev)
	testenv.In(t, host, "ip", "link", "set", hdev, "up")
	if !testenv.Eventually(wait, func() bool {
		testenv.In(t, host, bin.knock, "10.79.0.1", "7000", "8000")
		_, err := os.Stat(filepath.Join(dir, "opened-10.79.0.2"))
		return err == nil
	}) {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("no success once the device appeared:\n%s", b)
	}
}

// TestReloadsKeepKnocksInProgress: a knock in progress survives a
// firewall reload (SIGUSR2) and a SIGHUP that changes another door; a
// sendmail changed by SIGHUP takes effect.
func TestReloadsKeepKnocksInProgress(t *testing.T) {
	p := newPair(t)
	dir := testenv.SharedDir(t) // sendmail runs as nobody
	for _, n := range []string{"a", "b"} {
		os.WriteFile(filepath.Join(dir, n), []byte(fmt.Sprintf("#!/bin/sh\necho \"$@\" > %[1]s/%[2]s.tmp.$$\ncat >/dev/null\nmv %[1]s/%[2]s.tmp.$$ %[1]s/%[2]s.argv\n", dir, n)), 0o755)
	}
	conf := func(sendmail, other string) string {
		return fmt.Sprintf("[options]\n  sendmail = %s/%s\n[keep]\n  sequence = 7000,8000,9000\n  seq_timeout = 60\n  notify = root@localhost\n  command = true\n[other]\n  sequence = %s\n", dir, sendmail, other)
	}
	path := writeFile(t, "knockd.conf", conf("a", "1000,2000"))
	d := start(t, p.router, bin.knockd, "-i", p.rdev, "-c", path, "-v", "-D")
	d.mustSee("listening on", wait)
	testenv.In(t, p.host, bin.knock, p.raddr4, "7000", "8000")
	d.mustSee("10.77.0.2: keep: Stage 2", wait)
	d.signal(syscall.SIGUSR2) // the firewall hook
	os.WriteFile(path, []byte(conf("b", "1000,3000")), 0o644)
	d.signal(syscall.SIGHUP)
	d.mustSee("filter accepts: tcp/7000 tcp/8000 tcp/9000 tcp/1000 tcp/3000", wait)
	testenv.In(t, p.host, bin.knock, p.raddr4, "9000")
	d.mustSee("10.77.0.2: keep: OPEN SESAME", wait)
	if !fileAppears(filepath.Join(dir, "b.argv"), wait) {
		t.Fatalf("the new sendmail was not used:\n%s", d.out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "a.argv")); err == nil {
		t.Fatal("the old sendmail was used after the reload")
	}
}
