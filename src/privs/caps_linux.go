package privs

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
