package door

import (
	"net/netip"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/grant"
)

// Success is one door opening for one address: what the packet path
// (package daemon) hands to the actions (package action), which start
// its command and make its grant, wake-up and mail off the packet path.
type Success struct {
	Door *Door
	Src  netip.Addr
	At   time.Time
	// Grant is what to open: the door's, or what an SPA packet asked for.
	Grant    grant.Spec
	Duration time.Duration
	// Start is the start command for Src (%IP% not replaced; empty: none)
	// and Stop the stop command run Timeout after it, as knockd pairs
	// them. SPA marks an SPA client's command, which has no stop command.
	Start, Stop string
	Timeout     time.Duration
	SPA         bool
	// Report, when set, is told what became of the start command (the
	// words of the status and the mail: "started: CMD", "not run (…):
	// CMD"), and whether the other actions were then dropped (their queue
	// full). It is called once, from the goroutine that started the
	// command, and only for a success with a start command that Do
	// queued.
	Report func(command string, dropped bool)
}
