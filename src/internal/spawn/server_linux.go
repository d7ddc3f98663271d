package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/errs"
	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/tune"
)

// envFD names, in the spawner's environment, its end of the socket pair.
const envFD = "KNOCKD_GO_SPAWNER"

// The spawner reads the daemon's requests from spawnerFD, in its
// poller, and writes its replies on spawnerReplyFD, which is not in it
// (see Start).
const (
	spawnerFD      = 3
	spawnerReplyFD = 4
)

// Loader reads and compiles the configuration, for the spawner itself:
// it returns the policy and the configuration file, open for reading at
// its start (the daemon, which may not be able to open it, parses the
// same bytes on a reload).
type Loader func() (*Policy, *os.File, error)

// Main runs the spawner, and exits, when the process was started as one
// (Launch); otherwise it returns at once. Call it first in main. load
// reads the configuration the spawner's arguments name.
func Main(load Loader) {
	if os.Getenv(envFD) != "1" {
		return
	}
	os.Unsetenv(envFD)
	tune.Spawner()
	// Children must not inherit the socket: one that could write to it
	// could ask for what the daemon may ask.
	syscall.CloseOnExec(spawnerFD)
	syscall.CloseOnExec(spawnerReplyFD)
	os.Exit(serve(spawnerFD, spawnerReplyFD, load))
}

// stopWait bounds how long the spawner waits for the stop commands it
// runs by itself (at its start for a former run, at its end).
const stopWait = 15 * time.Second

// server is the spawner: a monitor that runs what its own configuration
// names, when the daemon asks for it by door and address.
type server struct {
	fd      int             // the daemon's requests
	wfd     int             // the replies: blocking, in no poller
	sock    *os.File        // fd, once in the runtime's poller
	rc      syscall.RawConn // its raw access; nil: fd blocks
	wmu     sync.Mutex      // one message at a time
	load    Loader
	null    *os.File
	env     []string
	journal string
	now     func() time.Time

	mu      sync.Mutex
	policy  *Policy
	running map[uint32]Process
	pending []*pending // the journal: stop commands promised, oldest first
	timers  map[*pending]*time.Timer
	own     sync.WaitGroup         // stop commands run by the spawner itself
	made    map[string]os.FileInfo // see server.keep
}

// serve serves the daemon's requests on fd, replying on wfd, until the
// daemon closes it (0), or until the daemon sends what the protocol does
// not know (2). It fails (1) when the configuration does not load.
func serve(fd, wfd int, load Loader) int {
	// The daemon's signals are the daemon's: a firewall hook's
	// `kill -USR2 $(pidof knockd)` or a terminal's ^C must not end the
	// spawner. (Caught, not ignored: children get the default actions.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	s := &server{fd: fd, wfd: wfd, load: load, env: environ(), now: time.Now, running: map[uint32]Process{}, timers: map[*pending]*time.Timer{}}
	s.usePoller()
	var err error
	if s.null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
		s.send(reply{kind: msgLoaded, err: err.Error()})
		return 1
	}
	// Root's bounding set stays (a child run as root regains root's
	// capabilities at exec); the spawner itself keeps what switching
	// users and killing children need. Where that fails (a cgo build),
	// it says so in its hello and runs on, as the daemon does.
	hello := reply{kind: msgStarted}
	if err := privs.Keep(privs.SetUID, privs.SetGID, privs.Kill); err != nil {
		hello.err = "cannot drop capabilities (" + err.Error() + "): running with root's"
	}
	p, f, err := load()
	if err != nil {
		s.send(reply{kind: msgLoaded, err: err.Error()})
		return 1
	}
	f.Close()
	s.policy, s.journal = p, p.Journal
	notes := s.recover()
	s.send(hello)
	for _, n := range notes {
		s.send(reply{kind: msgNote, err: n})
	}
	tune.Settled() // the start-up's pages: the loop runs little of the program
	code := s.loop()
	s.removeMade() // the daemon is gone: its pid file and control socket
	s.stopAll()
	return code
}

func (s *server) loop() int {
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(3*4))
	for {
		n, oobn, flags, err := s.recv(buf, oob)
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
		case msgReload:
			closeAll(files)
			s.reload(req.id)
		case msgFile:
			closeAll(files)
			s.file(req)
		}
	}
}

// usePoller puts the socket in the runtime's poller (see sendNow); where
// it cannot be made non-blocking, the spawner waits in recvmsg(2).
func (s *server) usePoller() {
	if unix.SetNonblock(s.fd, true) != nil {
		return
	}
	f := os.NewFile(uintptr(s.fd), "daemon") // it owns fd from here on
	if rc, err := f.SyscallConn(); err == nil {
		s.sock, s.rc = f, rc
		return
	}
	_ = unix.SetNonblock(s.fd, false)
}

// recv waits for the daemon's next message.
func (s *server) recv(buf, oob []byte) (n, oobn, flags int, err error) {
	if s.rc == nil {
		n, oobn, flags, _, err = unix.Recvmsg(s.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		return n, oobn, flags, err
	}
	if rerr := s.rc.Read(func(fd uintptr) bool {
		n, oobn, flags, err = recvNow(int(fd), buf, oob)
		return err != unix.EAGAIN
	}); rerr != nil {
		return 0, 0, 0, rerr
	}
	return n, oobn, flags, err
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

func (s *server) send(r reply) { s.sendFD(r, nil) }

func (s *server) sendFD(r reply, f *os.File) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var oob []byte
	if f != nil {
		oob = unix.UnixRights(int(f.Fd()))
	}
	// An error means the daemon is gone, which the read loop sees.
	msg := r.encode()
	if sendNow(s.wfd, msg, oob) == unix.EAGAIN {
		_ = sendWait(s.wfd, msg, oob)
	}
}

// reload reads the configuration again; the daemon gets the file.
func (s *server) reload(id uint32) {
	p, f, err := s.load()
	if err != nil {
		s.send(reply{kind: msgLoaded, id: id, err: err.Error()})
		return
	}
	defer f.Close()
	s.mu.Lock()
	// The instance's locks and replay journal are the daemon's from its
	// start (it keeps them open, and its journal, until it stops).
	p.Files.Locks, p.Files.Replay = s.policy.Files.Locks, s.policy.Files.Replay
	s.policy = p
	s.mu.Unlock()
	s.sendFD(reply{kind: msgLoaded, id: id}, f)
	tune.Settled()
}

// start starts what a request names and reports its pid or why it did
// not start, then its end.
func (s *server) start(req request, files []*os.File) {
	defer closeAll(files)
	fail := func(err error) {
		errno, _ := errs.As[syscall.Errno](err)
		s.send(reply{kind: msgStarted, id: req.id, errno: errno, err: "spawner: " + err.Error()})
	}
	s.mu.Lock()
	var c Cmd
	var p *pending
	var err error
	if req.req.Kind == DoorStop {
		c, err = s.takeStop(req.req)
	} else {
		var stop string
		var due time.Time
		c, stop, due, err = s.policy.build(req.req, s.now(), s.env)
		if err == nil && stop != "" {
			p = &pending{Door: req.req.Door, Addr: req.req.Addr, Cmd: stop, Due: due}
			err = s.promise(p)
		}
	}
	s.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	if req.req.Kind == Notify {
		if len(files) != 3 {
			fail(errors.New("want stdin, stdout and stderr"))
			return
		}
		c.Stdin, c.Stdout, c.Stderr = files[0], files[1], files[2]
	} else {
		c.Stdin, c.Stdout, c.Stderr = s.null, s.null, s.null
	}
	child, err := Direct{}.Start(c)
	if err != nil {
		if p != nil { // nothing to stop
			s.mu.Lock()
			s.unpromise(p)
			s.mu.Unlock()
		}
		fail(err)
		return
	}
	pid := uint32(child.Pid())
	s.mu.Lock()
	s.running[pid] = child
	s.mu.Unlock()
	s.send(reply{kind: msgStarted, id: req.id, pid: pid})
	go func() {
		ws, _ := child.Wait()
		s.mu.Lock()
		delete(s.running, pid)
		s.mu.Unlock()
		s.send(reply{kind: msgExited, pid: pid, status: uint32(ws)})
	}()
}

// promise journals a stop command before its start command runs; it
// refuses the start when the journal cannot be written.
func (s *server) promise(p *pending) error {
	if len(s.pending) >= maxPending {
		return refuse("%d stop commands pending", maxPending)
	}
	s.pending = append(s.pending, p)
	if err := s.save(); err != nil {
		s.pending = s.pending[:len(s.pending)-1]
		return err
	}
	return nil
}

// unpromise removes a stop command from the journal.
func (s *server) unpromise(p *pending) {
	i := slices.Index(s.pending, p)
	if i < 0 {
		return
	}
	s.pending = slices.Delete(s.pending, i, i+1)
	if t := s.timers[p]; t != nil {
		t.Stop()
		delete(s.timers, p)
	}
	if err := s.save(); err != nil {
		s.note("error: " + err.Error())
	}
}

// takeStop returns the oldest stop command promised for the door and
// address of r, removed from the journal; a stop command is run only
// when a start command promised it.
func (s *server) takeStop(r Request) (Cmd, error) {
	for _, p := range s.pending {
		if p.Door == r.Door && p.Addr == r.Addr && s.timers[p] == nil {
			s.unpromise(p)
			return s.policy.command(p.Cmd, s.env), nil
		}
	}
	return Cmd{}, refuse("no stop command of door %q pending for %q", r.Door, r.Addr)
}

func (s *server) save() error {
	if s.journal == "" {
		return nil
	}
	ps := make([]pending, len(s.pending))
	for i, p := range s.pending {
		ps[i] = *p
	}
	return writeJournal(s.journal, ps)
}

func (s *server) note(line string) { s.send(reply{kind: msgNote, err: "spawner: " + line}) }

// recover runs the stop commands a former run promised and did not run:
// those overdue now (waiting for them, within stopWait), the others at
// their time. It returns the lines for the daemon's log.
func (s *server) recover() []string {
	if s.journal == "" {
		return nil
	}
	var notes []string
	old, err := readJournal(s.journal)
	if err != nil {
		notes = append(notes, "spawner: error: "+err.Error())
	}
	now := s.now()
	s.mu.Lock()
	for _, o := range old {
		p := &pending{Door: o.Door, Addr: o.Addr, Cmd: o.Cmd, Due: o.Due}
		s.pending = append(s.pending, p)
		if p.Due.After(now) {
			notes = append(notes, fmt.Sprintf("spawner: %s: %s: stop command of a former run due at %s: %s", p.Addr, p.Door, p.Due.Format("15:04:05"), p.Cmd))
			s.timers[p] = time.AfterFunc(p.Due.Sub(now), func() { s.runOwn(p) })
			continue
		}
		notes = append(notes, fmt.Sprintf("spawner: %s: %s: running the overdue stop command of a former run: %s", p.Addr, p.Door, p.Cmd))
	}
	overdue := slices.DeleteFunc(slices.Clone(s.pending), func(p *pending) bool { return s.timers[p] != nil })
	if err := s.save(); err != nil {
		notes = append(notes, "spawner: error: "+err.Error())
	}
	s.mu.Unlock()
	for _, p := range overdue {
		s.runOwn(p)
	}
	s.waitOwn()
	return notes
}

// runOwn runs a promised stop command by itself (no daemon asked).
func (s *server) runOwn(p *pending) {
	s.mu.Lock()
	if !slices.Contains(s.pending, p) {
		s.mu.Unlock()
		return
	}
	delete(s.timers, p)
	s.unpromise(p)
	c := s.policy.command(p.Cmd, s.env)
	s.mu.Unlock()
	c.Stdin, c.Stdout, c.Stderr = s.null, s.null, s.null
	child, err := Direct{}.Start(c)
	if err != nil {
		s.note(fmt.Sprintf("%s: %s: error: stop command could not start: %v", p.Addr, p.Door, err))
		return
	}
	s.own.Add(1)
	go func() {
		defer s.own.Done()
		ws, _ := child.Wait()
		if err := StatusError(ws); err != nil {
			s.note(fmt.Sprintf("%s: %s: stop command: %v", p.Addr, p.Door, err))
		}
	}()
}

// waitOwn waits for the stop commands the spawner runs itself, at most
// stopWait.
func (s *server) waitOwn() {
	done := make(chan struct{})
	go func() { s.own.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopWait):
	}
}

// stopAll runs every promised stop command now: the daemon is gone (it
// runs them itself when it shuts down; it did not).
func (s *server) stopAll() {
	s.mu.Lock()
	all := slices.Clone(s.pending)
	s.mu.Unlock()
	for _, p := range all {
		s.runOwn(p)
	}
	s.waitOwn()
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

// environ is the environment of the spawner's children: its own, without
// the variables of the spawner's start.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envFD+"=") {
			env = append(env, kv)
		}
	}
	return env
}
