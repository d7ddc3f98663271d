package spawn

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/errs"
	"github.com/knockd-go/knockd-go/src/privs"
)

// envFD names, in the spawner's environment, its end of the socket pair.
const envFD = "KNOCKD_GO_SPAWNER"

// spawnerFD is where the socket pair's end is in the spawner.
const spawnerFD = 3

// Main runs the spawner, and exits, when the process was started as one
// (Launch); otherwise it returns at once. Call it first in main.
func Main() {
	if os.Getenv(envFD) != "1" {
		return
	}
	os.Unsetenv(envFD)
	// Children must not inherit the socket: one that could write to it
	// could have anything run as root.
	syscall.CloseOnExec(spawnerFD)
	os.Exit(serve(spawnerFD))
}

// server is the spawner: it starts children for the daemon and reports
// their ends.
type server struct {
	fd  int
	wmu sync.Mutex // one message at a time

	mu      sync.Mutex
	running map[uint32]Process
}

// serve serves the daemon on fd until the daemon closes it (0), or until
// the daemon sends what the protocol does not know (2).
func serve(fd int) int {
	// The daemon's signals are the daemon's: a firewall hook's
	// `kill -USR2 $(pidof knockd)` or a terminal's ^C must not end the
	// spawner. (Caught, not ignored: children get the default actions.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	s := &server{fd: fd, running: map[uint32]Process{}}
	// Root's bounding set stays (a child run as root regains root's
	// capabilities at exec); the spawner itself keeps what switching
	// users and killing children need. Where that fails (a cgo build),
	// it says so in its hello and runs on, as the daemon does.
	hello := reply{kind: msgStarted}
	if err := privs.Keep(privs.SetUID, privs.SetGID, privs.Kill); err != nil {
		hello.err = "cannot drop capabilities (" + err.Error() + "): running with root's"
	}
	s.send(hello)
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(3*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0 // the daemon is gone
		}
		files, ferr := rights(oob[:oobn])
		var req request
		if ferr == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) == 0 {
			req, ferr = decodeRequest(buf[:n])
		}
		if ferr != nil {
			closeAll(files)
			return 2
		}
		switch req.kind {
		case msgStart:
			s.start(req, files)
		case msgKill:
			closeAll(files)
			s.kill(req.pid)
		}
	}
}

// rights returns the files passed with a message.
func rights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return files, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "passed"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (s *server) send(r reply) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// An error means the daemon is gone, which the read loop sees.
	_, _ = unix.Write(s.fd, r.encode())
}

// start starts a child and reports its pid or why it did not start,
// then its end.
func (s *server) start(req request, files []*os.File) {
	defer closeAll(files)
	if len(files) != 3 {
		s.send(reply{kind: msgStarted, id: req.id, err: "spawner: want stdin, stdout and stderr"})
		return
	}
	c := req.cmd
	c.Stdin, c.Stdout, c.Stderr = files[0], files[1], files[2]
	p, err := Direct{}.Start(c)
	if err != nil {
		errno, _ := errs.As[syscall.Errno](err)
		s.send(reply{kind: msgStarted, id: req.id, errno: errno, err: err.Error()})
		return
	}
	pid := uint32(p.Pid())
	s.mu.Lock()
	s.running[pid] = p
	s.mu.Unlock()
	s.send(reply{kind: msgStarted, id: req.id, pid: pid})
	go func() {
		ws, _ := p.Wait()
		s.mu.Lock()
		delete(s.running, pid)
		s.mu.Unlock()
		s.send(reply{kind: msgExited, pid: pid, status: uint32(ws)})
	}()
}

// kill kills the process group of a running child (not of a pid that
// ended, which may be another process's by now).
func (s *server) kill(pid uint32) {
	s.mu.Lock()
	p := s.running[pid]
	s.mu.Unlock()
	if p != nil {
		_ = p.Kill()
	}
}
