package control

import (
	"net/netip"
	"strconv"
)

// Flat renders the status as one object of scalar members, for readers
// without a JSON library (knockd doctor reads it with ParseFlat): running,
// version, started, now, devices, device.N.name, device.N.present,
// device.N.addresses (space-separated), doors, door.N.name, door.N.kind,
// door.N.attempts, door.N.last_time, door.N.last_source, door.N.last_what.
func (s Status) Flat() []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("running").Bool(s.Running)
	w.Key("version").Str(s.Version)
	w.Key("started").Int(unixTime(s.Started))
	w.Key("now").Int(unixTime(s.Now))
	w.Key("devices").Int(int64(len(s.Devices)))
	for i, d := range s.Devices {
		p := "device." + strconv.Itoa(i) + "."
		w.Key(p + "name").Str(d.Name)
		w.Key(p + "present").Bool(d.Present)
		var addrs []byte
		for j, a := range d.Addresses {
			if j > 0 {
				addrs = append(addrs, ' ')
			}
			addrs = a.AppendTo(addrs)
		}
		w.Key(p + "addresses").Str(string(addrs))
	}
	w.Key("doors").Int(int64(len(s.Doors)))
	for i, d := range s.Doors {
		p := "door." + strconv.Itoa(i) + "."
		w.Key(p + "name").Str(d.Name)
		w.Key(p + "kind").Str(d.Kind)
		w.Key(p + "attempts").Int(int64(d.Attempts))
		w.Key(p + "last_time").Int(unixTime(d.Last.Time))
		w.Key(p + "last_source").Str(addrString(d.Last.Source))
		w.Key(p + "last_what").Str(d.Last.What)
	}
	w.Close('}')
	return w.Bytes()
}

// maxFlat bounds a flat status: 100 doors and 63 devices fit many times.
const maxFlat = 256 << 10

// ParseFlat reads a reply of Flat (or an error reply: its "error" member).
func ParseFlat(reply []byte) (map[string]string, error) {
	return parseObjectMax(trimNewline(reply), maxFlat)
}

// addrString is "" for the zero address.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
