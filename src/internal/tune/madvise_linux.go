package tune

import "golang.org/x/sys/unix"

// madviseDontNeed drops the pages of [start, start+n) from this process.
func madviseDontNeed(start, n uintptr) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, n, unix.MADV_DONTNEED); e != 0 {
		return e
	}
	return nil
}
