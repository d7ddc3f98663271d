//go:build linux

package main

import (
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/getopt"
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
