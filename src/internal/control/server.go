package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"golang.org/x/sys/unix"
)

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/var/run/knockd.sock"

// Bounds of the server. A client gets idleTimeout to send its request
// (knockd status sends it at once) and connTimeout for our reply; so
// many are answered at once. The server accepts every connection at
// once, so that idle ones cannot fill the backlog and shut `knockd
// status` out: of the connections still sending their request, at most
// maxOpen stay open (the oldest is closed for a new one), and at most
// maxOpen more wait for their answer.
const (
	connTimeout = 5 * time.Second
	idleTimeout = 2 * time.Second
	maxConns    = 4
	maxOpen     = 32
	backlog     = 256
)

// Server answers requests on a unix socket that only root can use.
type Server struct {
	_    [0]func() // not comparable: no equality function in the binary
	h    Handler
	log  *logx.Logger
	ln   *os.File // the listening socket
	path string
	sem  chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	reading []*os.File // connections still sending their request, oldest first
	waiting int        // connections with a request, waiting for or getting an answer
}

// The sockets are raw (x/sys/unix, wrapped in os.File for the runtime's
// poller): net's UnixListener and UnixConn cost about 40 KB more on a
// router. Error texts are those net would give.

// Listen creates the socket at path, mode 0600. A stale socket left by a
// crash is replaced; any other file there is an error.
func Listen(path string, h Handler, log *logx.Logger) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
		}
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, sockError("control socket: listen", path, "socket", err)
	}
	old := syscall.Umask(0o177) // the socket is created 0600
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	syscall.Umask(old)
	call := "bind"
	if err == nil {
		call, err = "listen", unix.Listen(fd, backlog)
	}
	if err != nil {
		unix.Close(fd)
		return nil, sockError("control socket: listen", path, call, err)
	}
	return &Server{h: h, log: log, ln: os.NewFile(uintptr(fd), path), path: path, sem: make(chan struct{}, maxConns)}, nil
}

// Serving returns the server of ln, a socket already bound at path and
// listening (non-blocking), made by another process: the spawner, for a
// daemon that may not create it. Its mode and owner are its maker's.
func Serving(ln *os.File, path string, h Handler, log *logx.Logger) *Server {
	return &Server{h: h, log: log, ln: ln, path: path, sem: make(chan struct{}, maxConns)}
}

// sockError is net's error text: "listen unix /var/run/knockd.sock: bind:
// address already in use", prefixed.
func sockError(op, path, call string, err error) error {
	return errors.New(op + " unix " + path + ": " + call + ": " + err.Error())
}

// Serve answers until ctx ends, then removes the socket.
func (s *Server) Serve(ctx context.Context) {
	defer context.AfterFunc(ctx, func() { s.ln.Close() })() // Accept4 ends with it
	rc, err := s.ln.SyscallConn()
	for err == nil {
		nfd, aerr := -1, error(nil)
		err = rc.Read(func(fd uintptr) bool {
			for {
				nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
				if aerr != unix.EINTR && aerr != unix.ECONNABORTED {
					return aerr != unix.EAGAIN
				}
			}
		})
		if err != nil || ctx.Err() != nil {
			if nfd >= 0 {
				unix.Close(nfd)
			}
			break
		}
		if aerr != nil {
			s.log.Printf("error: control socket: %v", sockError("accept", s.path, "accept4", aerr))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c := s.admit(nfd)
		if c == nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
	s.wg.Wait()
	s.ln.Close() // when accepting failed before ctx ended
	os.Remove(s.path)
}

// admit makes the accepted fd a connection and tracks it as sending its
// request, closing the oldest such connection when maxOpen are; nil when
// even so there is no room (maxOpen connections wait for answers).
func (s *Server) admit(fd int) *os.File {
	c := os.NewFile(uintptr(fd), s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reading) >= maxOpen {
		old := s.reading[0]
		s.reading = s.reading[1:]
		old.Close() // its serve returns: the read fails
	}
	if s.waiting >= maxOpen {
		c.Close()
		return nil
	}
	s.reading = append(s.reading, c)
	return c
}

// doneReading stops tracking c as sending its request; false when it was
// closed meanwhile to make room.
func (s *Server) doneReading(c *os.File, waiting bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.reading, c)
	if i < 0 {
		return false
	}
	s.reading = slices.Delete(s.reading, i, i+1)
	if waiting {
		s.waiting++
	}
	return true
}

// serve answers one request on the connection c.
func (s *Server) serve(c *os.File) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(idleTimeout))
	// Only root: the socket's mode says so already; this is the second
	// lock.
	cred, err := credentials(c)
	if err != nil || cred.Uid != 0 {
		s.doneReading(c, false)
		c.Write([]byte(`{"error":"permission denied"}` + "\n"))
		return
	}
	b, err := io.ReadAll(io.LimitReader(c, maxRequest+1))
	if !s.doneReading(c, err == nil) || err != nil {
		return
	}
	defer func() {
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}()
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	c.Write(append(s.answer(b), '\n'))
}

// credentials returns the peer's credentials of the connection c.
func credentials(c *os.File) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// answer dispatches one request.
func (s *Server) answer(req []byte) []byte {
	m, err := parseStrings(req, "method", "format", "door", "source")
	if err != nil {
		return errorJSON(err.Error())
	}
	switch m["method"] {
	case "status":
		st := s.h.Status()
		if m["format"] == "flat" {
			return st.Flat()
		}
		if m["format"] == "text" {
			var w jsonWriter
			w.Open('{')
			w.Key("text").Str(st.Text())
			w.Close('}')
			return w.Bytes()
		}
		return st.JSON()
	case "doors":
		return s.h.Status().DoorsJSON()
	case "revoke":
		src, err := netip.ParseAddr(m["source"])
		if err != nil || m["door"] == "" {
			return errorJSON("revoke needs a door and a source address")
		}
		n, err := s.h.Revoke(m["door"], src.Unmap())
		if err != nil {
			return errorJSON(err.Error())
		}
		return []byte(`{"revoked":` + strconv.Itoa(n) + `}`)
	}
	return errorJSON("unknown method " + strconv.Quote(m["method"]))
}

func errorJSON(msg string) []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("error").Str(msg)
	w.Close('}')
	return w.Bytes()
}
