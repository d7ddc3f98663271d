//go:build linux

// Command knockd is knockd-go's port-knock daemon: a drop-in replacement
// for knockd 0.8 that also opens and forwards ports, wakes LAN hosts, mails
// the admin and accepts fwknop SPA packets by itself.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
	"github.com/knockd-go/knockd-go/src/internal/tune"
	"github.com/knockd-go/knockd-go/src/internal/version"
)

func main() {
	privs.Rename() // executed again through /proc/self/exe: "knockd", not "exe"
	tune.Procs()
	// The spawner is this binary too (see serve), and so is the
	// trampoline of a mailer run as root without capabilities.
	privs.NoRootMain()
	spawn.Main(spawnerLoad)
	if code, ok := cliMain(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	// The daemon catches signals first: procd or a firewall hook may send a signal
	// right after a (re)start, before the daemon is ready; it is then
	// handled once the daemon runs instead of killing the process.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, handled...)
	tune.Daemon()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

var handled = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}

func run(args []string, stdout, stderr io.Writer, sigs chan os.Signal) int {
	// In the child of -d, every error goes to the waiting parent.
	ready := readyReporter()
	if ready != nil {
		stderr = ready
	}
	r, err := getopt.Parse(options, args)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n%s", err, usage)
		return 1
	}
	f := flags{r}
	if !r.Has('h') && !r.Has('V') {
		if code, ok := subcommand(f, stdout, stderr); ok {
			return code
		}
	}
	switch {
	case r.Has('h'):
		fmt.Fprint(stdout, usage)
		return 0
	case r.Has('V'):
		fmt.Fprintf(stdout, "knockd %s (knockd-go)\n", version.Version)
		return 0
	case len(r.Args) > 1 || len(r.Args) == 1 && !r.Has(optShowURI):
		fmt.Fprintf(stderr, "knockd: unexpected argument %q\n%s", r.Args[len(r.Args)-1], usage)
		return 1
	}
	if privs.Dropped() {
		// Executed again by dropPrivileges, as the daemon's user: the
		// configuration was checked before, and the spawner reads it.
		return serveDropped(f, stdout, stderr, sigs, ready)
	}
	cfg, err := f.load()
	if err == nil {
		// What -k accepts is what runs: the same compile as start-up.
		_, err = door.Compile(cfg, f.env())
	}
	if err == nil {
		err = checkFirewall(f.configPath(), cfg, firewall.Detect)
	}
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	if r.Has('k') {
		return check(f, cfg, stdout, stderr)
	}
	if r.Has(optShowURI) {
		return showURI(cfg, r.Last(optShowURI, ""), strings.Join(r.Args, ""), stdout, stderr)
	}
	if !cfg.Options.Enabled {
		fmt.Fprintf(stderr, "knockd: %s: disabled (enabled '0')\n", f.configPath())
		return 0
	}
	if r.Has('d') && !daemonized() {
		return daemonize(cfg, stderr)
	}
	if os.Geteuid() == 0 && !privs.Dropped() {
		return dropPrivileges(stderr, ready)
	}
	return serve(f, cfg, nil, nil, stdout, stderr, sigs, ready)
}
