package control

import (
	"fmt"
	"strings"
	"time"
)

// Text renders the status for people: `knockd status`.
func (s Status) Text() string {
	var b strings.Builder
	if !s.Running {
		return "knockd is not running\n"
	}
	up := s.Now.Sub(s.Started).Round(time.Second)
	fmt.Fprintf(&b, "knockd %s, running since %s (%s)\n", s.Version, s.Started.Format("2006-01-02 15:04:05"), up)
	b.WriteString("\ndevices:\n")
	for _, d := range s.Devices {
		state := "absent"
		if d.Present {
			state = "present"
		}
		var addrs []string
		for _, a := range d.Addresses {
			addrs = append(addrs, a.String())
		}
		fmt.Fprintf(&b, "  %-16s %-8s %s\n", d.Name, state, strings.Join(addrs, " "))
	}
	b.WriteString("\ndoors:\n")
	for _, d := range s.Doors {
		dev := "all devices"
		if len(d.Devices) > 0 {
			dev = strings.Join(d.Devices, " ")
		}
		fmt.Fprintf(&b, "  %-16s %-9s attempts %-5d on %s\n", d.Name, d.Kind, d.Attempts, dev)
		for _, a := range d.Actions {
			fmt.Fprintf(&b, "  %-16s   %s\n", "", a)
		}
	}
	b.WriteString("\ngrants:\n")
	if len(s.Grants) == 0 {
		b.WriteString("  none\n")
	}
	for _, g := range s.Grants {
		fmt.Fprintf(&b, "  %-16s %-39s %s, until %s (%s)\n", g.Door, g.Source, g.What,
			g.Until.Format("15:04:05"), max(g.Until.Sub(s.Now), 0).Round(time.Second))
	}
	b.WriteString("\ncounters:\n")
	for i, c := range s.Counters {
		fmt.Fprintf(&b, "  %-22s %-12d", c.Name, c.Value)
		if i%2 == 1 || i == len(s.Counters)-1 {
			b.WriteByte('\n')
		}
	}
	for _, l := range []struct {
		title string
		ev    []Event
	}{{"last successes", s.Opened}, {"last rejections", s.Rejected}} {
		fmt.Fprintf(&b, "\n%s:\n", l.title)
		if len(l.ev) == 0 {
			b.WriteString("  none\n")
		}
		for _, e := range l.ev {
			fmt.Fprintf(&b, "  %s  %-16s %-39s %s\n", e.Time.Format("01-02 15:04:05"), e.Door, e.Source, e.What)
		}
	}
	return b.String()
}
