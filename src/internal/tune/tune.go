// Package tune sets the Go runtime up for the machine the daemon runs on:
// a router with one slow core and tens of megabytes of memory, shared
// with everything else it runs.
package tune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Procs gives the runtime one processor (GOMAXPROCS=1) unless GOMAXPROCS
// is in the environment (the commands it starts are not affected: the
// setting is not passed on). knockd-go's processes (the daemon, its
// spawner) do one thing at a time: the packet path holds one lock,
// the spawner serves one request after another. With a processor per core
// the runtime woke a second thread for each hand-off between goroutines
// (a knock to its command's request, a reply to its waiter), which spun,
// looked for work to steal and slept again: thread switches on the way
// from a knock to its command, 0.2-0.3 ms of its median on a two-core
// machine (make bench's latency rows), and CPU for nothing on a router.
// Call it first thing in main.
func Procs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// Daemon tunes the runtime for the long-running daemon. Call it once, at
// its start; GOGC and GOMEMLIMIT in the environment override what it sets.
func Daemon() {
	if os.Getenv("GOGC") == "" {
		// Routers have little memory: collect at +50% heap instead of +100%
		// (the attempt table is the live heap under a flood).
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if l, set := limit(ramTotal()); set {
			debug.SetMemoryLimit(l)
		}
	}
	if profile != nil {
		profile()
	}
}

// SpawnerGC is the spawner's GOGC. Its live heap is small (its
// configuration, the journal, the children it waits for), and each
// command it starts allocates a few KiB (the request, the command line,
// os/exec's copies of the argv and environment). At Go's default, whose
// smallest heap goal is 4 MiB, its heap grew by those KiB into pages it
// had never touched, a page fault every one to three commands, until a
// collection more than a thousand commands later. At 25 the goal is
// 1 MiB and the heap cycles through pages it has.
const SpawnerGC = 25

// Spawner tunes the runtime for the spawner (the child-starting process
// of the daemon). Call it once, at its start; GOGC in the environment
// overrides it.
func Spawner() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(SpawnerGC)
	}
}

// Bounds of the memory limit.
const (
	// smallRAM is the most memory a system may have for the daemon to
	// limit its own: above it, a limit would change nothing.
	smallRAM = 512 << 20
	// minLimit is the lowest limit: the runtime, a full attempt table
	// at the default size (3.5 MiB on 32-bit routers) and its collector's
	// headroom.
	minLimit = 8 << 20
)

// limit returns the soft memory limit for a system with total bytes of
// memory (ok: known), and whether to set one: a quarter of the memory of
// a system with 512 MiB or less, 8 MiB at least. It is a backstop, above
// the heap goal of a full attempt table at the default size: the
// collector runs more often near it, and returns freed memory to the
// system sooner, so that a burst (a reload, a flood of distinct sources)
// does not keep the router's memory once it is over.
func limit(total uint64, ok bool) (int64, bool) {
	if !ok || total == 0 || total > smallRAM {
		return math.MaxInt64, false
	}
	return max(int64(total/4), minLimit), true
}

// ramTotal returns the system's memory, as /proc/meminfo's MemTotal
// says it (sysinfo(2)'s totalram, in units of mem_unit), and whether it
// is known.
func ramTotal() (uint64, bool) {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0, false
	}
	return uint64(si.Totalram) * uint64(max(si.Unit, 1)), true
}

// profile, when set (the knockd_profile build tag), starts the profiles
// a benchmark asked for.
var profile func()
