package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/spa"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

const rotSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"

// TestRotatingKnockSniffedAndReplayed: the owner's rotating knock (knock
// --secret) opens; the same ports sent again from another address (an
// attacker who saw them) open nothing; the owner's next knock, in the next
// step, opens again.
func TestRotatingKnockSniffedAndReplayed(t *testing.T) {
	r := newRouter(t, "")
	dir := t.TempDir()
	d := knockd(t, r.router, r.rdev, fmt.Sprintf("[rot]\n  sequence_secret = %s\n  sequence_step = 5\n  command = touch %s/opened-%%IP%%\n", rotSecret, dir))
	// Knock early in a step, so that the replay below falls in the same one.
	p := rotate.Default([]byte("12345678901234567890"))
	p.Step = 5 * time.Second
	time.Sleep(time.Until(p.Start(p.Counter(time.Now()) + 1).Add(100 * time.Millisecond)))
	c := p.Counter(time.Now())
	testenv.In(t, r.host, bin.knock, "--secret", rotSecret, "--step", "5", r.raddr4)
	if !fileAppears(filepath.Join(dir, "opened-"+r.a), wait) {
		t.Fatalf("the owner's rotating knock did not open:\n%s", d.out.String())
	}
	// The attacker replays what they saw, from their own address.
	r.injectSYNs(t, r.b, r.raddr4, 41000, p.Sequence(c))
	// The burnt sequence's ports left the kernel filter: the replay does
	// not even reach the daemon.
	time.Sleep(500 * time.Millisecond)
	if fileAppears(filepath.Join(dir, "opened-"+r.b), 0) || d.count(r.b+": rot: OPEN SESAME") != 0 {
		t.Fatalf("the replayed knock opened:\n%s", d.out.String())
	}
	// The owner's next knock, in the next step.
	os.Remove(filepath.Join(dir, "opened-"+r.a))
	time.Sleep(time.Until(p.Start(c + 1).Add(100 * time.Millisecond)))
	testenv.In(t, r.host, bin.knock, "--secret", rotSecret, "--step", "5", r.raddr4)
	if !fileAppears(filepath.Join(dir, "opened-"+r.a), wait) {
		t.Fatalf("the owner's next knock did not open:\n%s", d.out.String())
	}
}

// TestSPAReplayAfterRestart: a packet accepted before a restart is refused
// after it (the replay cache is kept in a file).
func TestSPAReplayAfterRestart(t *testing.T) {
	r := newRouter(t, "")
	dir := t.TempDir()
	replay := filepath.Join(dir, "replay")
	conf := spaConf("none", 3) + "    start_command = touch " + dir + "/opened-%IP%\n"
	conf = strings.Replace(conf, "[options]\n", "[options]\n    spa_replay_file = "+replay+"\n", 1)
	d := knockd(t, r.router, r.rdev, conf)
	f := filepath.Join(dir, "pkt")
	fwknop(t, r.host, r.raddr4, f, nil, "-A", "tcp/2222", "-a", r.a)
	pkt, _ := os.ReadFile(f)
	src, dst := netip.MustParseAddr(r.a), netip.MustParseAddr(r.raddr4)
	send := func() { inject(t, r.host, r.hdev, r.rmac, pktbuild.UDP4(src, dst, 40000, 62201, bytes.TrimSpace(pkt))) }
	send()
	d.mustSee(r.a+": spa: OPEN SESAME", wait)
	d.stop(10 * time.Second)
	if fi, err := os.Lstat(replay); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("replay file: %v %v", fi, err)
	}
	d2 := knockd(t, r.router, r.rdev, conf)
	send()
	d2.mustSee(r.a+": spa: SPA packet rejected: replayed packet", wait)
	if d2.count("OPEN SESAME") != 0 {
		t.Fatalf("the replay opened after a restart:\n%s", d2.out.String())
	}
}

// TestMappedSourceIgnored: a knock from an IPv4-mapped IPv6 address is
// ignored, not granted as the IPv4 address it names.
func TestMappedSourceIgnored(t *testing.T) {
	r := newRouter(t, "")
	dir := t.TempDir()
	d := knockd(t, r.router, r.rdev, fmt.Sprintf("[d]\n  sequence = 7000,8000\n  command = touch %s/opened-%%IP%%\n", dir))
	src, dst := netip.MustParseAddr("::ffff:"+r.a), netip.MustParseAddr(r.raddr6)
	inject(t, r.host, r.hdev, r.rmac, pktbuild.TCP6(src, dst, 40000, 7000, pktbuild.SYN), pktbuild.TCP6(src, dst, 40001, 8000, pktbuild.SYN))
	d.mustSee("[::ffff:"+r.a+"]:40001 -> [fd77::1]:8000", wait)
	d.signal(syscall.SIGUSR1)
	d.mustSee("ignored sources 2,", wait)
	if fileAppears(filepath.Join(dir, "opened-"+r.a), 200*time.Millisecond) || d.count("OPEN SESAME") != 0 {
		t.Fatalf("a mapped source opened:\n%s", d.out.String())
	}
}

// TestFilesNotFollowed: a log file that is a symbolic link, and a
// one-time sequences file others can write, are refused.
func TestFilesNotFollowed(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "passwd-like")
	os.WriteFile(target, []byte("keep\n"), 0o644)
	link := filepath.Join(dir, "knockd.log")
	os.Symlink(target, link)
	conf := writeFile(t, "knockd.conf", "[d]\n  sequence = 7000\n  command = true\n")
	ownPaths(t, []string{"-c", conf}, false)
	out, err := testenv.InOutput(p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-g", link)
	if err == nil || !strings.Contains(out, "log file "+link+": is a symbolic link, refused") {
		t.Fatalf("symlinked log file: %v %s", err, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Fatalf("the link's target was written: %q", b)
	}
	otp := filepath.Join(dir, "otp")
	os.WriteFile(otp, []byte("1000,2000\n"), 0o666)
	os.Chmod(otp, 0o666)
	conf = writeFile(t, "otp.conf", "[o]\n  one_time_sequences = "+otp+"\n")
	out, err = testenv.InOutput(p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-k")
	if err == nil || !strings.Contains(out, "is writable by group or others") {
		t.Fatalf("one-time file writable by others: %v %s", err, out)
	}
}

// TestSPACommandControlBytes: an SPA command message holding a newline is
// refused (it would reach /bin/sh and forge a log line).
func TestSPACommandControlBytes(t *testing.T) {
	r := newRouter(t, "")
	dir := t.TempDir()
	conf := spaConf("none", 3) + "    spa_allow_commands = yes\n"
	d := knockd(t, r.router, r.rdev, conf)
	k, _ := spa.DecodeKey(spaKey)
	h, _ := spa.DecodeKey(spaHMAC)
	src, dst := netip.MustParseAddr(r.a), netip.MustParseAddr(r.raddr4)
	pkt, err := spa.Encode(&spa.Message{User: "u", Timestamp: time.Now(), Addr: src,
		Command: "touch " + dir + "/ran\n1.2.3.4: spa: OPEN SESAME"}, spa.Keys{Rijndael: k, HMAC: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inject(t, r.host, r.hdev, r.rmac, pktbuild.UDP4(src, dst, 40000, 62201, pkt))
	d.mustSee("command message with control character 0x0a refused", wait)
	if fileAppears(filepath.Join(dir, "ran"), 200*time.Millisecond) || d.count("OPEN SESAME") != 0 {
		t.Fatalf("the command ran:\n%s", d.out.String())
	}
}

// TestSPAMaxTimeoutIsTheDuration: fwknop -f 65535 against a 30 s door
// gets 30 s, the documented default of spa_max_timeout.
func TestSPAMaxTimeoutIsTheDuration(t *testing.T) {
	ipt := testenv.NeedBin(t, "iptables-legacy")
	r := newRouter(t, ipt)
	d := knockd(t, r.router, r.rdev, spaConf("iptables-legacy", 30))
	t0 := time.Now()
	fwknop(t, r.host, r.raddr4, "", nil, "-A", "tcp/2222", "-a", r.a, "-f", "65535")
	d.mustSee(r.a+": spa: opened tcp/2222 until ", wait)
	line := d.out.String()[strings.Index(d.out.String(), r.a+": spa: opened tcp/2222 until "):]
	until, err := time.ParseInLocation("15:04:05", strings.TrimSpace(strings.SplitN(line[len(r.a+": spa: opened tcp/2222 until "):], "\n", 2)[0]), time.Local)
	if err != nil {
		t.Fatal(err)
	}
	until = time.Date(t0.Year(), t0.Month(), t0.Day(), until.Hour(), until.Minute(), until.Second(), 0, time.Local)
	if d := until.Sub(t0); d < 25*time.Second || d > 35*time.Second {
		t.Fatalf("granted for %v, want the door's 30 s", d)
	}
}

// TestLeastPrivilege: the daemon keeps net_raw and net_admin and
// nothing else, in its bounding set too; the sendmail program runs as
// root's uid without any capability (OpenWrt's msmtp and ssmtp read a
// 0600 configuration of root's), or as sendmail_user with
// no_new_privs; a command runs as command_user.
func TestLeastPrivilege(t *testing.T) {
	for _, tc := range []struct {
		name, user, uid string
	}{
		{"default", "", "0"},
		{"sendmail_user", "  sendmail_user = nobody\n", "65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(t, "")
			dir := testenv.SharedDir(t)
			mail := filepath.Join(dir, "sendmail")
			os.WriteFile(mail, []byte("#!/bin/sh\ncat >/dev/null\n{ id -u; grep -E 'NoNewPrivs|CapEff' /proc/self/status; } > "+dir+"/mail.tmp\nmv "+dir+"/mail.tmp "+dir+"/mail\n"), 0o755)
			conf := fmt.Sprintf("[options]\n  sendmail = %s\n%s  command_user = nobody\n[d]\n  sequence = 7000,8000\n  notify = root@localhost\n  command = /bin/sh -c 'id -u > %s/cmd.tmp; mv %s/cmd.tmp %s/cmd'\n", mail, tc.user, dir, dir, dir)
			d := knockd(t, r.router, r.rdev, conf)
			// Capabilities are dropped once every device is captured on, after
			// the "listening on" line knockd waits for.
			d.mustSee("capabilities kept:", wait)
			status := daemonCaps(t, d.daemonPid(t))
			t.Logf("daemon: %s; %s; %s", grepLines(status, "Uid"), grepLines(status, "Cap"), grepLines(status, "NoNewPrivs"))
			daemonNamed(t, d.daemonPid(t))
			testenv.In(t, r.host, bin.knock, r.raddr4, "7000", "8000")
			if !fileAppears(filepath.Join(dir, "mail"), wait) || !fileAppears(filepath.Join(dir, "cmd"), wait) {
				t.Fatalf("no mail or no command:\n%s", d.out.String())
			}
			m, _ := os.ReadFile(filepath.Join(dir, "mail"))
			if !strings.HasPrefix(string(m), tc.uid+"\n") || !strings.Contains(string(m), "NoNewPrivs:\t1") || !strings.Contains(string(m), "CapEff:\t0000000000000000") {
				t.Fatalf("sendmail ran as:\n%s", m)
			}
			t.Logf("sendmail: %s", strings.ReplaceAll(strings.TrimSpace(string(m)), "\n", "; "))
			c, _ := os.ReadFile(filepath.Join(dir, "cmd"))
			if string(c) != "65534\n" {
				t.Fatalf("the command ran as uid %q", c)
			}
		})
	}
}

// daemonCaps fails the test unless the effective, permitted, bounding
// and ambient capability sets of the process pid are net_admin (12) and
// net_raw (13) alone, with no_new_privs, and its uids are not root's; it
// returns the process's status.
func daemonCaps(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if !strings.Contains(string(status), set+":\t0000000000003000\n") {
			t.Fatalf("the daemon's %s is not net_raw and net_admin alone:\n%s", set, status)
		}
	}
	if !strings.Contains(string(status), "NoNewPrivs:\t1\n") {
		t.Fatalf("the daemon has no no_new_privs:\n%s", status)
	}
	// It runs as an unprivileged user (knockd, else nobody), its two
	// capabilities ambient: it owns no file of root's, and with neither
	// uid 0 nor dac_override it cannot write one.
	uids := strings.Fields(statusLine(string(status), "Uid"))
	if len(uids) != 4 || slices.Contains(uids, "0") || !strings.Contains(string(status), "CapAmb:\t0000000000003000\n") {
		t.Fatalf("the daemon does not run as a user other than root with net_raw and net_admin ambient:\n%s", status)
	}
	return string(status)
}

// daemonNamed fails the test unless every thread of process pid is named
// after the program (ps, top, pidof and the kernel's messages show that
// name): giving up root's privileges executes the daemon again through
// /proc/self/exe, which the kernel would name "exe".
func daemonNamed(t *testing.T, pid int) {
	t.Helper()
	want := filepath.Base(bin.knockd)
	if len(want) > 15 {
		want = want[:15] // TASK_COMM_LEN
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		comm, err := os.ReadFile(filepath.Join(dir, task.Name(), "comm"))
		if err != nil {
			continue // the thread ended
		}
		if got := strings.TrimSpace(string(comm)); got != want {
			t.Fatalf("thread %s of the daemon is named %q, want %q (%d threads)", task.Name(), got, want, len(tasks))
		}
	}
}

// statusLine returns the value of a line of a /proc status file.
func statusLine(status, name string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// daemonPid returns the pid of knockd itself (the proc is `ip netns exec`,
// which execs it: the same process).
func (p *proc) daemonPid(t *testing.T) int {
	return p.cmd.Process.Pid
}

// TestBoundingSet: the daemon's bounding set is narrowed to net_raw and
// net_admin whatever the doors run, and
// children are the spawner's: it keeps setuid, setgid and kill and root's
// bounding set, so a door command run as root (knockd's default) is root
// in full, also one that a reload adds.
func TestBoundingSet(t *testing.T) {
	p := newPair(t)
	dir := testenv.SharedDir(t)
	own, _ := os.ReadFile("/proc/self/status")
	full := statusLine(string(own), "CapBnd")
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[options]\n  firewall = none\n[d]\n  sequence = 7000,8000\n  command = /bin/sh -c 'grep -E \"^Cap(Eff|Bnd)\" /proc/self/status > %s/cmd.tmp; mv %s/cmd.tmp %s/cmd'\n", dir, dir, dir)), 0o600)
	d := start(t, p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-v", "-D")
	d.mustSee("capabilities kept: net_raw net_admin (bounding set too); children are started by the spawner (pid ", wait)
	status := daemonCaps(t, d.daemonPid(t))
	t.Logf("daemon: %s", grepLines(status, "Cap"))
	sst, err := os.ReadFile("/proc/" + strconv.Itoa(spawnerPid(t, d)) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	// kill (5), setgid (6), setuid (7); root's bounding set
	if statusLine(string(sst), "CapEff") != "00000000000000e0" || statusLine(string(sst), "CapPrm") != "00000000000000e0" || statusLine(string(sst), "CapBnd") != full {
		t.Fatalf("the spawner's capabilities (want CapBnd %s):\n%s", full, sst)
	}
	t.Logf("spawner: %s", grepLines(string(sst), "Cap"))

	testenv.In(t, p.host, bin.knock, p.raddr4, "7000", "8000")
	if !fileAppears(filepath.Join(dir, "cmd"), wait) {
		t.Fatalf("no command:\n%s", d.out.String())
	}
	c, _ := os.ReadFile(filepath.Join(dir, "cmd"))
	if statusLine(string(c), "CapEff") != full || statusLine(string(c), "CapBnd") != full {
		t.Fatalf("a root command lost root's capabilities (want %s): %s", full, c)
	}
	t.Logf("root door command: %s", strings.ReplaceAll(strings.TrimSpace(string(c)), "\n", "; "))

	// A reload adding a door with a root command needs nothing new.
	os.WriteFile(conf, []byte(fmt.Sprintf("[options]\n  firewall = none\n[d2]\n  sequence = 7500,8500\n  command = /bin/sh -c 'grep CapEff /proc/self/status > %s/cmd2.tmp; mv %s/cmd2.tmp %s/cmd2'\n", dir, dir, dir)), 0o600)
	d.signal(syscall.SIGHUP)
	d.mustSee("re-reading config file", wait)
	testenv.In(t, p.host, bin.knock, p.raddr4, "7500", "8500")
	if !fileAppears(filepath.Join(dir, "cmd2"), wait) {
		t.Fatalf("no command after the reload:\n%s", d.out.String())
	}
	c, _ = os.ReadFile(filepath.Join(dir, "cmd2"))
	if statusLine(string(c), "CapEff") != full {
		t.Fatalf("the reloaded door's root command: %s", c)
	}
	if d.count("config not reloaded") != 0 {
		t.Fatalf("reload refused:\n%s", d.out.String())
	}
	// The daemon still has net_raw and net_admin alone.
	daemonCaps(t, d.daemonPid(t))
}

// spawnerPid returns the pid of the spawner of a knockd run with -D.
func spawnerPid(t *testing.T, d *proc) int {
	t.Helper()
	const at = "children are started by the spawner (pid "
	d.mustSee(at, wait)
	out := d.out.String()
	i := strings.Index(out, at) + len(at)
	pid, err := strconv.Atoi(out[i : i+strings.IndexByte(out[i:], ')')])
	if err != nil {
		t.Fatalf("spawner pid: %v\n%s", err, out)
	}
	return pid
}

// TestSpawnerDies: when the spawner is killed with a command grant open,
// knockd says so once and exits 1 (procd starts it again); the stop
// command, journalled before its start command ran, runs at the next
// start (overdue: before the daemon listens), and only once.
func TestSpawnerDies(t *testing.T) {
	p := newPair(t)
	dir := testenv.SharedDir(t)
	conf := filepath.Join(t.TempDir(), "knockd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[options]\n  firewall = none\n[d]\n  sequence = 7000,8000\n  start_command = /bin/sh -c 'echo start %%IP%% >> %[1]s/log'\n  stop_command = /bin/sh -c 'echo stop %%IP%% >> %[1]s/log'\n  cmd_timeout = 2\n", dir)), 0o600)
	d := start(t, p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-v", "-D")
	spid := spawnerPid(t, d)
	testenv.In(t, p.host, bin.knock, p.raddr4, "7000", "8000")
	if !testenv.Eventually(wait, func() bool { b, _ := os.ReadFile(dir + "/log"); return string(b) == "start "+p.haddr4+"\n" }) {
		t.Fatalf("no start command:\n%s", d.out.String())
	}
	syscall.Kill(spid, syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(wait):
		t.Fatalf("knockd still runs without its spawner:\n%s", d.out.String())
	}
	var ee *exec.ExitError
	if !errors.As(d.err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", d.err, d.out.String())
	}
	if d.count("error: spawner: gone: stopping (door commands and mail cannot run; pending stop commands run at the next start)") != 1 {
		t.Fatalf("log:\n%s", d.out.String())
	}
	t.Logf("first run:\n%s", d.out.String())
	time.Sleep(2500 * time.Millisecond) // the stop command is overdue
	if b, _ := os.ReadFile(dir + "/log"); string(b) != "start "+p.haddr4+"\n" {
		t.Fatalf("before the restart: %q", b)
	}
	// procd starts knockd again: the overdue stop command runs first.
	d = start(t, p.router, bin.knockd, "-i", p.rdev, "-c", conf, "-v", "-D")
	d.mustSee("listening on", wait)
	if b, _ := os.ReadFile(dir + "/log"); string(b) != "start "+p.haddr4+"\nstop "+p.haddr4+"\n" {
		t.Fatalf("after the restart: %q\n%s", b, d.out.String())
	}
	d.mustSee("spawner: "+p.haddr4+": d: running the overdue stop command of a former run: /bin/sh -c 'echo stop "+p.haddr4+" >> "+dir+"/log'", wait)
	d.stop(5 * time.Second)
	if b, _ := os.ReadFile(dir + "/log"); string(b) != "start "+p.haddr4+"\nstop "+p.haddr4+"\n" {
		t.Fatalf("after the second run: %q", b)
	}
	t.Logf("second run:\n%s", d.out.String())
}
