package door

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/grant"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

// SPADoor checks the SPA packets of one door.
type SPADoor struct {
	Port uint16 // UDP port
	// AllowCommands: an SPA client may have a command run.
	AllowCommands bool
	v             *spa.Verifier
	open          []l4.Port
	forward       []grant.Forward
}

// Request is what an authentic SPA packet asks for, within what its door
// allows.
type Request struct {
	User     string
	Grant    grant.Spec
	Duration time.Duration // 0: the door's
	Command  string        // a command message (only where the door allows them)
}

// Check authenticates an SPA payload from src. An error is a rejection;
// spa.ReasonOf tells why, and whether the sender held the door's key.
func (s *SPADoor) Check(payload []byte, src netip.Addr) (Request, error) {
	if !feature.SPA { // never: compileSPA makes no SPADoor; drops what follows
		return Request{}, feature.Missing("SPA (fwknop)", "knockd_nospa")
	}
	m, err := s.v.Verify(payload, src)
	if err != nil {
		return Request{}, err
	}
	r := Request{User: m.User, Duration: m.Timeout}
	if m.Type == spa.TypeCommand {
		// It goes to /bin/sh and to the log: no control characters.
		for _, c := range []byte(m.Command) {
			if c < 0x20 || c == 0x7f {
				return Request{}, fmt.Errorf("command message with control character %#02x refused", c)
			}
		}
		r.Command = m.Command
		return r, nil
	}
	for _, p := range m.Ports {
		if m.Type.HasNAT() {
			for _, f := range s.forward {
				if f.Port == p && f.To == m.NATTo {
					r.Grant.Forward = append(r.Grant.Forward, f)
				}
			}
			continue
		}
		for _, o := range s.open {
			if o == p {
				r.Grant.Open = append(r.Grant.Open, o)
			}
		}
	}
	if r.Grant.Empty() {
		return Request{}, fmt.Errorf("request %q matches no open or forward of the door", m.Access)
	}
	return r, nil
}
