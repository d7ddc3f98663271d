package service

import (
	"net/netip"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/door"
)

// Status is what the control socket and rpcd report.
func (s *Service) Status() control.Status {
	d := s.d.Status()
	st := control.Status{Running: true, Version: s.o.Version, Started: s.started, Now: s.o.Now()}
	if s.o.DeviceStatus != nil {
		st.Devices = s.o.DeviceStatus()
	} else {
		for _, n := range s.Devices() {
			st.Devices = append(st.Devices, control.Device{Name: n, Present: true})
		}
	}
	for _, ds := range d.Doors {
		st.Doors = append(st.Doors, control.Door{Name: ds.Door.Name, Kind: ds.Door.Kind.String(),
			Devices: ds.Door.Devices, Actions: actions(ds.Door), Attempts: ds.Attempts,
			Last: control.Event{Time: ds.Last.At, Door: ds.Door.Name, Source: ds.Last.Src, What: ds.Last.What()}})
	}
	s.mu.Lock()
	f := s.fw
	s.mu.Unlock()
	if f.mgr != nil {
		for _, g := range f.mgr.Active() {
			st.Grants = append(st.Grants, control.Grant{Door: g.Door, Source: g.Src, What: g.Spec.String(), Until: g.Until})
		}
	}
	// Command doors' sessions: their stop command waits.
	for _, cs := range s.runner.Sessions() {
		if a, err := netip.ParseAddr(cs.IP); err == nil {
			st.Grants = append(st.Grants, control.Grant{Door: cs.Door, Source: a, What: "command session (then: " + cs.Stop + ")", Until: cs.Due})
		}
	}
	c := d.Counters
	for _, kv := range []struct {
		name string
		v    uint64
	}{
		{"packets", c.Packets}, {"kernel_packets", c.KernelPackets}, {"kernel_drops", c.KernelDrops},
		{"attempts", uint64(c.Attempts)}, {"sources", uint64(c.Sources)}, {"evictions", c.Evictions},
		{"ignored_sources", c.Ignored}, {"successes", c.Successes}, {"actions_dropped", c.ActionsDropped},
		{"spa_accepted", c.SPAAccepted}, {"spa_rejected", c.SPARejected}, {"rotating_replays", c.RotatingReplays}, {"panics", c.Panics},
		{"running_commands", uint64(c.Running)}, {"pending_stop_commands", uint64(c.Pending)},
	} {
		st.Counters = append(st.Counters, control.Counter{Name: kv.name, Value: kv.v})
	}
	for _, e := range d.Opened {
		st.Opened = append(st.Opened, control.Event{Time: e.At, Door: e.Door, Source: e.Src, What: e.What})
	}
	for _, e := range d.Rejected {
		st.Rejected = append(st.Rejected, control.Event{Time: e.At, Door: e.Door, Source: e.Src, What: e.What})
	}
	return st
}

// actions describes what a door does, for the status.
func actions(d *door.Door) []string {
	var out []string
	a := &d.Actions
	for _, p := range a.Grant.Open {
		out = append(out, "open "+p.String())
	}
	for _, f := range a.Grant.Forward {
		out = append(out, "forward "+f.String())
	}
	for _, w := range a.Wake {
		out = append(out, "wake "+w.MAC.String()+" on "+w.Device)
	}
	for _, n := range a.Notify {
		out = append(out, "notify "+n.String())
	}
	if start, _ := a.Commands(false); start != "" {
		out = append(out, "command "+strings.Fields(start)[0])
	}
	return out
}

// Revoke closes a grant now, and ends a command session (its stop
// command runs now).
func (s *Service) Revoke(door string, src netip.Addr) (int, error) {
	s.mu.Lock()
	f, acts := s.fw, s.acts
	s.mu.Unlock()
	src = src.Unmap()
	cmds := s.runner.StopNow(door, src.String())
	if cmds > 0 {
		s.log.Printf("%s: %s: command session revoked: the stop command runs now", src, door)
	}
	if f.mgr == nil {
		return cmds, nil
	}
	n, err := f.mgr.Revoke(door, src)
	if n > 0 {
		acts.Forget(door, src)
		s.log.Printf("%s: %s: grant revoked", src, door)
	}
	return n + cmds, err
}
