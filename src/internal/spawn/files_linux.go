package spawn

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/errs"
)

// openFor opens (or changes) what op names at path for the daemon, or
// says why not. A nil file with a nil error is an op that opens
// nothing.
func (s *server) openFor(op FileOp, path string) (*os.File, error) {
	s.mu.Lock()
	ok := s.policy.Files.allowed(op, path)
	s.mu.Unlock()
	if !ok {
		return nil, refuse("the configuration names no %s %q", op, path)
	}
	const nofollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	switch op {
	case OpenLog:
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|nofollow, 0o640)
	case OpenLock:
		return os.OpenFile(path, os.O_RDWR|os.O_CREATE|nofollow, 0o644)
	case OpenPid:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|nofollow, 0o644)
		if err == nil {
			s.keep(path, f)
		}
		return f, err
	case OpenOneTime:
		return os.OpenFile(path, os.O_RDWR|nofollow, 0)
	case ReadReplay:
		return os.OpenFile(path, os.O_RDONLY|nofollow, 0)
	case WriteReplay:
		return os.OpenFile(path, os.O_WRONLY|nofollow, 0)
	case CreateReplay:
		tmp := path + ".new"
		os.Remove(tmp)
		// Root's, 0600: the spawner, which has no dac_override, opens
		// it again at the next start; the daemon trusts root's.
		return os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|nofollow, 0o600)
	case CommitReplay:
		return nil, os.Rename(path+".new", path)
	case DiscardReplay:
		if err := os.Remove(path + ".new"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	case ListenControl:
		f, err := bindUnix(path)
		if err == nil {
			s.keep(path, nil)
		}
		return f, err
	}
	return nil, refuse("%s", op)
}

// keep records that the spawner made path (f, or what is there now) for
// the daemon: it removes it once the daemon is gone (removeMade), which
// the daemon's user cannot.
func (s *server) keep(path string, f *os.File) {
	var fi os.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
	} else {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.made == nil {
		s.made = map[string]os.FileInfo{}
	}
	s.made[path] = fi
}

// removeMade removes the pid file and control socket it made for the
// daemon, unless another file has taken their place meanwhile (a new
// daemon's).
func (s *server) removeMade() {
	s.mu.Lock()
	made := s.made
	s.made = nil
	s.mu.Unlock()
	for path, fi := range made {
		if now, err := os.Lstat(path); err == nil && os.SameFile(fi, now) {
			os.Remove(path)
		}
	}
}

// bindUnix creates the unix stream socket at path, mode 0600 and owned
// by root, listening. A stale socket left by a crash is replaced; any
// other file there is an error.
func bindUnix(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, errors.New("a file that is not a socket is in the way")
		}
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	old := syscall.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	syscall.Umask(old)
	call := "bind"
	if err == nil {
		call, err = "listen", unix.Listen(fd, 256)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// file answers a msgFile request.
func (s *server) file(req request) {
	f, err := s.openFor(req.op, req.path)
	if err != nil {
		errno, _ := errs.As[syscall.Errno](err)
		// The daemon's error names the path (see Client.Open).
		s.send(reply{kind: msgLoaded, id: req.id, errno: errno, err: unwrapPath(err).Error()})
		return
	}
	if f == nil {
		s.send(reply{kind: msgLoaded, id: req.id})
		return
	}
	defer f.Close()
	s.sendFD(reply{kind: msgLoaded, id: req.id}, f)
}

// unwrapPath drops the *PathError wrapping: the reply names the path.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		if pe.Err == syscall.ELOOP {
			return errors.New("is a symbolic link, refused")
		}
		return pe.Err
	}
	return err
}

// Open asks the spawner to open (or change) what op names at path, for
// this process (which may not be allowed to itself). It returns nil for
// an op that opens nothing. An error is an *os.PathError, as os.OpenFile
// gives, that unwraps to the error number.
func (c *Client) Open(op FileOp, path string) (*os.File, error) {
	f, err := c.fileRequest(request{kind: msgFile, op: op, path: path})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return f, nil
}
