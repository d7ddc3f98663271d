//go:build linux

// Command knockd is knockd-go's port-knock daemon: a drop-in replacement
// for knockd 0.8 that also opens and forwards ports, wakes LAN hosts, mails
// the admin and accepts fwknop SPA packets by itself.
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
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/service"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
	"github.com/knockd-go/knockd-go/src/internal/tune"
	"github.com/knockd-go/knockd-go/src/internal/version"
)

var options = []getopt.Option{
	{Short: 'i', Long: "interface", HasArg: true},
	{Short: 'd', Long: "daemon", HasArg: false},
	{Short: 'c', Long: "config", HasArg: true},
	{Short: 'u', Long: "uci", HasArg: true},
	{Short: 'D', Long: "debug", HasArg: false},
	{Short: 'l', Long: "lookup", HasArg: false},
	{Short: 'p', Long: "pidfile", HasArg: true},
	{Short: 'g', Long: "logfile", HasArg: true},
	{Short: 'v', Long: "verbose", HasArg: false},
	{Short: '4', Long: "only-ip-v4", HasArg: false},
	{Short: 'k', Long: "check", HasArg: false},
	{Short: 'V', Long: "version", HasArg: false},
	{Short: 'h', Long: "help", HasArg: false},
	{Short: optShowURI, Long: "show-secret-uri", HasArg: true},
	{Short: optSocket, Long: "socket", HasArg: true},
	{Short: 'j', Long: "json", HasArg: false},
	{Short: optMail, Long: "mail", HasArg: true},
}

// Long-only options.
const (
	optShowURI = 0x80 + iota // --show-secret-uri DOOR
	optSocket                // --socket PATH
	optMail                  // --mail ADDRESS (doctor)
)

const usage = `usage: knockd [options]
       knockd status [--json] | revoke DOOR SOURCE | doctor | keygen [spa|rotating]
options:
  -i, --interface <int>  network interface to listen on (default "eth0"); repeat it,
                         or give "pppoe-wan 6in4-wan6", for several; "wan=pppoe-wan"
                         also lets doors name the device "wan"
  -d, --daemon           run as a daemon (one per control socket, journal and
                         pid file: a second one refuses to start)
  -c, --config <file>    use an alternate config file (default /etc/knockd.conf)
  -u, --uci <file>       read a UCI config file (/etc/config/knockd) instead
  -D, --debug            output debug messages
  -l, --lookup           lookup DNS names (may be a security risk)
  -p, --pidfile          use an alternate pidfile
  -g, --logfile          use an alternate logfile
  -v, --verbose          be verbose
  -4, --only-ip-v4       do not track ipv6
  -k, --check            check the configuration and exit: every error, each as
                         file:line: field, and warnings (inline comments,
                         programs that are missing or not executable)
  -V, --version          display version
  -h, --help             this help
  -j, --json             status: print JSON, as ubus call knockd status does
      --show-secret-uri DOOR [HOST]
                         print the URI of a rotating knock (for knock --uri, a phone
                         app or a QR code); HOST is the router's name for clients
      --socket PATH      the control socket of status and revoke (default: the
                         configuration's control_socket, /var/run/knockd.sock)
commands (asking the running daemon through its control socket):
  status [-j | --json]   doors, open grants, attempts, counters, last events
  revoke DOOR SOURCE     close a grant now
  doctor [-j | --json] [--mail ADDRESS]
                         why a knock does not open: checks devices, firewall rule
                         order, silent knock ports, forwarding, clock, mailer
  keygen [spa [NAME [HOST]]]
                         new SPA keys (KEY_BASE64, HMAC_KEY_BASE64), the door's
                         directives and the ~/.fwknoprc stanza [NAME] (default
                         router) for knock -S -n NAME
  keygen rotating [--show-secret-uri DOOR [HOST]]
                         a rotating knock's secret, and DOOR's URI with it
  list, call METHOD      rpcd's plugin protocol (/usr/libexec/rpcd/knockd)
signals: HUP re-reads the configuration, USR2 restores grants after a
firewall reload, USR1 logs counters, TERM and INT stop.
`

func main() {
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

// flags is the parsed command line.
type flags struct {
	r *getopt.Result
}

func (f flags) configPath() string {
	if f.r.Has('u') {
		return f.r.Last('u', "")
	}
	return f.r.Last('c', "/etc/knockd.conf")
}

func (f flags) load() (*config.Config, error) {
	if f.r.Has('u') {
		return config.LoadUCI(f.configPath())
	}
	return config.Load(f.configPath())
}

// interfaces returns the -i values, each split on blanks and commas.
func (f flags) interfaces() []string {
	var out []string
	for _, v := range f.r.Values['i'] {
		out = append(out, config.SplitList(v)...)
	}
	return out
}

func (f flags) env() door.Env {
	return door.Env{Interfaces: f.interfaces(), NoIPv6: f.r.Has('4')}
}

func (f flags) logFile(cfg *config.Config) string {
	if cfg.Options.LogFile != "" {
		return cfg.Options.LogFile
	}
	return f.r.Last('g', "")
}

func (f flags) pidFile(cfg *config.Config) string {
	if cfg.Options.PidFile != config.DefaultPidFile {
		return cfg.Options.PidFile
	}
	return f.r.Last('p', config.DefaultPidFile)
}

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
	code := serve(f, cfg, stdout, stderr, sigs, ready)
	return code
}

// serve runs the daemon until a signal stops it.
func serve(f flags, cfg *config.Config, stdout, stderr io.Writer, sigs chan os.Signal, ready *os.File) int {
	locks, err := lockInstance(f.instancePaths(cfg, ready))
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	defer locks.Close()
	lo := logx.Options{Syslog: cfg.Options.UseSyslog, LogFile: f.logFile(cfg)}
	if f.r.Has('v') {
		lo.Verbose = stdout
	}
	if f.r.Has('D') {
		lo.Debug = stdout
	}
	log, err := logx.New(lo)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	defer log.Close()
	pidfile := ""
	if ready != nil || daemonized() {
		pidfile = f.pidFile(cfg)
		if err := writePidFile(pidfile); err != nil {
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1
		}
		defer os.Remove(pidfile)
	}
	// Children are started by a spawner that keeps root's privileges,
	// started now while the process has them all: the daemon, which
	// parses packets, gives them up once its sockets are open.
	var starter spawn.Starter
	note := func(l string) { log.Printf("%s", l) }
	sp, err := spawn.Attach(note) // started before the privileges were dropped
	if sp == nil && err == nil && os.Geteuid() == 0 {
		sp, err = spawn.Launch(nil, note)
	}
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	if sp != nil {
		defer sp.Close()
		starter = sp
		if w := sp.Warning(); w != "" {
			log.Printf("warning: spawner: %s", w)
		}
	}
	load := f.load
	if sp != nil {
		load = loadThrough(f, sp)
	}
	var group *capture.Group
	svc, err := service.New(service.Options{
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
	}, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log.Printf("starting up, listening on %s", strings.Join(devicesOf(svc), " "))
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	spawnDied := make(chan struct{})
	if sp != nil {
		// Without the spawner no command runs, not even a stop command,
		// and the daemon, without root's privileges, cannot start a new
		// one: stop (exit 1), and let procd start knockd again. The new
		// spawner runs the stop commands its journal holds (the overdue
		// ones first), rather than the daemon run on with doors that
		// cannot close.
		go func() {
			select {
			case <-sp.Died():
				log.Printf("error: %v: stopping (door commands and mail cannot run; pending stop commands run at the next start)", sp.Err())
				close(spawnDied)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	// stopErr is why the daemon stops: the spawner's end, else err.
	stopErr := func(err error) error {
		select {
		case <-spawnDied:
			return sp.Err()
		default:
			return err
		}
	}
	srvDone := make(chan struct{})
	select {
	case <-svc.Ready():
		srv, err := listen(cfg, svc, log)
		if err != nil {
			cancel()
			<-runErr
			shutdown(svc)
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1
		}
		if srv != nil {
			go func() { srv.Serve(ctx); close(srvDone) }()
		} else {
			close(srvDone)
		}
		// Everything that needs root is open: keep only what the daemon
		// needs from now on.
		caps := service.Capabilities() // given up at the start (dropPrivileges)
		if !privs.Dropped() {
			caps, err = svc.DropPrivileges()
		}
		if err != nil {
			log.Printf("warning: cannot drop capabilities (%v): running with root's", err)
		} else if sp != nil {
			log.Debugf("capabilities kept: %s (bounding set too); children are started by the spawner (pid %d)", privs.Names(caps), sp.Pid())
		}
		if ready != nil {
			fmt.Fprintln(ready, readyLine)
			ready.Close()
		}
	case err := <-runErr:
		shutdown(svc)
		fmt.Fprintf(stderr, "knockd: %v\n", stopErr(err))
		return 1
	}

	if sigs == nil {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, handled...)
	}
	defer signal.Stop(sigs)
	reload := make(chan struct{}, 1)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGUSR1:
				log.Printf("%s", svc.Stats())
			case syscall.SIGUSR2:
				// One line per firewall (re)load: logread shows that
				// the firewall's hook reached the daemon.
				log.Printf("re-asserting firewall rules and grants (SIGUSR2)")
				svc.Reassert()
			case syscall.SIGHUP:
				select { // coalesce storms: one reload pending at most
				case reload <- struct{}{}:
				default:
				}
			default:
				cancel()
				signal.Stop(sigs) // a second ^C kills at once
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				if svc.Reload() != nil {
					continue
				}
				c := svc.Config()
				lf := f.logFile(c)
				if lf != "" {
					log.Printf("re-opening log file: %s", lf)
				}
				if err := log.Reopen(lf, c.Options.UseSyslog); err != nil {
					log.Printf("error: %v", err)
				}
			}
		}
	}()

	err = <-runErr
	cancel()
	<-srvDone // the socket is removed
	shutdown(svc)
	log.Printf("shutting down")
	if err := stopErr(nil); err != nil {
		return 1 // logged when the spawner died
	}
	if err != nil {
		log.Printf("error: %v", err)
		return 1
	}
	return 0
}

// showURI prints the URI of a rotating door.
func showURI(cfg *config.Config, name, host string, stdout, stderr io.Writer) int {
	for _, d := range cfg.Doors {
		if d.Name != name {
			continue
		}
		if d.Rotate == nil {
			fmt.Fprintf(stderr, "knockd: %s: door %q is not a rotating knock (no sequence_secret)\n", cfg.File, name)
			return 1
		}
		fmt.Fprintln(stdout, rotate.URI(*d.Rotate, name, host))
		return 0
	}
	fmt.Fprintf(stderr, "knockd: %s: no door %q%s\n", cfg.File, name, doorList(cfg))
	return 1
}

func shutdown(svc *service.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	svc.Shutdown(ctx)
}

func devicesOf(svc *service.Service) []string { return svc.Devices() }

// writePidFile writes the pid file, refusing to follow a symbolic link.
func writePidFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
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
