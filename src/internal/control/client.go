package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRunning: no daemon answers on the socket.
var ErrNotRunning = errors.New("knockd is not running")

// maxReply bounds what a client reads.
const maxReply = 1 << 20

// Call sends one request (a JSON object) to the daemon at path and
// returns its reply.
func Call(path string, req []byte) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	call := "socket"
	if err == nil {
		// A unix socket connects at once, or fails (EAGAIN: backlog full).
		if call, err = "connect", unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		if err == unix.ENOENT || err == unix.ECONNREFUSED {
			return nil, fmt.Errorf("%w (no control socket at %s)", ErrNotRunning, path)
		}
		return nil, sockError("control socket "+path+": dial", path, call, err)
	}
	c := os.NewFile(uintptr(fd), path)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	unix.Shutdown(fd, unix.SHUT_WR)
	b, err := io.ReadAll(io.LimitReader(c, maxReply))
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return b, nil
}

// Request builds a request object from method and name, value pairs.
func Request(method string, kv ...string) []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("method").Str(method)
	for i := 0; i+1 < len(kv); i += 2 {
		w.Key(kv[i]).Str(kv[i+1])
	}
	w.Close('}')
	return w.Bytes()
}

// Field returns a string member of a reply (for "error", "text",
// "revoked").
func Field(reply []byte, name string) (string, bool) {
	m, err := parseObject(trimNewline(reply))
	if err != nil {
		return "", false
	}
	v, ok := m[name]
	return v, ok
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
