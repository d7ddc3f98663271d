package spawn

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The daemon and the spawner exchange their messages without telling the
// Go scheduler: a system call made through it wakes the runtime's monitor
// thread when every thread was idle, and the monitor then polls every
// 20 µs while a processor is busy, as the spawner's is while it forks and
// executes a door command. On a router's one or two cores that thread
// competes with the command being started. These calls never block: a
// process waits for the socket it reads in the runtime's poller; the one
// it writes on is in no poller (a read by the other process would wake
// it), and when it is full, sendNow says EAGAIN and the caller waits in
// sendmsg(2) (sendWait).

// header points msg at the data p (through iov) and the control data oob.
func header(msg *unix.Msghdr, iov *unix.Iovec, p, oob []byte) {
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
		msg.Iov = iov
		msg.SetIovlen(1)
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
}

// sendNow sends one message on fd without waiting.
func sendNow(fd int, p, oob []byte) error {
	var iov unix.Iovec
	var msg unix.Msghdr
	header(&msg, &iov, p, oob)
	for {
		_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// recvNow receives one message from fd without waiting: EAGAIN when none
// is queued.
func recvNow(fd int, p, oob []byte) (n, oobn, flags int, err error) {
	var iov unix.Iovec
	var msg unix.Msghdr
	header(&msg, &iov, p, oob)
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		switch e {
		case 0:
			return int(r), int(msg.Controllen), int(msg.Flags), nil
		case unix.EINTR:
			continue
		}
		return 0, 0, 0, e
	}
}

// sendWait sends p and the rights in oob on the blocking socket fd,
// waiting in sendmsg(2) for room.
func sendWait(fd int, p, oob []byte) error {
	for {
		err := unix.Sendmsg(fd, p, oob, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return err
		}
	}
}
