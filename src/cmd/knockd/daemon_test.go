//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// daemonConf is a daemon that needs no firewall, captures on lo and keeps
// its socket and journal in dir.
func daemonConf(t *testing.T, dir string) {
	t.Helper()
	conf := "[options]\n  interface = lo\n  firewall = none\n  control_socket = " + filepath.Join(dir, "knockd.sock") +
		"\n  spa_replay_file = " + filepath.Join(dir, "replay") + "\n[d]\n  sequence = 7000,8000\n  command = /bin/true\n"
	if err := os.WriteFile(filepath.Join(dir, "knockd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stopDaemon ends the daemon of a pid file and waits for it.
func stopDaemon(t *testing.T, pidfile string) {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !testenv.Eventually(20*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("daemon %d did not stop on SIGTERM", pid)
	}
}

// TestDaemonizeRelativePaths: knockd -d with relative -c, -p and -g (the
// daemon runs in /) starts, writes its pid and log files where the user
// meant, and answers status; a daemon whose start fails has its error
// printed by the parent.
func TestDaemonizeRelativePaths(t *testing.T) {
	testenv.NeedRoot(t)
	dir := testenv.SharedDir(t)
	daemonConf(t, dir)
	pidfile := filepath.Join(dir, "knockd.pid")
	t.Cleanup(func() { stopDaemon(t, pidfile) })
	cmd := knockdCmd(t, dir, "-d", "-c", "knockd.conf", "-p", "knockd.pid", "-g", "knockd.log")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("knockd -d -c knockd.conf: %v\n%s", err, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("no pid file beside the configuration: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if syscall.Kill(pid, 0) != nil {
		t.Fatalf("pid file %q: no such process", b)
	}
	if !testenv.Eventually(5*time.Second, func() bool {
		l, _ := os.ReadFile(filepath.Join(dir, "knockd.log"))
		return strings.Contains(string(l), "starting up")
	}) {
		t.Error("no log file beside the configuration")
	}
	st := knockdCmd(t, dir, "-c", "knockd.conf", "status")
	if out, err := st.CombinedOutput(); err != nil || !strings.Contains(string(out), "door") {
		t.Errorf("status: %v\n%s", err, out)
	}
	// A second daemon with the same paths: the child fails, the parent
	// prints why (the running one's pid).
	second := knockdCmd(t, dir, "-d", "-c", "knockd.conf", "-p", "other.pid")
	out, err = second.CombinedOutput()
	want := "knockd: another knockd (pid " + strconv.Itoa(pid) + ") uses the control socket " + filepath.Join(dir, "knockd.sock")
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("second knockd -d: %v\n%s\nwant %q", err, out, want)
	}
}

// TestSecondDaemonRefused: a second daemon on the same control socket,
// journal or pid file refuses to start, naming the running one's pid, and
// leaves the first one's socket in place; a lock left by a dead daemon is
// no obstacle.
func TestSecondDaemonRefused(t *testing.T) {
	testenv.NeedRoot(t)
	dir := testenv.SharedDir(t)
	daemonConf(t, dir)
	first := knockdCmd(t, dir, "-c", "knockd.conf")
	var log1 bytes.Buffer
	first.Stdout, first.Stderr = &log1, &log1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { first.Wait(); close(done) }()
	t.Cleanup(func() {
		first.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			first.Process.Kill()
		}
	})
	sock := filepath.Join(dir, "knockd.sock")
	if !testenv.Eventually(20*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		t.Fatalf("the first daemon did not start:\n%s", log1.String())
	}
	fi1, _ := os.Stat(sock)
	cases := []struct {
		name, conf, want string
	}{
		{"same socket", "", "uses the control socket " + sock},
		{"same journal", "control_socket = " + filepath.Join(dir, "b.sock"), "uses the replay journal " + filepath.Join(dir, "replay")},
	}
	for _, c := range cases {
		conf, _ := os.ReadFile(filepath.Join(dir, "knockd.conf"))
		if c.conf != "" {
			conf = []byte(strings.Replace(string(conf), "control_socket = "+sock, c.conf, 1))
		}
		os.WriteFile(filepath.Join(dir, "second.conf"), conf, 0o644)
		second := knockdCmd(t, dir, "-c", "second.conf")
		start := time.Now()
		out, err := second.CombinedOutput()
		want := "knockd: another knockd (pid " + strconv.Itoa(first.Process.Pid) + ") " + c.want
		if err == nil || !strings.Contains(string(out), want) || time.Since(start) > 10*time.Second {
			t.Errorf("%s: %v after %v\n%s\nwant %q", c.name, err, time.Since(start), out, want)
		}
	}
	// The first daemon's socket is the one in place, and it answers.
	fi2, err := os.Stat(sock)
	if err != nil || !os.SameFile(fi1, fi2) {
		t.Errorf("the control socket was replaced: %v", err)
	}
	if out, err := knockdCmd(t, dir, "--socket", sock, "status").CombinedOutput(); err != nil {
		t.Errorf("status of the first daemon: %v\n%s", err, out)
	}
	// Killed, the first daemon leaves its lock files; a new one starts.
	first.Process.Kill()
	<-done
	if _, err := os.Stat(sock + ".lock"); err != nil {
		t.Fatalf("no lock file: %v", err)
	}
	again := knockdCmd(t, dir, "-d", "-c", "knockd.conf", "-p", "knockd.pid")
	if out, err := again.CombinedOutput(); err != nil {
		t.Errorf("a daemon after a killed one: %v\n%s", err, out)
	}
	stopDaemon(t, filepath.Join(dir, "knockd.pid"))
}

// TestLockFile: the lock is exclusive between open files, names its
// holder, and is free again once closed.
func TestLockFile(t *testing.T) {
	dir := t.TempDir()
	targets := []lockTarget{{what: "pid file", path: filepath.Join(dir, "p")}, {what: "control socket", path: filepath.Join(dir, "missing", "s")}}
	l1, err := lockInstanceWith(nil, targets)
	if err != nil || len(l1) != 1 {
		t.Fatalf("first lock: %v (%d held)", err, len(l1))
	}
	_, err = lockInstanceWith(nil, targets)
	if err == nil || !strings.Contains(err.Error(), "another knockd (pid "+strconv.Itoa(os.Getpid())+") uses the pid file "+filepath.Join(dir, "p")) {
		t.Fatalf("second lock: %v", err)
	}
	l1.Close()
	l2, err := lockInstanceWith(nil, targets)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Close()
	// A symbolic link in the lock's place is not followed.
	os.Remove(filepath.Join(dir, "p.lock"))
	os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "p.lock"))
	if l, err := lockInstanceWith(nil, targets[:1]); err != nil || len(l) != 0 {
		t.Errorf("symlink: %v, %d held", err, len(l))
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("the lock followed a symbolic link")
	}
}
