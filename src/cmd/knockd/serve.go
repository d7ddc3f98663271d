//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/capture"
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/daemon"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/service"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
	"github.com/knockd-go/knockd-go/src/internal/task"
	"github.com/knockd-go/knockd-go/src/internal/tune"
	"github.com/knockd-go/knockd-go/src/internal/version"
)

// instance is what a daemon holds besides the service: the spawner, its
// log, its locks and pid file, the files it has the spawner open.
type instance struct {
	sp    *spawn.Client
	open  func(op spawn.FileOp) opener // nil openers where there is no spawner
	log   *logx.Logger
	locks instanceLocks
	pid   string
}

func (in *instance) close() {
	if in.pid != "" {
		os.Remove(in.pid) // the spawner removes it where the daemon's user cannot
	}
	if in.log != nil {
		in.log.Close()
	}
	in.locks.Close()
	if in.sp != nil {
		in.sp.Close()
	}
}

// openInstance starts the spawner (when the daemon runs as root and has
// none yet), takes the instance's locks, opens the log and writes the pid
// file; what fails is said on stderr, and in is closed.
func openInstance(f flags, cfg *config.Config, sp *spawn.Client, notes *noteBuffer, stdout, stderr io.Writer, ready *os.File) (in *instance, ok bool) {
	in = &instance{sp: sp}
	fail := func(err error) (*instance, bool) {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		in.close()
		return nil, false
	}
	var err error
	if in.sp == nil && os.Geteuid() == 0 {
		// Children are started by a spawner that keeps root's
		// privileges, started now while the process has them all.
		if in.sp, err = spawn.Launch(nil, notes.add); err != nil {
			return fail(err)
		}
	}
	// The files the daemon keeps are the spawner's to open: the daemon
	// runs as a user who owns none of them.
	in.open = func(spawn.FileOp) opener { return nil }
	if sp := in.sp; sp != nil {
		in.open = func(op spawn.FileOp) opener {
			return func(path string) (*os.File, error) { return sp.Open(op, path) }
		}
	}
	if in.locks, err = lockInstanceWith(in.open(spawn.OpenLock), f.instancePaths(cfg, ready)); err != nil {
		return fail(err)
	}
	lo := logx.Options{Syslog: cfg.Options.UseSyslog, LogFile: f.logFile(cfg), Open: in.open(spawn.OpenLog)}
	if f.r.Has('v') {
		lo.Verbose = stdout
	}
	if f.r.Has('D') {
		lo.Debug = stdout
	}
	if in.log, err = logx.New(lo); err != nil {
		return fail(err)
	}
	notes.to(in.log)
	if ready != nil || daemonized() {
		pid := f.pidFile(cfg)
		if err := writePidFile(in.open(spawn.OpenPid), pid); err != nil {
			return fail(err)
		}
		in.pid = pid
	}
	if in.sp != nil {
		if w := in.sp.Warning(); w != "" {
			in.log.Printf("warning: spawner: %s", w)
		}
	}
	if privs.Dropped() && os.Geteuid() == 0 {
		in.log.Printf("warning: no user %s: the daemon runs as root (with %s alone)", strings.Join(daemonUsers, " or "), privs.Names(service.Capabilities()))
	}
	return in, true
}

// serve runs the daemon until a signal stops it. sp is the spawner the
// daemon took over (nil: it starts one when it runs as root), notes the
// lines the spawner sent before the log was open.
func serve(f flags, cfg *config.Config, sp *spawn.Client, notes *noteBuffer, stdout, stderr io.Writer, sigs chan os.Signal, ready *os.File) int {
	if notes == nil {
		notes = &noteBuffer{}
	}
	in, ok := openInstance(f, cfg, sp, notes, stdout, stderr, ready)
	if !ok {
		return 1
	}
	defer in.close()
	sp, log, open := in.sp, in.log, in.open
	load, starter, svcOpen := f.load, spawn.Starter(nil), service.Opener(nil)
	if sp != nil {
		load, starter, svcOpen = loadThrough(f, sp), sp, sp.Open
	}
	if sigs == nil {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, handled...)
	}
	defer signal.Stop(sigs)
	rd := readyFunc(ready, log, sp)
	var group *capture.Group
	o := service.Options{
		Load:       load,
		ConfigPath: f.configPath(),
		Env:        f.env(),
		Log:        log,
		NewSource: func(devs []string) daemon.Source {
			group = capture.NewGroup(devs, log)
			return group
		},
		DeviceStatus: func() []control.Device { return deviceStatus(group)() },
		Lookup:       lookup(f.r.Has('l')),
		Version:      version.Version,
		Starter:      starter,
		Open:         svcOpen,
		Signals:      sigs,
		Stopping:     func() { signal.Stop(sigs) }, // a second ^C kills at once
		OnReady:      func() { rd.report(); tune.Settled() },
		OnReload:     func(c *config.Config) { reopenLog(log, f.logFile(c), c); tune.Settled() },
	}
	if feature.Control {
		o.Listen = func(h control.Handler) (*control.Server, error) {
			return listen(cfg, h, log, open(spawn.ListenControl))
		}
	}
	if sp != nil {
		o.Spawner = sp
	}
	svc, err := service.New(o, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	log.Printf("starting up, listening on %s", strings.Join(svc.Devices(), " "))
	err = svc.Run(context.Background())
	if te, ok := err.(*task.Error); ok {
		err = te.Err // the line reads as before: "error: spawner: gone: …"
	}
	if err != nil && !rd.done {
		shutdown(svc)
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	if err != nil {
		log.Printf("error: %v", err)
	}
	shutdown(svc) // the one shutdown order: see service.Shutdown
	log.Printf("shutting down")
	return exitCode(err)
}

// exitCode is the daemon's exit code after err.
func exitCode(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

// reopenLog opens the log file again after a reload (rotation, a new
// path or syslog setting).
func reopenLog(log *logx.Logger, lf string, c *config.Config) {
	if lf != "" {
		log.Printf("re-opening log file: %s", lf)
	}
	if err := log.Reopen(lf, c.Options.UseSyslog); err != nil {
		log.Printf("error: %v", err)
	}
}

// readiness reports the daemon ready: it gives up the capabilities a
// daemon started otherwise than by dropPrivileges still has, and tells
// the waiting -d parent.
type readiness struct {
	pipe *os.File // nil: no parent waits
	log  *logx.Logger
	sp   *spawn.Client
	done bool // set before Run's start-up task returns, read after Run
}

func readyFunc(pipe *os.File, log *logx.Logger, sp *spawn.Client) *readiness {
	return &readiness{pipe: pipe, log: log, sp: sp}
}

func (r *readiness) report() {
	// Everything that needs root is open: keep only what the daemon
	// needs from now on.
	caps := service.Capabilities() // given up at the start (dropPrivileges)
	var err error
	if !privs.Dropped() {
		caps, err = dropCapabilities()
	}
	if err != nil {
		r.log.Printf("warning: cannot drop capabilities (%v): running with root's", err)
	} else if r.sp != nil {
		r.log.Debugf("capabilities kept: %s (bounding set too); children are started by the spawner (pid %d)", privs.Names(caps), r.sp.Pid())
	}
	if r.pipe != nil {
		fmt.Fprintln(r.pipe, readyLine)
		r.pipe.Close()
	}
	r.done = true
}

func shutdown(svc *service.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	svc.Shutdown(ctx)
}

// writePidFile writes the pid file, refusing to follow a symbolic link;
// open opens it (nil: itself).
func writePidFile(open opener, path string) error {
	if open == nil {
		open = func(path string) (*os.File, error) {
			return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
		}
	}
	f, err := open(path)
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}
