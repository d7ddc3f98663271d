package privs

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Capabilities the daemon may keep.
const (
	NetRaw   = unix.CAP_NET_RAW   // AF_PACKET capture, Wake-on-LAN frames
	NetAdmin = unix.CAP_NET_ADMIN // firewall changes, socket buffer size
	SetUID   = unix.CAP_SETUID    // children as another user
	SetGID   = unix.CAP_SETGID
	Kill     = unix.CAP_KILL // stop those children at shutdown or timeout
)

var capNames = map[int]string{NetRaw: "net_raw", NetAdmin: "net_admin", SetUID: "setuid", SetGID: "setgid", Kill: "kill"}

// Names returns the names of caps, for the log.
func Names(caps []int) string {
	var s []string
	for _, c := range caps {
		s = append(s, capNames[c])
	}
	return strings.Join(s, " ")
}

// Keep reduces the capabilities of every thread of the process (effective,
// permitted and inheritable) to caps, for good: the packet parser, the SPA
// decryption and the rest of the daemon then run without the rest of
// root's power. The bounding set is left alone (see Bound): a program
// the process runs as root afterwards gets the bounding set's
// capabilities when it executes. It does nothing unless the process runs
// as root, and fails where the Go runtime cannot change every thread (a
// cgo build).
func Keep(caps ...int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	var set [2]uint32
	for _, c := range caps {
		set[c/32] |= 1 << (uint(c) % 32)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: set[0], Permitted: set[0]},
		{Effective: set[1], Permitted: set[1]},
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// Bound removes from the bounding set of every thread the capabilities
// not in caps, for good: no program the daemon runs afterwards, even as
// root, gets more than caps. Call it before Keep (it needs CAP_SETPCAP),
// once whatever must start children as root in full (the spawner) runs.
// It does nothing unless the process runs as root.
func Bound(caps ...int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if slices.Contains(caps, c) {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, e)
		}
	}
	return nil
}

// lastCap returns the highest capability the kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		// Kernels before 3.2 lack the file; they know up to CAP_WAKE_ALARM.
		return unix.CAP_WAKE_ALARM, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("/proc/sys/kernel/cap_last_cap: %q", b)
	}
	return n, nil
}

// droppedVar marks, in the environment, a process that ExecDropped
// started: its capabilities are already what it keeps.
const droppedVar = "KNOCKD_GO_DROPPED"

// Dropped reports whether this process was started by ExecDropped. The
// mark is taken out of the environment at the first call, so that
// children do not inherit it.
func Dropped() bool {
	droppedOnce.Do(func() {
		dropped = os.Getenv(droppedVar) == "1"
		os.Unsetenv(droppedVar)
	})
	return dropped
}

var (
	droppedOnce sync.Once
	dropped     bool
)

// ExecDroppedAs executes this binary again, with the same arguments, in
// this process (the pid stays), keeping only caps: in the effective,
// permitted and inheritable sets and the bounding set, with
// no_new_privs. It changes the one thread that executes, locked to its
// goroutine, and the kernel gives the new program that thread's
// credentials: no stop-the-world, no signal to every thread (Keep and
// Bound need one round of both per system call, and under load those
// rounds took seconds). env is added to the environment (descriptors the
// new program takes over must not be close-on-exec). The signals in sigs
// are blocked on the executing thread, so that one arriving now is
// delivered to the new program once it handles them. It returns only on
// failure.
//
// It also changes the executing thread's user to user (its uid and gid, real, effective and saved, and its
// supplementary groups) when user is not nil, keeping caps as ambient
// capabilities: the new program runs as that user with caps effective
// on every thread and owns no file of root's. The change is made on the
// one locked thread by system calls of that thread alone, not by the Go
// runtime's change of every thread.
func ExecDroppedAs(user *syscall.Credential, caps []int, sigs []syscall.Signal, env []string) error {
	runtime.LockOSThread()
	var set, old unix.Sigset_t
	for _, s := range sigs {
		set.Val[(s-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("block signals: %w", err)
	}
	err := execDropped(user, caps, env)
	// Only on failure: this thread's capabilities may be gone, so it is
	// never handed back (the goroutine's end takes it with it).
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

func execDropped(user *syscall.Credential, caps []int, env []string) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if slices.Contains(caps, c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if user != nil {
		if err := setUser(user); err != nil {
			return err
		}
	}
	var keep [2]uint32
	for _, c := range caps {
		keep[c/32] |= 1 << (uint(c) % 32)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: keep[0], Permitted: keep[0], Inheritable: keep[0]},
		{Effective: keep[1], Permitted: keep[1], Inheritable: keep[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if user != nil {
		// A program executed by a user other than root keeps only its
		// ambient capabilities.
		for _, c := range caps {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
				return fmt.Errorf("ambient capability %s: %w", capNames[c], err)
			}
		}
	}
	// Nothing the new program executes gains privileges through a
	// set-user-ID bit or file capabilities, nor more than caps as root.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	env = append(append(os.Environ(), env...), droppedVar+"=1")
	return syscall.Exec("/proc/self/exe", os.Args, env)
}

// setUser changes the calling thread's groups, gid and uid (real,
// effective and saved) to user's, keeping its permitted capabilities
// (PR_SET_KEEPCAPS; the effective ones are cleared by the change, and
// set again by the caller). Only this thread changes: the raw system
// calls, unlike syscall.Setresuid, are not applied to every thread.
func setUser(user *syscall.Credential) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	groups := user.Groups
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(sysSetgroups, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	g := uintptr(user.Gid)
	if _, _, e := unix.RawSyscall(sysSetresgid, g, g, g); e != 0 {
		return fmt.Errorf("setresgid %d: %w", user.Gid, e)
	}
	u := uintptr(user.Uid)
	if _, _, e := unix.RawSyscall(sysSetresuid, u, u, u); e != 0 {
		return fmt.Errorf("setresuid %d: %w", user.Uid, e)
	}
	return nil
}
