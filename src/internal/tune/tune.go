// Package tune sets the Go runtime up for the machine the daemon runs on:
// a router with one slow core and tens of megabytes of memory, shared
// with everything else it runs.
package tune

import (
	"os"
	"runtime/debug"
)

// Daemon tunes the runtime for the long-running daemon. Call it once, at
// its start; GOGC and GOMEMLIMIT in the environment override what it sets.
func Daemon() {
	if os.Getenv("GOGC") == "" {
		// Routers have little memory: collect at +50% heap instead of +100%
		// (the attempt table is the live heap under a flood).
		debug.SetGCPercent(50)
	}
	if profile != nil {
		profile()
	}
}

// profile, when set (the knockd_profile build tag), starts the profiles
// a benchmark asked for.
var profile func()
