//go:build linux && (386 || arm)

package privs

import "golang.org/x/sys/unix"

// The system calls that change one thread's ids, with 32-bit ids (the
// ones without the suffix take 16-bit ids on these architectures).
const (
	sysSetgroups = unix.SYS_SETGROUPS32
	sysSetresgid = unix.SYS_SETRESGID32
	sysSetresuid = unix.SYS_SETRESUID32
)
