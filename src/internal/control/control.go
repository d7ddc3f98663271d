// Package control is knockd-go's control interface: a unix socket (root
// only) on which `knockd status` and `knockd revoke` ask the running
// daemon, and the same requests answered to rpcd, OpenWrt's ubus
// gateway, for which the knockd binary is a plugin. Requests and replies
// are JSON objects.
package control

import (
	"net/netip"
	"time"
)

// Status is what the daemon is doing.
type Status struct {
	Running  bool
	Version  string
	Started  time.Time
	Now      time.Time
	Devices  []Device
	Doors    []Door
	Grants   []Grant
	Counters []Counter // in the order they are shown
	Opened   []Event   // the last successes, newest first
	Rejected []Event   // the last rejections, newest first
}

// Device is a capture device.
type Device struct {
	Name      string
	Present   bool
	Addresses []netip.Addr
}

// Door is a running door.
type Door struct {
	Name     string
	Kind     string // knock, spa, rotating
	Devices  []string
	Actions  []string // "open tcp/22", "forward …", "wake …", "notify …", "command"
	Attempts int      // knocks in progress (and cool-downs)
	Last     Event    // the last knock seen since the daemon started (zero Time: none)
}

// Grant is an open grant.
type Grant struct {
	_      [0]func() // not comparable: no equality function in the binary
	Door   string
	Source netip.Addr
	What   string // "tcp/22, forward tcp/3389->192.168.1.10:3389"
	Until  time.Time
}

// Counter is one of the counters SIGUSR1 logs.
type Counter struct {
	_     [0]func() // not comparable: no equality function in the binary
	Name  string
	Value uint64
}

// Event is one success or rejection.
type Event struct {
	_      [0]func() // not comparable: no equality function in the binary
	Time   time.Time
	Door   string
	Source netip.Addr
	What   string
}

// Handler answers the requests.
type Handler interface {
	Status() Status
	// Revoke closes the grant of door for source now; it returns how
	// many grants it closed (0 when there was none).
	Revoke(door string, source netip.Addr) (int, error)
}

// JSON renders the status as the control socket and `ubus call knockd
// status` return it.
func (s Status) JSON() []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("running").Bool(s.Running)
	w.Key("version").Str(s.Version)
	w.Key("started").Int(unixTime(s.Started))
	w.Key("now").Int(unixTime(s.Now))
	w.Key("devices").Open('[')
	for _, d := range s.Devices {
		w.Open('{')
		w.Key("name").Str(d.Name)
		w.Key("present").Bool(d.Present)
		w.Key("addresses").Open('[')
		for _, a := range d.Addresses {
			w.Str(a.String())
		}
		w.Close(']')
		w.Close('}')
	}
	w.Close(']')
	w.Key("doors")
	s.doorsJSON(&w)
	w.Key("grants").Open('[')
	for _, g := range s.Grants {
		w.Open('{')
		w.Key("door").Str(g.Door)
		w.Key("source").Str(g.Source.String())
		w.Key("what").Str(g.What)
		w.Key("until").Int(unixTime(g.Until))
		w.Key("expires_in").Int(max(int64(g.Until.Sub(s.Now).Round(time.Second)/time.Second), 0))
		w.Close('}')
	}
	w.Close(']')
	w.Key("counters").Open('{')
	for _, c := range s.Counters {
		w.Key(c.Name).Uint(c.Value)
	}
	w.Close('}')
	w.Key("recent").Open('{')
	for _, l := range []struct {
		name string
		ev   []Event
	}{{"opened", s.Opened}, {"rejected", s.Rejected}} {
		w.Key(l.name).Open('[')
		for _, e := range l.ev {
			w.Open('{')
			w.Key("time").Int(unixTime(e.Time))
			w.Key("door").Str(e.Door)
			w.Key("source").Str(e.Source.String())
			w.Key("what").Str(e.What)
			w.Close('}')
		}
		w.Close(']')
	}
	w.Close('}')
	w.Close('}')
	return w.Bytes()
}

// DoorsJSON renders {"doors": [...]}.
func (s Status) DoorsJSON() []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("doors")
	s.doorsJSON(&w)
	w.Close('}')
	return w.Bytes()
}

func (s Status) doorsJSON(w *jsonWriter) {
	w.Open('[')
	for _, d := range s.Doors {
		w.Open('{')
		w.Key("name").Str(d.Name)
		w.Key("kind").Str(d.Kind)
		w.Key("devices").Strs(d.Devices)
		w.Key("actions").Strs(d.Actions)
		w.Key("attempts").Int(int64(d.Attempts))
		w.Key("last_knock").Open('{')
		w.Key("time").Int(unixTime(d.Last.Time))
		w.Key("source").Str(addrString(d.Last.Source))
		w.Key("what").Str(d.Last.What)
		w.Close('}')
		w.Close('}')
	}
	w.Close(']')
}

func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
