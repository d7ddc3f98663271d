package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/logx"
	"golang.org/x/sys/unix"
)

// DefaultSocket is where the daemon listens unless configured otherwise.
const DefaultSocket = "/var/run/knockd.sock"

// Bounds of the server: a client gets this long for its request and our
// reply, and so many are served at once (more wait in the backlog).
const (
	connTimeout = 5 * time.Second
	maxConns    = 4
)

// Server answers requests on a unix socket that only root can use.
type Server struct {
	_    [0]func() // not comparable: no equality function in the binary
	h    Handler
	log  *logx.Logger
	ln   *net.UnixListener
	path string
	sem  chan struct{}
	wg   sync.WaitGroup
}

// Listen creates the socket at path, mode 0600. A stale socket left by a
// crash is replaced; any other file there is an error.
func Listen(path string, h Handler, log *logx.Logger) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
		}
		os.Remove(path)
	}
	old := syscall.Umask(0o177) // the socket is created 0600
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{h: h, log: log, ln: ln, path: path, sem: make(chan struct{}, maxConns)}, nil
}

// Serve answers until ctx ends, then removes the socket.
func (s *Server) Serve(ctx context.Context) {
	go func() { <-ctx.Done(); s.ln.Close() }()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.log.Printf("error: control socket: %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			break
		}
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			s.serve(c)
		}()
	}
	s.wg.Wait()
	os.Remove(s.path)
}

// serve answers one request.
func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	if !rootPeer(c) {
		c.Write([]byte(`{"error":"permission denied"}` + "\n"))
		return
	}
	b, err := io.ReadAll(io.LimitReader(c, maxRequest+1))
	if err != nil {
		return
	}
	c.Write(append(s.answer(b), '\n'))
}

// rootPeer reports whether the client runs as root (the socket's mode
// says so already; this is the second lock).
func rootPeer(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		ok = err == nil && cred.Uid == 0
	})
	return ok
}

// answer dispatches one request.
func (s *Server) answer(req []byte) []byte {
	m, err := parseObject(req)
	if err != nil {
		return errorJSON(err.Error())
	}
	switch m["method"] {
	case "status":
		st := s.h.Status()
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
