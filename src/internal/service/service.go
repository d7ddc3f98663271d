// Package service runs knockd-go: it builds what a compiled configuration
// needs — the firewall backend and its grant manager, the command runner,
// the action pool, the packet path — and rebuilds it on reload. The
// command (cmd/knockd) only parses flags, opens the log and handles
// signals.
package service

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/action"
	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/daemon"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/mail"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
	"github.com/knockd-go/knockd-go/src/internal/wake"
)

type grantMaker = action.Granter

// Options configure a Service. Zero values mean the production defaults.
type Options struct {
	// Load reads the configuration again (knockd.conf or UCI).
	Load       func() (*config.Config, error)
	ConfigPath string
	Env        door.Env
	Log        *logx.Logger
	// NewSource returns the source of the frames of the devices to capture
	// on (capture.NewGroup in production).
	NewSource func(devices []string) daemon.Source
	// Backend makes a firewall backend (firewall.New); Detect picks one for
	// firewall = auto (firewall.Detect).
	Backend func(kind string, o firewall.Options) (firewall.Backend, error)
	Detect  func() string
	Waker   wake.Waker
	// Mailer makes the mailer of a configuration (a Sendmail running the
	// sendmail option as sendmail_user).
	Mailer func(*door.Set) mail.Mailer
	// Starter starts door commands and the sendmail program: the
	// spawner where knockd runs as root; nil starts them from this
	// process.
	Starter spawn.Starter
	Now     func() time.Time
	Lookup  func(netip.Addr) string
	// ReassertEvery is how often active grants are checked against a
	// firewall reload (2 s); FirewallRetry how often a firewall that is not
	// up yet is tried again (2 s).
	ReassertEvery time.Duration
	FirewallRetry time.Duration
	// Actions tunes the action pool (tests); Workers and the like.
	Actions action.Options
	// Version is reported by the status; DeviceStatus, when set, tells the
	// state of the capture devices.
	Version      string
	DeviceStatus func() []control.Device
	// Open, when set, opens the files the daemon keeps — the replay
	// journal, one-time sequences files — for a daemon that runs as a
	// user who may not open them itself: the spawner's Open.
	Open Opener

	// What Run needs besides the packet path (tests leave them out):

	// Signals, when set, are the daemon's signals (see Run).
	Signals <-chan os.Signal
	// Stopping runs when a stop signal arrived (knockd stops catching
	// them: a second ^C kills at once).
	Stopping func()
	// Spawner, when set, is watched (see Run).
	Spawner Watched
	// Listen opens the control socket once the packet path is ready;
	// nil, or a nil server, for none.
	Listen func(control.Handler) (*control.Server, error)
	// OnReady runs once the daemon serves (the -d parent's report).
	OnReady func()
	// OnReload runs after a reload took the new configuration (the log
	// file is opened again).
	OnReload func(*config.Config)
}

// Opener opens (or changes) what op names at path.
type Opener func(op spawn.FileOp, path string) (*os.File, error)

// Service is a running knockd.
type Service struct {
	o      Options
	log    *logx.Logger
	src    daemon.Source
	runner *command.Runner
	lines  *logx.Limiter // per-door log lines, shared by the packet path, commands and actions
	d      *daemon.Daemon

	mu      sync.Mutex // held while reloading
	cfg     *config.Config
	set     *door.Set
	fw      *fw
	acts    *action.Actions
	replays *replayStore
	started time.Time

	// retired counts the action pools a reload replaced that still finish
	// their queue; Shutdown waits for them, and cuts them short through
	// stopRetired when its own deadline passes.
	retired     sync.WaitGroup
	retiredCtx  context.Context
	stopRetired context.CancelFunc
}

// New compiles cfg and builds the service. It returns an error for what
// cannot work: a configuration that does not compile, a firewall backend
// that is missing or refuses its set-up, a kernel filter the kernel
// refuses.
func New(o Options, cfg *config.Config) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = logx.Discard()
	}
	if o.Backend == nil {
		o.Backend = firewall.New
	}
	if o.Detect == nil {
		o.Detect = firewall.Detect
	}
	if o.Waker == nil {
		o.Waker = &wake.Raw{}
	}
	if o.Mailer == nil && feature.Mail {
		o.Mailer = func(set *door.Set) mail.Mailer { return sendmail(set, o.Starter) }
	}
	if o.ReassertEvery == 0 {
		o.ReassertEvery = 2 * time.Second
	}
	if o.FirewallRetry <= 0 {
		o.FirewallRetry = 2 * time.Second
	}
	s := &Service{o: o, log: o.Log, cfg: cfg, started: o.Now()}
	s.retiredCtx, s.stopRetired = context.WithCancel(context.Background())
	if o.Open != nil {
		s.replays = openReplayStoreOn(cfg.Options.SPAReplayFile, spawnerJournal{o.Open}, o.Log, o.Now)
	} else {
		s.replays = openReplayStore(cfg.Options.SPAReplayFile, o.Log, o.Now)
	}
	set, err := s.compile(cfg)
	if err != nil {
		return nil, err
	}
	s.set = set
	s.logDown(set)
	s.src = o.NewSource(set.Devices)
	f, err := s.startFirewall(firewallKind(cfg, o.Detect))
	if err != nil {
		return nil, err
	}
	s.fw = f
	s.lines = daemon.DoorLines(o.Log, o.Now)
	s.runner = command.NewRunner(command.Options{Max: cfg.Options.MaxChildren, Log: o.Log, Limit: s.lines, Credential: set.CommandUser, Starter: o.Starter})
	s.acts = s.newActions(set)
	s.d, err = daemon.New(set, daemon.Options{
		Log:         o.Log,
		DoorLines:   s.lines,
		Source:      s.src,
		Runner:      s.runner,
		Acter:       s.acts,
		Now:         o.Now,
		NoIPv6:      o.Env.NoIPv6,
		Lookup:      o.Lookup,
		MaxAttempts: cfg.Options.MaxAttempts,
		Burnt:       s.replays.Burnt(),
		OnBurn:      s.replays.Burn,
	})
	if err != nil {
		s.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

// compile compiles cfg for this service. SPA doors get their replay
// cache from the store; when it could not read what was accepted before
// this start, packets stamped earlier are refused.
func (s *Service) compile(cfg *config.Config) (*door.Set, error) {
	return s.compileOn(cfg, nil)
}

// compileOn compiles cfg with the capture devices devs (nil: the -i
// devices, else the configuration's).
func (s *Service) compileOn(cfg *config.Config, devs []string) (*door.Set, error) {
	env := s.o.Env
	if devs != nil {
		env.Interfaces = devs
	}
	env.Now = s.o.Now
	env.Replay = s.replays.cache
	env.NotBefore = s.replays.NotBefore()
	if open := s.o.Open; open != nil {
		env.OpenOneTime = func(path string) (*os.File, error) { return open(spawn.OpenOneTime, path) }
	}
	set, err := door.Compile(cfg, env)
	if err == nil {
		s.replays.sync(slices.ContainsFunc(set.Doors, func(d *door.Door) bool { return d.Rotate != nil }))
	}
	return set, err
}

// appendMissing returns a followed by the elements of b not in a.
func appendMissing(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Ready is closed once the packet source captures on every device or
// waits for the absent ones (when the source tells; else at once).
func (s *Service) Ready() <-chan struct{} {
	if r, ok := s.src.(interface{ Ready() <-chan struct{} }); ok {
		return r.Ready()
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (s *Service) newActions(set *door.Set) *action.Actions {
	o := s.o.Actions
	o.Firewall = s.fw.granter()
	o.Commands = s.runner
	o.Waker = s.o.Waker
	if s.o.Mailer != nil {
		o.Mailer = s.o.Mailer(set)
	}
	o.MailFrom = set.Options.MailFrom
	if o.MailEvery == 0 {
		o.MailEvery = set.Options.NotifyInterval
	}
	if o.MailPerHour == 0 {
		o.MailPerHour = set.Options.NotifyPerHour
	}
	o.Log = s.log
	o.Limit = s.lines
	o.Now = s.o.Now
	return action.New(o)
}

// sendmail is the production mailer: the sendmail option's program, run
// as sendmail_user by st, with the envelope sender of mail_from (busybox
// sendmail needs it).
func sendmail(set *door.Set, st spawn.Starter) mail.Mailer {
	o := set.Options
	m := &mail.Sendmail{Path: o.Sendmail, Credential: set.SendmailUser, Starter: st}
	if o.MailFrom.Addr != "" {
		m.Args = []string{"-f", o.MailFrom.Addr}
	}
	return m
}

// Reload reads and compiles the configuration again. A configuration that
// does not load or compile is logged and returned, and the running one
// stays. Doors whose knock did not change keep their attempts in progress
// and cool-downs; the actions (firewall backend, sendmail, mail_from) are
// rebuilt, and grants stay unless the firewall backend changed.
func (s *Service) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Printf("re-reading config file: %s", s.o.ConfigPath)
	s.d.Settle() // a one-time sequence being marked used is written first
	cfg, err := s.o.Load()
	var set *door.Set
	if err == nil {
		set, err = s.compile(cfg)
	}
	if err != nil {
		for _, e := range config.List(err) { // every error, one a line
			s.log.Printf("error: %v", e)
		}
		s.log.Printf("config not reloaded: keeping the running configuration")
		return err
	}
	if !slices.Equal(set.Devices, s.set.Devices) {
		s.log.Printf("warning: capture devices %v need a restart; still listening on %v", set.Devices, s.set.Devices)
		// A door's devices are indexes into the capture's list: compile
		// again on the running devices, then the new ones (which nothing
		// captures until a restart).
		if set, err = s.compileOn(cfg, appendMissing(s.set.Devices, set.Devices)); err != nil {
			s.log.Printf("error: %v", err)
			s.log.Printf("config not reloaded: keeping the running configuration")
			return err
		}
		set.Devices = s.set.Devices
	}
	// sendmail_user goes with the actions, rebuilt below; these are kept
	// by the runner and the match table from the start.
	if cfg.Options.MaxChildren != s.cfg.Options.MaxChildren || cfg.Options.MaxAttempts != s.cfg.Options.MaxAttempts ||
		cfg.Options.CommandUser != s.cfg.Options.CommandUser {
		s.log.Printf("warning: max_children, max_attempts and command_user changes need a restart")
	}
	if kind := firewallKind(cfg, s.o.Detect); kind != s.fw.kind {
		f, err := s.startFirewall(kind)
		if err != nil {
			s.log.Printf("error: %v", err)
			s.log.Printf("config not reloaded: keeping the running configuration")
			return err
		}
		s.log.Printf("firewall %s replaces %s: grants of %s removed", kind, s.fw.kind, s.fw.kind)
		old := s.fw
		s.fw = f
		if err := old.close(); err != nil {
			s.log.Printf("error: firewall: %v", err)
		}
	}
	old := s.acts
	s.acts = s.newActions(set)
	if err := s.d.Reload(set, s.acts); err != nil {
		s.log.Printf("error: %v", err)
	}
	s.cfg, s.set = cfg, set
	s.logDown(set)
	// The old pool finishes what it has queued; Shutdown waits for it
	// (Add under s.mu, as Shutdown's Wait is).
	s.retired.Add(1)
	go func() {
		defer s.retired.Done()
		ctx, cancel := context.WithTimeout(s.retiredCtx, time.Minute)
		defer cancel()
		old.Close(ctx)
	}()
	return nil
}

// logDown names the doors that wait for a network that is not up.
func (s *Service) logDown(set *door.Set) {
	for _, d := range set.Doors {
		if len(d.Down) > 0 {
			s.log.Printf("door %s: %s is not up: no knocks there until it is (knockd restarts then)", d.Name, strings.Join(d.Down, " "))
		}
	}
}

// Config returns the running configuration.
func (s *Service) Config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Reassert checks the active grants against the firewall now and restores
// what a firewall reload removed (the firewall hook's signal).
func (s *Service) Reassert() {
	s.mu.Lock()
	f := s.fw
	s.mu.Unlock()
	if f.mgr != nil {
		f.mgr.Reassert()
	}
}

// Stats returns the counters, for SIGUSR1.
func (s *Service) Stats() string {
	s.mu.Lock()
	acts := s.acts
	s.mu.Unlock()
	a := acts.Stats()
	return s.d.Stats() + ", mails sent " + strconv.FormatUint(a.Mails, 10) +
		", mails left out " + strconv.FormatUint(a.MailsSuppressed+a.MailsDropped, 10)
}

// Shutdown stops what runs: pending stop commands run (bounded by ctx),
// queued actions finish, the pools a reload replaced finish theirs (cut
// short when ctx is done), every grant is removed.
func (s *Service) Shutdown(ctx context.Context) {
	if s.runner != nil {
		s.runner.Shutdown(ctx)
	}
	stop := context.AfterFunc(ctx, s.stopRetired)
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acts.Close(ctx)
	s.retired.Wait()
	s.stopRetired()
	if err := s.fw.close(); err != nil {
		s.log.Printf("error: firewall: %v", err)
	}
	s.replays.close()
}

// Capabilities returns the capabilities the daemon needs: raw packets
// and the firewall. Children are the spawner's (which keeps what
// switching users and running commands as root need).
func Capabilities() []int {
	return []int{privs.NetRaw, privs.NetAdmin}
}

// Devices returns the capture devices.
func (s *Service) Devices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.Devices
}
