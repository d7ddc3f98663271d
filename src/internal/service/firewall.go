package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// fw is the running firewall backend and its grant manager; nil manager
// for firewall = none.
type fw struct {
	kind   string
	mgr    *firewall.Manager
	cancel context.CancelFunc
	done   chan struct{}
}

// firewallKind resolves the firewall option: "none" when no door opens or
// forwards anything and the option is auto, the detected backend for
// auto, else the option.
func firewallKind(cfg *config.Config, detect func() string) string {
	kind := cfg.Options.Firewall
	if kind != "auto" {
		return kind
	}
	for _, d := range cfg.Doors {
		if len(d.Open) > 0 || len(d.Forward) > 0 {
			return detect()
		}
	}
	return "none"
}

// startFirewall makes the backend of kind and its manager. An fw4 table
// that does not exist yet (fw4 starts after knockd at boot) is waited for
// in the background; any other failure is returned.
func (s *Service) startFirewall(kind string) (*fw, error) {
	f := &fw{kind: kind}
	if kind == "none" {
		return f, nil
	}
	o := firewall.Options{IPv6: true}
	backend := kind
	switch kind {
	case "iptables-legacy", "iptables-nft":
		// Debian's (and OpenWrt's) two iptables variants.
		v := kind[len("iptables"):]
		o.IptablesPath, o.Ip6tablesPath = "iptables"+v, "ip6tables"+v
		backend = "iptables"
	}
	// The backends' errors name the program (iptables, ip6tables, fw4);
	// the variant is added only where the kind says more than that.
	where := "firewall"
	if kind != backend {
		where += " " + kind
	}
	b, err := s.o.Backend(backend, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	initErr := b.Init()
	if initErr != nil && backend != "fw4" {
		return nil, fmt.Errorf("%s: %w", where, initErr)
	}
	f.mgr = firewall.NewManager(b, firewall.ManagerOptions{
		ReassertEvery: s.o.ReassertEvery,
		Log:           s.log,
		Now:           s.o.Now,
		OnExpire: func(g firewall.Grant) {
			s.log.Printf("%s: %s: closed %s", g.Src, g.Door, g.Spec)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		if initErr != nil {
			s.log.Printf("warning: firewall %s not ready (%v); retrying every %v", kind, initErr, s.o.FirewallRetry)
			// The manager runs meanwhile: grants made now are kept for
			// the firewall, and those that end are closed on time.
			ready := make(chan struct{})
			defer func() { <-ready }()
			go func() {
				defer close(ready)
				if waitFirewall(ctx, b.Name(), f.mgr.Ensure, s.o.FirewallRetry, s.log) {
					// Grants made meanwhile failed or were kept for this moment.
					f.mgr.Reassert()
				}
			}()
		}
		_ = f.mgr.Run(ctx)
	}()
	s.log.Debugf("firewall backend: %s", kind)
	return f, nil
}

// waitFirewall retries ensure (Manager.Ensure: nothing already in place
// is removed) until the firewall is ready; false when ctx ended or the
// manager was closed first.
func waitFirewall(ctx context.Context, name string, ensure func() error, every time.Duration, log *logx.Logger) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
		err := ensure()
		if err == nil {
			log.Printf("firewall %s is ready", name)
			return true
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, firewall.ErrClosed) {
			return false
		}
	}
}

// close removes every grant still open and stops the manager.
func (f *fw) close() error {
	if f == nil || f.mgr == nil {
		return nil
	}
	err := f.mgr.Close()
	f.cancel()
	<-f.done
	return err
}

// granter returns the manager as the actions' firewall (nil for none).
func (f *fw) granter() grantMaker {
	if f.mgr == nil {
		return nil
	}
	return f.mgr
}
