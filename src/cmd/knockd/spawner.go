//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/service"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// spawnerLoad is the spawner's Loader: it reads the configuration that
// the daemon's command line (its own arguments after "spawner") names,
// as the daemon does, and compiles what the doors may have run.
func spawnerLoad() (*spawn.Policy, *os.File, error) {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "spawner" {
		args = args[1:]
	}
	r, err := getopt.Parse(options, args)
	if err != nil {
		return nil, nil, err
	}
	f := flags{r}
	file, err := os.OpenFile(f.configPath(), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := f.parse(file)
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	var p *spawn.Policy
	if err == nil {
		p, err = service.SpawnerPolicy(cfg, f.env(), f.configPath())
	}
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	// The files the daemon may have opened: those of its command line
	// and configuration, as serve names them.
	p.Files.LogFile = f.logFile(cfg)
	pidfile := ""
	if daemonized() {
		pidfile = f.pidFile(cfg)
	}
	p.Files.PidFile = pidfile
	for _, t := range instancePaths(cfg, pidfile) {
		p.Files.Locks = append(p.Files.Locks, t.path+".lock")
	}
	return p, file, nil
}

// parse reads the configuration from file, named as the flags name it.
func (f flags) parse(file *os.File) (*config.Config, error) {
	if f.r.Has('u') {
		return config.ParseUCI(f.configPath(), file)
	}
	return config.Parse(f.configPath(), file)
}

// loadThrough returns the daemon's Load: the spawner reads the
// configuration again (the daemon itself may not be able to open it)
// and passes the file it read.
func loadThrough(f flags, sp *spawn.Client) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		file, err := sp.Reload()
		if err != nil {
			return nil, err
		}
		defer file.Close()
		return f.parse(file)
	}
}

// daemonUsers are the users the daemon runs as, the first that
// /etc/passwd has (the packages create knockd).
var daemonUsers = []string{"knockd", "nobody"}

// daemonUser returns the user the daemon runs as, or nil (root's uid,
// with the daemon's capabilities alone) when /etc/passwd has none of
// daemonUsers.
func daemonUser() *syscall.Credential {
	for _, name := range daemonUsers {
		if u, err := privs.LookupUser(name); err == nil && u.Uid != 0 {
			return u
		}
	}
	return nil
}

// dropPrivileges starts the spawner, which keeps root's privileges, then
// executes knockd again in this process as the daemon's user
// (daemonUser) with net_raw and net_admin alone, as ambient capabilities,
// and no_new_privs (privs.ExecDroppedAs): the new program takes the
// spawner over, has it open the files it keeps, and runs the daemon. It
// owns no file on the system. The privileges change on one thread
// before any of the daemon's threads runs, so nothing can stall the
// change (a stop-the-world change of every thread took seconds under
// load). It returns only on failure.
func dropPrivileges(stderr io.Writer, ready *os.File) int {
	user := daemonUser()
	if user != nil {
		for _, lock := range xtablesLocks {
			if err := xtablesLockReadable(lock); err != nil {
				fmt.Fprintf(stderr, "knockd: warning: %v\n", err)
			}
		}
	}
	h, err := spawn.Start(nil)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	sigs := make([]syscall.Signal, len(handled))
	for i, s := range handled {
		sigs[i] = s.(syscall.Signal)
	}
	env := h.Env()
	if ready != nil {
		// The child of -d reports to its parent after the exec too.
		if err := keepAcrossExec(ready); err != nil {
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1
		}
		env = append(env, readyEnv+"="+strconv.Itoa(int(ready.Fd())))
	}
	err = privs.ExecDroppedAs(user, service.Capabilities(), sigs, env)
	h.Close()
	fmt.Fprintf(stderr, "knockd: cannot give up root's privileges: %v\n", err)
	return 1
}

// xtablesLocks are where iptables takes its lock (XT_LOCK_NAME: Debian's
// /run, OpenWrt's and older builds' /var/run, which is often the same
// directory): it opens it read-only, creating it 0600 when missing.
var xtablesLocks = []string{"/run/xtables.lock", "/var/run/xtables.lock"}

// xtablesLockReadable lets the daemon's user open iptables' lock: where
// an iptables program is installed, the lock file is created (root's)
// when missing and made readable by all (it holds nothing; only its
// flock counts). Without it iptables-legacy, run by the daemon, exits
// "can't open lock file".
func xtablesLockReadable(path string) error {
	if !haveIptables() {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // no /run: no lock either
		}
		return fmt.Errorf("iptables lock %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o004 == 0 {
		err = f.Chmod(fi.Mode().Perm() | 0o044)
	}
	if err != nil {
		return fmt.Errorf("iptables lock %s: %w", path, err)
	}
	return nil
}

// haveIptables reports whether an iptables program is installed.
func haveIptables() bool {
	for _, name := range []string{"iptables", "iptables-legacy", "ip6tables"} {
		if _, err := exec.LookPath(name); err == nil {
			return true
		}
	}
	return false
}

// serveDropped runs the daemon executed by dropPrivileges: it takes the
// spawner over, has it read the configuration, and serves.
func serveDropped(f flags, stdout, stderr io.Writer, sigs chan os.Signal, ready *os.File) int {
	notes := &noteBuffer{}
	sp, err := spawn.Attach(notes.add)
	if err == nil && sp == nil {
		err = errors.New("spawner: none was handed over")
	}
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	cfg, err := loadThrough(f, sp)()
	if err != nil {
		sp.Close()
		printErrors(stderr, err)
		return 1
	}
	return serve(f, cfg, sp, notes, stdout, stderr, sigs, ready)
}

// noteBuffer keeps the spawner's lines for the log until it is open.
type noteBuffer struct {
	mu    sync.Mutex
	lines []string
	log   *logx.Logger
}

func (n *noteBuffer) add(line string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.log != nil {
		n.log.Printf("%s", line)
		return
	}
	if len(n.lines) < 256 {
		n.lines = append(n.lines, line)
	}
}

// to logs the lines kept, and those to come, to log.
func (n *noteBuffer) to(log *logx.Logger) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.lines {
		log.Printf("%s", l)
	}
	n.lines, n.log = nil, log
}

// keepAcrossExec clears f's close-on-exec flag.
func keepAcrossExec(f *os.File) error {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("start-up report descriptor: %w", err)
	}
	return nil
}

// dropCapabilities keeps only service.Capabilities, on every thread, and
// narrows the bounding set to them: nothing the daemon runs afterwards
// can be root in full again (the firewall tools get net_admin and
// net_raw). knockd gives them up at its start instead, by executing
// itself again (dropPrivileges), which cannot stall; this is the way of
// a daemon started otherwise (the spawner's Launch path, in tests). It
// returns the capabilities kept.
func dropCapabilities() ([]int, error) {
	caps := service.Capabilities()
	if err := privs.Bound(caps...); err != nil {
		return nil, err
	}
	return caps, privs.Keep(caps...)
}
