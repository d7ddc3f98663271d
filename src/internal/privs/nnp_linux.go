package privs

import (
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// StartUnprivileged starts c with no_new_privs set: neither it nor its
// children can gain privileges through set-user-ID programs or file
// capabilities. The flag belongs to the thread that forks, so c is started
// from a thread of its own, which is discarded afterwards (a goroutine
// that ends locked to its thread takes the thread with it); the daemon's
// other threads keep theirs.
func StartUnprivileged(c *exec.Cmd) error {
	errc := make(chan error, 1)
	go startNNP(c, errc)
	return <-errc
}

func startNNP(c *exec.Cmd, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The process's main thread must not be tainted (and is never
		// discarded): hold it, so that a new goroutine runs elsewhere.
		done := make(chan struct{})
		go func() { startNNP(c, errc); close(done) }()
		<-done
		runtime.UnlockOSThread()
		return
	}
	// Never unlocked: the thread ends with this goroutine.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		errc <- err
		return
	}
	errc <- c.Start()
}
