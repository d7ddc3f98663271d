package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/action"
	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/firewall"
	"github.com/knockd-go/knockd-go/src/logx"
	"github.com/knockd-go/knockd-go/src/mail"
	"github.com/knockd-go/knockd-go/src/wake"
)

// actionSet is the running router actions and how to stop them.
type actionSet struct {
	acts     *action.Actions
	mgr      *firewall.Manager
	cancel   context.CancelFunc
	done     chan struct{}
	backend  string
	reassert func()
}

// newActions builds the actions the configuration needs. The firewall is
// touched only when some door opens or forwards a port (or the firewall
// option names a backend explicitly).
func newActions(cfg *config.Config, log *logx.Logger) (*actionSet, error) {
	s := &actionSet{reassert: func() {}}
	sm := &mail.Sendmail{Path: cfg.Options.Sendmail}
	if from := cfg.Options.MailFrom; from != "" {
		if a, err := mail.ParseAddress(from); err == nil {
			sm.Args = []string{"-f", a.Addr} // envelope sender (busybox sendmail needs it)
		}
	}
	s.acts = &action.Actions{
		Waker:    &wake.Raw{},
		Mailer:   sm,
		MailFrom: cfg.Options.MailFrom,
		Log:      log.Printf,
	}
	needFW := false
	for _, d := range cfg.Doors {
		if len(d.Open) > 0 || len(d.Forward) > 0 {
			needFW = true
		}
	}
	kind := cfg.Options.Firewall
	if kind == "auto" {
		if !needFW {
			return s, nil
		}
		kind = firewall.Detect()
	}
	if kind == "none" {
		if needFW {
			log.Printf("warning: firewall = none: doors that open or forward ports will only log")
		}
		return s, nil
	}
	fo := firewall.Options{IPv6: true}
	switch kind {
	case "iptables-legacy", "iptables-nft":
		// Pick one of Debian's (and OpenWrt's) two iptables variants.
		v := kind[len("iptables"):]
		fo.IptablesPath, fo.Ip6tablesPath = "iptables"+v, "ip6tables"+v
		kind = "iptables"
	}
	b, err := firewall.New(kind, fo)
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	initErr := b.Init()
	if initErr != nil && kind != "fw4" {
		return nil, fmt.Errorf("firewall %s: %w", kind, initErr)
	}
	s.backend = kind
	s.mgr = firewall.NewManager(b, firewall.ManagerOptions{
		ReassertEvery: 2 * time.Second,
		Log:           func(m string) { log.Printf("%s", m) },
		OnExpire: func(g firewall.Grant) {
			log.Printf("%s: %s: closed %s", g.Src, g.Door, describeSpec(g.Spec))
		},
	})
	s.acts.Firewall = s.mgr
	s.reassert = s.mgr.Reassert
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		// fw4 may start after knockd (its table does not exist yet): keep
		// trying; grants made meanwhile are retried by the manager.
		for warned := false; initErr != nil; warned = true {
			if !warned {
				log.Printf("warning: firewall %s not ready (%v); retrying every 2s", kind, initErr)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			initErr = b.Init()
		}
		_ = s.mgr.Run(ctx)
	}()
	log.Debugf("firewall backend: %s", kind)
	return s, nil
}

// daemonActions returns the daemon.Actions view (nil when nothing to do).
func (s *actionSet) daemonActions() daemon.Actions { return s.acts }

// close removes every grant still open and stops the firewall manager.
func (s *actionSet) close() {
	if s.mgr == nil {
		return
	}
	if err := s.mgr.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "knockd: firewall: %v\n", err)
	}
	s.cancel()
	<-s.done
}

// describeSpec names what a grant opened, for the log.
func describeSpec(s firewall.Spec) string {
	var parts []string
	for _, p := range s.Open {
		parts = append(parts, fmt.Sprintf("%s/%d", p.Proto, p.Port))
	}
	for _, f := range s.Forward {
		parts = append(parts, fmt.Sprintf("forward %s/%d->%s", f.Proto, f.Port, f.To))
	}
	return strings.Join(parts, ", ")
}
