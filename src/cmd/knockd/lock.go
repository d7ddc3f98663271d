//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/feature"
)

// One daemon per control socket, replay journal and pid file: each is
// guarded by a lock file beside it (PATH.lock) that the daemon holds with
// flock(2) while it runs. The kernel drops the lock when the process ends,
// however it ends, so a lock file left behind is never in the way; the
// file holds the holder's pid for the message of a second daemon.

// instanceLocks are the lock files a daemon holds.
type instanceLocks []*os.File

// Close releases the locks (the files stay: removing one while another
// daemon opens it would let two daemons hold "the" lock).
func (l instanceLocks) Close() {
	for _, f := range l {
		f.Close()
	}
}

// instancePaths are the paths that only one daemon may use: the control
// socket (in a build that has one), the replay journal and (when one is
// written) the pid file.
func instancePaths(cfg *config.Config, pidfile string) []lockTarget {
	var out []lockTarget
	if p := cfg.Options.ControlSocket; p != "" && feature.Control {
		out = append(out, lockTarget{what: "control socket", path: p})
	}
	if p := cfg.Options.SPAReplayFile; p != "" {
		out = append(out, lockTarget{what: "replay journal", path: p})
	}
	if pidfile != "" {
		out = append(out, lockTarget{what: "pid file", path: pidfile})
	}
	return out
}

type lockTarget struct {
	_          [0]func() // not comparable: no equality function in the binary
	what, path string
}

// lockInstanceWith takes every target's lock, or none: it fails naming the
// daemon (its pid) that holds one. A lock file that cannot be created is
// skipped.
// The lock files are opened by open (the spawner's, for a daemon that
// may not create them; nil: itself).
func lockInstanceWith(open opener, targets []lockTarget) (instanceLocks, error) {
	var held instanceLocks
	for _, t := range targets {
		f, err := lockFileWith(open, t.path+".lock")
		if busy, ok := err.(*busyError); ok {
			held.Close()
			return nil, fmt.Errorf("another knockd%s uses the %s %s (lock %s.lock held): stop it, or give this one its own paths", busy.holder(), t.what, t.path, t.path)
		}
		if err != nil {
			// A lock that cannot be created (no such directory, a
			// read-only file system) guards nothing another daemon
			// could take either; the path's own use reports the fault.
			continue
		}
		held = append(held, f)
	}
	return held, nil
}

// busyError: another process holds the lock.
type busyError struct{ pid int }

func (e *busyError) Error() string { return "locked" + e.holder() }

func (e *busyError) holder() string {
	if e.pid <= 0 {
		return ""
	}
	return " (pid " + strconv.Itoa(e.pid) + ")"
}

// opener opens a file the configuration names for the daemon: the
// spawner's Open, for one of the spawn.FileOps.
type opener func(path string) (*os.File, error)

// lockFileWith opens (creating) path with open (nil: itself, not
// following a symbolic link), takes an exclusive flock without waiting
// and writes the pid into it.
func lockFileWith(open opener, path string) (*os.File, error) {
	if open == nil {
		open = func(path string) (*os.File, error) {
			return os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
		}
	}
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock %s: not a regular file", path)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EWOULDBLOCK {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
		return nil, &busyError{pid: pid}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// instancePaths are the daemon's paths that need a lock: its pid file
// only when it writes one (see serve).
func (f flags) instancePaths(cfg *config.Config, ready *os.File) []lockTarget {
	pidfile := ""
	if ready != nil || daemonized() {
		pidfile = f.pidFile(cfg)
	}
	return instancePaths(cfg, pidfile)
}
