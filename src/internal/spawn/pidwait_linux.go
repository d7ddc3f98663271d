package spawn

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitExit waits in the runtime's poller until the child pid has ended,
// leaving it to be reaped (by exec.Cmd.Wait, which then returns at once).
// A goroutine blocked in wait(2) instead holds its processor in a system
// call, and for up to 10 ms after each start the runtime's monitor thread
// does not take it back but looks at it every 20 µs or so: each of those
// wake-ups preempted the command on its CPU as it started (about a
// hundred in a knock's first millisecond on a two-core VM), and on a
// router's one core they would all be the command's. False where pidfds
// cannot be waited for in the poller (Linux before 5.4): the caller waits
// in wait(2). The system calls are raw: none wakes the monitor thread.
func waitExit(pid int) bool {
	fd, _, e := unix.RawSyscall(unix.SYS_PIDFD_OPEN, uintptr(pid), 0, 0)
	if e != 0 {
		return false
	}
	if _, _, e := unix.RawSyscall(unix.SYS_FCNTL, fd, unix.F_SETFL, unix.O_NONBLOCK); e != 0 {
		unix.Close(int(fd))
		return false
	}
	f := os.NewFile(fd, "pidfd") // non-blocking: in the poller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := true
	if err := rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		_, _, e := unix.RawSyscall6(unix.SYS_WAITID, unix.P_PIDFD, fd, uintptr(unsafe.Pointer(&info)),
			unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
		if e != 0 {
			ok = false // P_PIDFD unknown (Linux 5.3): wait(2) decides
			return true
		}
		return info.Signo != 0 // zero: not ended yet
	}); err != nil {
		return false
	}
	return ok
}
