package logx

import (
	"syscall"
	"unsafe"
)

// Log lines are written with raw system calls, which do not tell the Go
// scheduler they may block: a line is a short write to a local file (tmpfs
// on routers) or a non-blocking send to the syslog socket. Through the
// scheduler's path (syscall.Write) every line woke the runtime's monitor
// thread, two more thread switches for each first knock a port scanner
// sends.

// writeFD writes all of b to fd.
func writeFD(fd int, b []byte) error {
	for len(b) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n == 0 {
			return syscall.EIO
		}
		b = b[n:]
	}
	return nil
}

// sendDontWait sends the datagram b on the connected socket fd without
// blocking (EAGAIN when the receiver's queue is full).
func sendDontWait(fd int, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}
