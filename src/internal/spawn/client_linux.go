package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrGone is the error of a start, or of a wait, once the spawner is
// gone.
var ErrGone = errors.New("spawner: gone")

// Client is the daemon's end: a Starter whose children the spawner
// starts. It is safe for concurrent use.
type Client struct {
	// The spawner's replies come on fd, its requests go out on wfd: a
	// socket pair each way, so that the socket the daemon writes on is
	// in no poller (see Start).
	fd      int
	wfd     int
	file    *os.File        // owns fd once set: its Close closes fd
	rc      syscall.RawConn // fd in the runtime's poller; nil: fd blocks
	null    *os.File
	pid     int    // the spawner's
	warning string // what the spawner could not do at its start
	note    func(string)

	wmu sync.Mutex // one message at a time

	mu      sync.Mutex
	nextID  uint32
	starts  map[uint32]func(Process, error) // answers the starts waiting for a reply
	reloads map[uint32]chan loadResult
	procs   map[uint32]*remote
	gone    bool
	closing bool
	died    chan struct{} // closed when the spawner ends unasked
	readErr error
	closed  chan struct{} // closed when the reader returned
	exited  chan struct{} // closed when the spawner exited
}

type loadResult struct {
	f   *os.File
	err error
}

// Launch starts the spawner: argv is the program and arguments that run
// this binary again (nil: /proc/self/exe spawner, then this process's
// arguments, which the spawner's Loader reads); its main calls Main
// first. note gets the lines the spawner has for the log (stop commands
// of a former run it ran). Call it while the process still has root's
// privileges, before it gives them up. The spawner has /dev/null as stdin, stdout and stderr
// (a -d parent waiting for the daemon's output is not held), a process
// group of its own (a terminal's ^C is for the daemon) and the socket
// pair's end as descriptor 3.
func Launch(argv []string, note func(string)) (*Client, error) {
	h, err := Start(argv)
	if err != nil {
		return nil, err
	}
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	return h.client(note), nil
}

// Handoff is a started spawner whose socket a program executed in this
// process takes over (Attach): the daemon gives up its privileges by
// executing itself again.
type Handoff struct {
	fd, wfd int // the replies' socket and the requests' (Client)
	pid     int
	warning string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// handoffVar names, in the environment of the executed program, the
// spawner's socket and pid.
const handoffVar = "KNOCKD_GO_SPAWNER_SOCKET"

// Env returns the environment that hands the spawner over to the program
// executed next (the socket is no longer close-on-exec).
func (h *Handoff) Env() []string {
	_, _ = unix.FcntlInt(uintptr(h.fd), unix.F_SETFD, 0)
	_, _ = unix.FcntlInt(uintptr(h.wfd), unix.F_SETFD, 0)
	return []string{handoffVar + "=" + strconv.Itoa(h.fd) + "," + strconv.Itoa(h.wfd) + ":" + strconv.Itoa(h.pid) + ":" + h.warning}
}

// Close ends the spawner of a handoff that did not take place.
func (h *Handoff) Close() {
	unix.Close(h.wfd)
	unix.Close(h.fd)
}

// Attach takes over the spawner that the program this one replaced
// started (Start, Handoff.Env); nil when there is none.
func Attach(note func(string)) (*Client, error) {
	v := os.Getenv(handoffVar)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(handoffVar)
	f := strings.SplitN(v, ":", 3)
	if len(f) != 3 {
		return nil, fmt.Errorf("spawner: %s=%q", handoffVar, v)
	}
	rs, ws, _ := strings.Cut(f[0], ",")
	fd, err1 := strconv.Atoi(rs)
	wfd, err2 := strconv.Atoi(ws)
	pid, err3 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || err3 != nil || fd < 3 || wfd < 3 || fd == wfd || pid <= 0 {
		return nil, fmt.Errorf("spawner: %s=%q", handoffVar, v)
	}
	syscall.CloseOnExec(fd)
	syscall.CloseOnExec(wfd)
	h := &Handoff{fd: fd, wfd: wfd, pid: pid, warning: f[2], exited: make(chan struct{})}
	// The spawner is still this process's child: reap it.
	go func() {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		close(h.exited)
	}()
	return h.client(note), nil
}

func (h *Handoff) client(note func(string)) *Client {
	if note == nil {
		note = func(string) {}
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	c := &Client{fd: h.fd, wfd: h.wfd, null: null, pid: h.pid, note: note, warning: h.warning, starts: map[uint32]func(Process, error){},
		reloads: map[uint32]chan loadResult{}, procs: map[uint32]*remote{}, died: make(chan struct{}), closed: make(chan struct{}), exited: h.exited}
	// The spawner's replies are waited for in the poller (see sendNow);
	// where the socket cannot be made non-blocking, in recvmsg(2). The
	// requests' socket stays out of it (see Start).
	if unix.SetNonblock(c.fd, true) == nil {
		c.file = os.NewFile(uintptr(c.fd), "spawner")
		if rc, err := c.file.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	go c.read()
	return c
}

// Start starts the spawner and waits for its hello, as Launch does, but
// reads nothing more: a client is made of it by Launch, or by Attach in
// the program this process executes next.
func Start(argv []string) (*Handoff, error) {
	args0 := ""
	if len(argv) == 0 {
		// ps shows "/usr/sbin/knockd spawner -c …".
		argv, args0 = append([]string{"/proc/self/exe", "spawner"}, os.Args[1:]...), os.Args[0]
	}
	// A socket pair each way. The runtime puts a descriptor in its
	// poller for reading and writing at once, and a read on a socket
	// frees room its writer's poller hears of: with one pair, each
	// request the spawner read woke the daemon's poller thread for
	// nothing, which on a two-core router preempted the spawner just
	// before it started the command. Each process keeps only the socket
	// it reads in its poller and writes on the other (sendNow).
	var req, rep [2]int
	var err error
	if req, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("spawner: socketpair: %w", err)
	}
	if rep, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
		unix.Close(req[0])
		unix.Close(req[1])
		return nil, fmt.Errorf("spawner: socketpair: %w", err)
	}
	// Each end is used one way only.
	_ = unix.Shutdown(req[0], unix.SHUT_RD)
	_ = unix.Shutdown(rep[0], unix.SHUT_WR)
	theirs := []*os.File{os.NewFile(uintptr(req[1]), "spawner requests"), os.NewFile(uintptr(rep[1]), "spawner replies")}
	defer closeAll(theirs)
	mine := func() {
		unix.Close(req[0])
		unix.Close(rep[0])
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if args0 != "" {
		cmd.Args[0] = args0
	}
	cmd.Env = append(os.Environ(), envFD+"=1")
	cmd.ExtraFiles = theirs // spawnerFD, spawnerReplyFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		mine()
		return nil, fmt.Errorf("spawner: %w", err)
	}
	closeAll(theirs)
	c := &Client{fd: rep[0], wfd: req[0]}
	// The spawner says hello once it has read the configuration and run
	// what a former run left, or why it could not read it.
	hello, f, err := c.recv()
	if f != nil {
		f.Close()
	}
	switch {
	case err != nil:
	case hello.kind == msgLoaded && hello.id == 0:
		err = errors.New(hello.err)
	case hello.kind != msgStarted || hello.id != 0:
		err = errMalformed
	}
	if err != nil {
		mine()
		_ = cmd.Wait()
		return nil, fmt.Errorf("spawner: %w", err)
	}
	return &Handoff{fd: rep[0], wfd: req[0], pid: cmd.Process.Pid, warning: hello.err, cmd: cmd, exited: make(chan struct{})}, nil
}

// recv reads one message, and the file passed with it.
func (c *Client) recv() (reply, *os.File, error) {
	buf := make([]byte, 2048)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, err := c.recvmsg(buf, oob)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return reply{}, nil, err
		}
		if n == 0 {
			return reply{}, nil, ErrGone
		}
		files, err := rights(oob[:oobn])
		if err == nil && len(files) > 1 {
			err = errMalformed
		}
		var r reply
		if err == nil {
			r, err = decodeReply(buf[:n])
		}
		if err != nil || len(files) == 0 {
			closeAll(files)
			return r, nil, err
		}
		return r, files[0], nil
	}
}

// recvmsg waits for the spawner's next message.
func (c *Client) recvmsg(buf, oob []byte) (n, oobn int, err error) {
	if c.rc == nil {
		n, oobn, _, _, err = unix.Recvmsg(c.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		return n, oobn, err
	}
	if rerr := c.rc.Read(func(fd uintptr) bool {
		n, oobn, _, err = recvNow(int(fd), buf, oob)
		return err != unix.EAGAIN
	}); rerr != nil {
		return 0, 0, rerr
	}
	return n, oobn, err
}

// read dispatches the spawner's messages until it is gone.
func (c *Client) read() {
	defer close(c.closed)
	var err error
	for {
		var r reply
		var f *os.File
		if r, f, err = c.recv(); err != nil {
			break
		}
		if r.kind == msgNote {
			c.note(r.err)
		}
		c.mu.Lock()
		switch r.kind {
		case msgLoaded:
			ch := c.reloads[r.id]
			delete(c.reloads, r.id)
			switch {
			case ch == nil:
			case r.err != "":
				ch <- loadResult{err: &startError{msg: r.err, errno: r.errno}}
			case f == nil:
				ch <- loadResult{}
			default:
				ch <- loadResult{f: f}
				f = nil
			}
		case msgStarted:
			answer := c.starts[r.id]
			delete(c.starts, r.id)
			if answer == nil {
				break
			}
			if r.err != "" {
				answer(nil, &startError{msg: r.err, errno: r.errno})
				break
			}
			p := &remote{c: c, pid: r.pid, exited: make(chan struct{})}
			c.procs[r.pid] = p
			answer(p, nil)
		case msgExited:
			if p := c.procs[r.pid]; p != nil {
				delete(c.procs, r.pid)
				p.status = syscall.WaitStatus(r.status)
				close(p.exited)
			}
		}
		c.mu.Unlock()
		if f != nil {
			f.Close()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	if !errors.Is(err, ErrGone) {
		err = fmt.Errorf("%w: %w", ErrGone, err)
	}
	c.readErr = err
	for id, answer := range c.starts {
		answer(nil, err)
		delete(c.starts, id)
	}
	for id, ch := range c.reloads {
		ch <- loadResult{err: err}
		delete(c.reloads, id)
	}
	for pid, p := range c.procs {
		p.err = err
		close(p.exited)
		delete(c.procs, pid)
	}
	if !c.closing {
		close(c.died)
	}
}

// Warning returns what the spawner could not do when it started (give up
// the capabilities it does not need, in a cgo build), or "".
func (c *Client) Warning() string { return c.warning }

// Pid returns the spawner's process id.
func (c *Client) Pid() int { return c.pid }

// Died is closed when the spawner ends without Close: nothing can be
// started any more, and the children it started can no longer be waited
// for or killed.
func (c *Client) Died() <-chan struct{} { return c.died }

// Err returns why the spawner is gone, or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// Close ends the spawner: it runs the stop commands still pending (the
// daemon is gone) and exits; the children it started keep running. Close
// returns once the spawner exited, or after stopWait and a second.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	// The spawner reads the end of its requests and exits; the reader
	// returns once the spawner is gone (or at once).
	err := unix.Shutdown(c.wfd, unix.SHUT_RDWR)
	if serr := unix.Shutdown(c.fd, unix.SHUT_RDWR); err == nil {
		err = serr
	}
	<-c.closed
	select {
	case <-c.exited:
	case <-time.After(stopWait + time.Second):
	}
	c.null.Close()
	cerr := unix.Close(c.wfd)
	var rerr error
	if c.file != nil {
		rerr = c.file.Close()
	} else {
		rerr = unix.Close(c.fd)
	}
	if cerr == nil {
		cerr = rerr
	}
	if err == nil {
		err = cerr
	}
	return err
}

// id returns a new request id; with c.mu held.
func (c *Client) id() uint32 {
	c.nextID++
	if c.nextID == 0 { // 0 is the hello's
		c.nextID++
	}
	return c.nextID
}

// Reload asks the spawner to read the configuration again, and returns
// the file it read (open, at its start) for the daemon to parse.
func (c *Client) Reload() (*os.File, error) {
	f, err := c.fileRequest(request{kind: msgReload})
	if err == nil && f == nil {
		err = fmt.Errorf("spawner: %w", errMalformed)
	}
	return f, err
}

// fileRequest sends r (a reload or a file request) with a new id and
// waits for its answer: a file, none, or why not.
func (c *Client) fileRequest(r request) (*os.File, error) {
	ch := make(chan loadResult, 1)
	c.mu.Lock()
	if c.gone {
		err := c.readErr
		c.mu.Unlock()
		return nil, err
	}
	r.id = c.id()
	c.reloads[r.id] = ch
	c.mu.Unlock()
	msg, err := r.encode()
	if err == nil {
		err = c.send(msg, nil)
	}
	if err != nil {
		c.mu.Lock()
		delete(c.reloads, r.id)
		c.mu.Unlock()
		return nil, fmt.Errorf("spawner: %w", err)
	}
	res := <-ch
	return res.f, res.err
}

// Start asks the spawner for what cmd.Request names: the spawner builds
// the command line, environment and user itself (Path, Args, Env, Cred
// and NoNewPrivs are not sent); a notification's standard files are
// passed.
func (c *Client) Start(cmd Cmd) (Process, error) {
	p, err := c.request(cmd, true)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Send sends the request of a door's command (no files to pass) if it
// can without waiting, and returns what waits for its reply: a knock's
// command is asked for on the packet path, before the rest of its batch
// is handled and without a hand-off to another goroutine. It returns
// ErrWouldWait, having sent nothing, when it cannot do so at once (the
// socket is full or another request is being written, or cmd passes
// files): Start then sends it.
func (c *Client) Send(cmd Cmd) (*Pending, error) {
	if cmd.Request.Kind == Notify {
		return nil, ErrWouldWait
	}
	return c.request(cmd, false)
}

// request sends cmd's start request: wait says whether it may wait for
// room on the socket (Start) or not (Send).
func (c *Client) request(cmd Cmd, wait bool) (*Pending, error) {
	if cmd.Request.Kind == 0 {
		return nil, errors.New("spawner: the request names no door")
	}
	p, answer := NewPending()
	c.mu.Lock()
	if c.gone {
		err := c.readErr
		c.mu.Unlock()
		return nil, err
	}
	id := c.id()
	c.starts[id] = answer
	c.mu.Unlock()
	msg, err := request{kind: msgStart, id: id, req: cmd.Request}.encode()
	switch {
	case err != nil:
	case !wait:
		err = c.sendAtOnce(msg)
	case cmd.Request.Kind != Notify:
		// Door commands run with the spawner's /dev/null: no files to
		// pass, none for the spawner to take in and close before it
		// forks.
		err = c.send(msg, nil)
	default:
		files := [3]*os.File{cmd.Stdin, cmd.Stdout, cmd.Stderr}
		fds := make([]int, 3)
		for i, f := range files {
			if f == nil {
				f = c.null
			}
			fds[i] = int(f.Fd())
		}
		err = c.send(msg, unix.UnixRights(fds...))
		runtime.KeepAlive(files)
	}
	if err != nil {
		c.mu.Lock()
		delete(c.starts, id)
		c.mu.Unlock()
		if err == ErrWouldWait {
			return nil, err
		}
		return nil, fmt.Errorf("spawner: %w", err)
	}
	return p, nil
}

// sendAtOnce sends msg if neither the socket nor another sender makes it
// wait; ErrWouldWait otherwise.
func (c *Client) sendAtOnce(msg []byte) error {
	if !c.wmu.TryLock() {
		return ErrWouldWait
	}
	defer c.wmu.Unlock()
	if err := sendNow(c.wfd, msg, nil); err != unix.EAGAIN {
		return err
	}
	return ErrWouldWait
}

func (c *Client) send(msg, oob []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// Without the scheduler (see sendNow) unless the socket is full;
	// then in sendmsg(2): the socket is not in the poller (see Start).
	if err := sendNow(c.wfd, msg, oob); err != unix.EAGAIN {
		return err
	}
	return sendWait(c.wfd, msg, oob)
}

// startError is why the spawner could not start a child; it unwraps to
// the error number (os.ErrNotExist for a missing program).
type startError struct {
	msg   string
	errno syscall.Errno
}

func (e *startError) Error() string { return e.msg }

func (e *startError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// remote is a child the spawner started.
type remote struct {
	c      *Client
	pid    uint32
	exited chan struct{}
	status syscall.WaitStatus // set before exited is closed
	err    error
}

func (p *remote) Pid() int { return int(p.pid) }

func (p *remote) Wait() (syscall.WaitStatus, error) {
	<-p.exited
	return p.status, p.err
}

func (p *remote) Kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	msg, _ := request{kind: msgKill, pid: p.pid}.encode()
	if err := p.c.send(msg, nil); err != nil {
		return fmt.Errorf("spawner: %w", err)
	}
	return nil
}
