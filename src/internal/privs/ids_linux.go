//go:build linux && !386 && !arm

package privs

import "golang.org/x/sys/unix"

// The system calls that change one thread's ids, with 32-bit ids.
const (
	sysSetgroups = unix.SYS_SETGROUPS
	sysSetresgid = unix.SYS_SETRESGID
	sysSetresuid = unix.SYS_SETRESUID
)
