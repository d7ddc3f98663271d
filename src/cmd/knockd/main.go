// Command knockd is knockd-go's port-knock daemon: a drop-in replacement
// for knockd 0.8 that also opens and forwards ports, wakes LAN hosts, mails
// the admin and accepts fwknop SPA packets by itself.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/logx"
	"github.com/knockd-go/knockd-go/src/version"
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
}

const usage = `usage: knockd [options]
options:
  -i, --interface <int>  network interface to listen on (default "eth0")
  -d, --daemon           run as a daemon
  -c, --config <file>    use an alternate config file (default /etc/knockd.conf)
  -u, --uci <file>       read a UCI config file (/etc/config/knockd) instead
  -D, --debug            output debug messages
  -l, --lookup           lookup DNS names (may be a security risk)
  -p, --pidfile          use an alternate pidfile
  -g, --logfile          use an alternate logfile
  -v, --verbose          be verbose
  -4, --only-ip-v4       do not track ipv6
  -k, --check            check the configuration and exit
  -V, --version          display version
  -h, --help             this help
`

const daemonEnv = "KNOCKD_GO_DAEMONIZED"

func main() {
	// Catch signals first: procd or a firewall hook may send SIGHUP right
	// after a (re)start, before the daemon is ready; it is then handled as
	// a reload once the daemon runs instead of killing the process.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, handled...)
	if os.Getenv("GOGC") == "" {
		// Routers have little memory: collect at +50% heap instead of +100%
		// (the attempt table is the live heap under a flood).
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

var handled = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1}

func run(args []string, stdout, stderr io.Writer, sigs chan os.Signal) int {
	r, err := getopt.Parse(options, args)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n%s", err, usage)
		return 1
	}
	if r.Has('h') {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if r.Has('V') {
		fmt.Fprintf(stdout, "knockd %s (knockd-go)\n", version.Version)
		return 0
	}
	if len(r.Args) > 0 {
		fmt.Fprintf(stderr, "knockd: unexpected argument %q\n%s", r.Args[0], usage)
		return 1
	}
	load := loader(r)
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	if r.Has('k') {
		fmt.Fprintf(stdout, "%s: %d door(s), configuration OK\n", configPath(r), len(cfg.Doors))
		return 0
	}
	if !cfg.Options.Enabled {
		fmt.Fprintf(stderr, "knockd: %s: disabled (enabled '0')\n", configPath(r))
		return 0
	}
	if r.Has('d') && os.Getenv(daemonEnv) == "" {
		return daemonize(stderr)
	}
	logFile := r.Last('g', "")
	if cfg.Options.LogFile != "" {
		logFile = cfg.Options.LogFile
	}
	lo := logx.Options{Syslog: cfg.Options.UseSyslog, LogFile: logFile}
	if r.Has('v') {
		lo.Verbose = stdout
	}
	if r.Has('D') {
		lo.Debug = stdout
	}
	log, err := logx.New(lo)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	defer log.Close()

	acts, err := newActions(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	d, err := daemon.New(cfg, daemon.Options{
		ConfigPath: configPath(r),
		Load:       load,
		Interface:  r.Last('i', ""),
		NoIPv6:     r.Has('4'),
		Lookup:     r.Has('l'),
		Log:        log,
		Actions:    acts.daemonActions(),
		NewSPA:     newSPA,
	})
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		acts.close()
		return 1
	}
	pidfile := ""
	if os.Getenv(daemonEnv) != "" {
		pidfile = r.Last('p', config.DefaultPidFile)
		if cfg.Options.PidFile != config.DefaultPidFile {
			pidfile = cfg.Options.PidFile
		}
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Printf("could not create pid file %s: %v", pidfile, err)
			pidfile = ""
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	if sigs == nil {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, handled...)
	}
	defer signal.Stop(sigs)
	reload := make(chan struct{}, 1)
	go func() {
		for s := range sigs {
			if s == syscall.SIGUSR1 {
				log.Printf("%s", d.Stats())
				continue
			}
			if s == syscall.SIGHUP {
				select { // coalesce storms: one reload pending at most
				case reload <- struct{}{}:
				default:
				}
				continue
			}
			cancel()
			signal.Stop(sigs) // a second ^C kills at once
			return
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				acts.reassert() // a firewall reload hook sends SIGHUP too
				if err := d.Reload(); err == nil {
					c := d.Config()
					lf := r.Last('g', "")
					if c.Options.LogFile != "" {
						lf = c.Options.LogFile
					}
					if lf != "" {
						log.Printf("re-opening log file: %s", lf)
					}
					if err := log.Reopen(lf, c.Options.UseSyslog); err != nil {
						fmt.Fprintf(stderr, "warning: %v\n", err)
					}
				}
			}
		}
	}()

	runErr := d.Run(ctx)
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	d.Shutdown(sctx)
	scancel()
	acts.close()
	if pidfile != "" {
		os.Remove(pidfile)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", runErr)
		return 1
	}
	return 0
}

func configPath(r *getopt.Result) string {
	if r.Has('u') {
		return r.Last('u', "")
	}
	return r.Last('c', "/etc/knockd.conf")
}

func loader(r *getopt.Result) func() (*config.Config, error) {
	if r.Has('u') {
		path := r.Last('u', "")
		return func() (*config.Config, error) { return config.LoadUCI(path) }
	}
	path := r.Last('c', "/etc/knockd.conf")
	return func() (*config.Config, error) { return config.Load(path) }
}

// daemonize re-executes knockd in a new session with its standard streams
// on /dev/null (Go cannot fork), then returns in the parent.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	defer null.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	return 0
}
