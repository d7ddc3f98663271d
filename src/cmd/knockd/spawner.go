//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
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

// dropPrivileges starts the spawner, which keeps root's privileges, then
// executes knockd again in this process with net_raw and net_admin
// alone (privs.ExecDropped): the new program takes the spawner over and
// runs the daemon. The privileges change on one thread before any of the
// daemon's threads runs, so nothing can stall the change (a
// stop-the-world change of every thread took seconds under load). It
// returns only on failure.
func dropPrivileges(stderr io.Writer, ready *os.File) int {
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
	err = privs.ExecDropped(service.Capabilities(), sigs, env)
	h.Close()
	fmt.Fprintf(stderr, "knockd: cannot give up root's privileges: %v\n", err)
	return 1
}

// keepAcrossExec clears f's close-on-exec flag.
func keepAcrossExec(f *os.File) error {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("start-up report descriptor: %w", err)
	}
	return nil
}
