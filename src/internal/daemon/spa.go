package daemon

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/spa"
)

// handleSPA checks an SPA payload against the doors listening on its
// port, at now. d.mu is held.
func (d *Daemon) handleSPA(slots []int, dev int, src, dst netip.Addr, local bool, payload []byte, now time.Time) {
	for _, i := range slots {
		dr := d.slots[i].door
		if dr.Knock.Devices != 0 && dr.Knock.Devices&(1<<(uint(dev)&63)) == 0 {
			continue
		}
		if dr.Knock.Target.IsValid() {
			if dst != dr.Knock.Target {
				continue
			}
		} else if !local {
			continue
		}
		req, err := dr.SPA.Check(payload, src)
		if err != nil {
			d.stats.spaRejected++
			*d.slots[i].last = Last{At: now, Src: src, Err: err}
			// Garbage (anyone can send it) is limited across doors; what
			// passed the HMAC (a key holder, or a replay) per door.
			switch r := spa.ReasonOf(err); {
			case !r.Authenticated():
				if !d.firstKnocks.Allow("SPA garbage") {
					continue
				}
			case r == spa.ReasonReplay || r == spa.ReasonStale:
				// Anyone who captured one packet can send it again at
				// any rate: a line a second, then a count.
				if !d.replays.Allow(dr.Name + " replays") {
					continue
				}
				d.rejected.add(Event{At: now, Door: dr.Name, Src: src, What: err.Error()})
			default:
				d.rejected.add(Event{At: now, Door: dr.Name, Src: src, What: err.Error()})
			}
			d.doorLines.Printf(dr.Name, "%s: %s: SPA packet rejected: %s", d.names.name(src), dr.Name, err)
			continue
		}
		d.stats.spaAccepted++
		user := ""
		if req.User != "" {
			user = " (user " + strconv.Quote(req.User) + ")"
		}
		d.doorLines.Printf(dr.Name, "%s: %s: SPA accepted%s", d.names.name(src), dr.Name, user)
		d.doorLines.Printf(dr.Name, "%s: %s: OPEN SESAME", d.names.name(src), dr.Name)
		d.success(i, src, now, &req)
		return
	}
}
