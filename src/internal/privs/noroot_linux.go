package privs

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// The trampoline of a child run as root without capabilities: the
// starter executes this binary again (NoRootCmd) with noRootVar set, and
// its main (NoRootMain) gives up every capability for good, then
// executes the program.
const noRootVar = "KNOCKD_GO_NOROOT"

// NoRootEnv is the environment variable that makes NoRootMain act.
const NoRootEnv = noRootVar + "=1"

// NoRootCmd returns the path and argv that run the program path with
// argv through the trampoline; the environment must hold NoRootEnv.
func NoRootCmd(path string, argv []string) (string, []string) {
	return "/proc/self/exe", append([]string{"knockd-noroot", path}, argv...)
}

// NoRootMain, when the process was started by NoRootCmd, keeps root's
// uid and gives up every capability for good — the bounding set emptied,
// root made powerless at exec (SECBIT_NOROOT, locked), no ambient or
// inheritable capabilities, no_new_privs — and executes the program; it
// never returns then. Otherwise it returns at once. Call it first in
// main. A program run so can read and write what root owns with an
// owner's permission bit (a 0600 mailer configuration), and nothing
// capabilities give (other users' files, the network's administration).
func NoRootMain() {
	if os.Getenv(noRootVar) != "1" {
		noRootMain = true
		return
	}
	os.Unsetenv(noRootVar)
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "knockd: no program to run")
		os.Exit(126)
	}
	// Capabilities, securebits and no_new_privs are per thread: the one
	// that executes the program is the one that matters.
	runtime.LockOSThread()
	err := dropAll()
	if err == nil {
		err = syscall.Exec(os.Args[1], os.Args[2:], os.Environ())
	}
	fmt.Fprintf(os.Stderr, "knockd: %s: %v\n", os.Args[1], err)
	os.Exit(126)
}

// noRootMain is set once this binary's main called NoRootMain: it can
// be the trampoline.
var noRootMain bool

// NoRootReady reports whether this binary can be the trampoline (its
// main called NoRootMain).
func NoRootReady() bool { return noRootMain }

// dropAll gives up every capability of the calling thread, for good.
func dropAll() error {
	// <linux/securebits.h>: noroot, no_setuid_fixup and
	// no_cap_ambient_raise, each locked.
	const bits = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<6 | 1<<7
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, bits, 0, 0, 0); err != nil {
		return fmt.Errorf("securebits: %w", err)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
}
