package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/spa"
)

// replay is shared by every SPA door and survives reloads.
var replay = spa.NewReplayCache(spa.DefaultReplayCap)

// started refuses packets stamped before this run began, since the replay
// cache does not survive restarts.
var started = time.Now()

// spaDoor checks SPA packets for one door and turns them into grants.
type spaDoor struct {
	door *config.Door
	v    *spa.Verifier
}

func newSPA(d *config.Door) (daemon.SPAChecker, error) {
	s := d.SPA
	p := spa.Policy{
		Keys:               spa.Keys{Rijndael: s.Key, HMAC: s.HMACKey, HMACDigest: s.HMACDigest},
		MaxAge:             s.MaxAge,
		NotBefore:          started.Add(-s.MaxAge),
		AllowAnySource:     s.AllowAnySource,
		RequireSourceMatch: true,
		MaxClientTimeout:   s.MaxClientTimout,
		AllowCommands:      s.AllowCommands,
		AllowNAT:           s.AllowNAT && len(d.Forward) > 0,
	}
	for _, o := range d.Open {
		p.AllowPorts = append(p.AllowPorts, spa.Port{Proto: config.ProtoName(o.Proto), Port: o.Port})
	}
	for _, f := range d.Forward {
		p.AllowPorts = append(p.AllowPorts, spa.Port{Proto: config.ProtoName(f.Proto), Port: f.Port})
		p.AllowNATTo = append(p.AllowNATTo, netip.PrefixFrom(f.To.Addr(), f.To.Addr().BitLen()))
	}
	// A door without open or forward (commands only) leaves AllowPorts
	// empty: Check then refuses every access request itself.
	v, err := spa.NewVerifier(p, time.Now, replay)
	if err != nil {
		return nil, err
	}
	return &spaDoor{door: d, v: v}, nil
}

// Check authenticates a payload and returns what to grant: the requested
// ports among the door's open ports, or for a NAT request the door's
// forward to the requested host and port.
func (s *spaDoor) Check(payload []byte, src netip.Addr) (*daemon.Grant, string, error) {
	m, err := s.v.Verify(payload, src)
	if err != nil {
		if !spa.ReasonOf(err).Authenticated() {
			return nil, "", daemon.Unauthenticated(err)
		}
		return nil, "", err
	}
	g := &daemon.Grant{Duration: m.Timeout}
	if m.Type == spa.TypeCommand {
		g.Command = m.Command
		return g, m.User, nil
	}
	for _, p := range m.Ports {
		proto := config.TCP
		if p.Proto == "udp" {
			proto = config.UDP
		}
		if m.Type.HasNAT() {
			for _, f := range s.door.Forward {
				if f.Proto == proto && f.Port == p.Port && f.To.Addr() == m.NATTo.Addr() && f.To.Port() == m.NATTo.Port() {
					g.Forward = append(g.Forward, f)
				}
			}
			continue
		}
		for _, o := range s.door.Open {
			if o.Proto == proto && o.Port == p.Port {
				g.Open = append(g.Open, o)
			}
		}
	}
	if len(g.Open) == 0 && len(g.Forward) == 0 {
		return nil, "", fmt.Errorf("spa: request %q matches no open or forward of the door", m.Access)
	}
	return g, m.User, nil
}
