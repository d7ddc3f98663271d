package spawn

import (
	"slices"
	"strconv"
)

// FileOp is a file the daemon, which runs as an unprivileged user, has
// the spawner open (or change) for it. The request names the path, and
// the spawner refuses any path its own configuration does not name for
// that use; the flags of each open are the spawner's.
type FileOp uint8

// File operations.
const (
	OpenLog       FileOp = 1 + iota // the log file, for appending (created 0640)
	OpenLock                        // a lock file of the daemon's instance (created 0644)
	OpenPid                         // the pid file, truncated, for writing (created 0644)
	OpenOneTime                     // a one_time_sequences file, for reading and writing
	ReadReplay                      // the SPA replay journal, for reading
	WriteReplay                     // the SPA replay journal, for writing (to cut it short)
	CreateReplay                    // a new journal (PATH.new), root's, 0600
	CommitReplay                    // PATH.new renamed over PATH; opens nothing
	DiscardReplay                   // PATH.new removed; opens nothing
	ListenControl                   // the control socket, bound (mode 0600) and listening
	lastFileOp    = ListenControl
)

func (op FileOp) String() string {
	switch op {
	case OpenLog:
		return "log file"
	case OpenLock:
		return "lock file"
	case OpenPid:
		return "pid file"
	case OpenOneTime:
		return "one-time sequences file"
	case ReadReplay, WriteReplay, CreateReplay, CommitReplay, DiscardReplay:
		return "replay journal"
	case ListenControl:
		return "control socket"
	}
	return "file op " + strconv.Itoa(int(op))
}

// Files are the paths the daemon may have the spawner open, from the
// configuration (and command line) the spawner read itself.
type Files struct {
	LogFile       string
	PidFile       string
	ControlSocket string
	Locks         []string // the instance's lock files
	OneTime       []string // one_time_sequences files
	Replay        string   // the SPA replay journal
}

// allowed reports whether the policy lets the daemon have path opened
// for op.
func (f *Files) allowed(op FileOp, path string) bool {
	if path == "" {
		return false
	}
	switch op {
	case OpenLog:
		return path == f.LogFile
	case OpenPid:
		return path == f.PidFile
	case OpenLock:
		return slices.Contains(f.Locks, path)
	case OpenOneTime:
		return slices.Contains(f.OneTime, path)
	case ReadReplay, WriteReplay, CreateReplay, CommitReplay, DiscardReplay:
		return path == f.Replay
	case ListenControl:
		return path == f.ControlSocket
	}
	return false
}
