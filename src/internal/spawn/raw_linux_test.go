package spawn

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns a socket pair as Start makes them (blocking), closed
// when the test ends.
func pair(t *testing.T) [2]int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return fds
}

// recvWithin reads one message from fd, waiting at most d: the test's
// end of a socket pair, which no poller watches.
func recvWithin(t *testing.T, fd int, d time.Duration, buf, oob []byte, flags int) (n, oobn int, err error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left < time.Millisecond {
			return 0, 0, unix.EAGAIN
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, flags)
		if err != unix.EINTR {
			return n, oobn, err
		}
	}
}

// TestRecvWithinOutlivesSignals: a socket with a receive timeout is
// never restarted after a signal handler ran (signal(7)), and the Go
// runtime signals its threads (SIGURG preempts goroutines; qemu-user
// delivers them at every turn): an interrupted wait goes on waiting.
func TestRecvWithinOutlivesSignals(t *testing.T) {
	fds := pair(t)
	tid := make(chan int, 1)
	got := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine
		tid <- unix.Gettid()
		buf := make([]byte, 16)
		_, _, err := recvWithin(t, fds[1], 5*time.Second, buf, nil, 0)
		got <- err
	}()
	id := <-tid
	for range 20 { // the thread is in recvmsg for most of these
		time.Sleep(5 * time.Millisecond)
		if err := unix.Tgkill(unix.Getpid(), id, unix.SIGURG); err == unix.ESRCH {
			break // the wait ended, and its thread with it
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := unix.Write(fds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("a wait that signals interrupted: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message sent was never read")
	}
}

// TestServerSendWaitsForRoom: the spawner's requests' socket does not
// block (it is waited for in the poller), its replies' socket is in no
// poller: a reply sent while the daemon's queue is full must wait for
// room, not be lost: the daemon would wait for it forever.
func TestServerSendWaitsForRoom(t *testing.T) {
	req, fds := pair(t), pair(t)
	s := &server{fd: dup(t, req[0]), wfd: fds[0]}
	s.usePoller()
	if s.rc == nil {
		t.Fatal("the spawner's socket is not in the poller")
	}
	t.Cleanup(func() { s.sock.Close() }) // its file owns the copy
	// Far more than the queue holds (a few hundred small messages).
	const n = 3000
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			s.send(reply{kind: msgExited, pid: uint32(i)})
		}
	}()
	select {
	case <-sent:
		t.Fatalf("%d replies sent to a daemon that reads none: the queue never filled", n)
	case <-time.After(200 * time.Millisecond):
	}
	buf := make([]byte, maxMsg)
	for i := range n {
		m, _, err := recvWithin(t, fds[1], 5*time.Second, buf, nil, 0)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, n, err)
		}
		r, err := decodeReply(buf[:m])
		if err != nil || r.kind != msgExited || r.pid != uint32(i) {
			t.Fatalf("reply %d: %+v, %v; want the exit of pid %d", i, r, err, i)
		}
	}
	<-sent
}

// TestClientSendWaitsForRoom: the daemon's replies are waited for in the
// poller, its requests go out on a socket that is not in it: a request
// sent while the spawner's queue is full waits for room and arrives.
func TestClientSendWaitsForRoom(t *testing.T) {
	rep, fds := pair(t), pair(t)
	exited := make(chan struct{})
	close(exited)
	c := (&Handoff{fd: dup(t, rep[0]), wfd: dup(t, fds[0]), pid: 1, exited: exited}).client(nil)
	defer c.Close()
	if c.rc == nil {
		t.Fatal("the daemon's end is not in the poller")
	}
	const n = 3000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			msg, _ := request{kind: msgKill, pid: uint32(i)}.encode()
			if err := c.send(msg, nil); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		t.Fatalf("%d requests sent to a spawner that reads none (%v): the queue never filled", n, err)
	case <-time.After(200 * time.Millisecond):
	}
	buf := make([]byte, maxMsg)
	for i := range n {
		m, _, err := recvWithin(t, fds[1], 5*time.Second, buf, nil, 0)
		if err != nil {
			t.Fatalf("request %d of %d: %v", i, n, err)
		}
		r, err := decodeRequest(buf[:m])
		if err != nil || r.kind != msgKill || r.pid != uint32(i) {
			t.Fatalf("request %d: %+v, %v; want the kill of pid %d", i, r, err, i)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestStartPassesFilesOnlyToNotify: a door command runs with the
// spawner's /dev/null, so its request carries no files (the spawner
// would take each in and close it before it forks); a notification's
// carries its three standard files.
func TestStartPassesFilesOnlyToNotify(t *testing.T) {
	rep, fds := pair(t), pair(t)
	exited := make(chan struct{})
	close(exited)
	c := (&Handoff{fd: dup(t, rep[0]), wfd: dup(t, fds[0]), pid: 1, exited: exited}).client(nil)
	defer c.Close()
	started := make(chan error, 3)
	for _, tc := range []struct {
		kind  Kind
		files int
	}{{DoorStart, 0}, {DoorCommand, 0}, {Notify, 3}} {
		go func() { // it waits for a reply until the spawner's end closes
			_, err := c.Start(Cmd{Request: Request{Kind: tc.kind, Door: "d", Addr: "192.0.2.7"}})
			started <- err
		}()
		buf, oob := make([]byte, maxMsg), make([]byte, 256)
		_, oobn, err := recvWithin(t, fds[1], 5*time.Second, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			t.Fatalf("%v: %v", tc.kind, err)
		}
		files, err := rights(oob[:oobn])
		closeAll(files)
		if err != nil || len(files) != tc.files {
			t.Fatalf("a %v request carried %d files (%v), want %d", tc.kind, len(files), err, tc.files)
		}
	}
	// The spawner gone, the starts waiting for it return.
	unix.Shutdown(rep[1], unix.SHUT_RDWR)
	for range 3 {
		select {
		case err := <-started:
			if err == nil {
				t.Fatal("a start without a spawner succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a start still waits for a spawner that is gone")
		}
	}
}

// dup returns a copy of fd for a Client, which closes it.
func dup(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRawTestsLeaveNoFileBehind: a test's descriptors are closed when it
// ends, by the test; none is left to a finalizer that closes the same
// number later, once another test (or a second -count) owns it.
func TestRawTestsLeaveNoFileBehind(t *testing.T) {
	for name, f := range map[string]func(*testing.T){
		"ServerSendWaitsForRoom": TestServerSendWaitsForRoom,
		"ClientSendWaitsForRoom": TestClientSendWaitsForRoom,
	} {
		t.Run(name, f)
		later := pair(t) // the numbers the test's sockets had
		runtime.GC()
		runtime.GC() // the finalizers queued by the first run
		time.Sleep(50 * time.Millisecond)
		for _, fd := range later {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
				t.Fatalf("after %s, a socket made later (fd %d) was closed behind its owner's back: %v", name, fd, err)
			}
		}
	}
}

// TestSendDoesNotWait: Send writes a door command's request and returns
// before the spawner answers; the answer comes through Pending.Wait. A
// request it cannot write at once (the socket full, a notification's
// files) is not sent at all: ErrWouldWait, and nothing waits for an answer.
func TestSendDoesNotWait(t *testing.T) {
	rep, fds := pair(t), pair(t)
	exited := make(chan struct{})
	close(exited)
	c := (&Handoff{fd: dup(t, rep[0]), wfd: dup(t, fds[0]), pid: 1, exited: exited}).client(nil)
	defer c.Close()
	p, err := c.Send(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxMsg)
	n, _, err := recvWithin(t, fds[1], 5*time.Second, buf, nil, 0)
	if err != nil {
		t.Fatalf("no request on the socket: %v", err)
	}
	req, err := decodeRequest(buf[:n])
	if err != nil || req.kind != msgStart || req.req.Door != "d" || req.req.Addr != "192.0.2.7" {
		t.Fatalf("request %+v, %v", req, err)
	}
	if _, err := unix.Write(rep[1], reply{kind: msgStarted, id: req.id, pid: 4321}.encode()); err != nil {
		t.Fatal(err)
	}
	proc, err := p.Wait()
	if err != nil || proc.Pid() != 4321 {
		t.Fatalf("Wait: %v, %v; want pid 4321", proc, err)
	}

	if _, err := c.Send(Cmd{Request: Request{Kind: Notify, Door: "d", Addr: "192.0.2.7"}}); err != ErrWouldWait {
		t.Fatalf("a notification sent without its files: %v", err)
	}
	// Fill the socket: a spawner that reads nothing.
	msg, _ := request{kind: msgKill, pid: 1}.encode()
	for i := 0; ; i++ {
		if err := sendNow(c.wfd, msg, nil); err == unix.EAGAIN {
			break
		} else if err != nil || i > 100000 {
			t.Fatalf("filling the socket: %v after %d", err, i)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "192.0.2.8"}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != ErrWouldWait {
			t.Fatalf("Send on a full socket: %v, want ErrWouldWait", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send waited for room on the socket")
	}
	c.mu.Lock()
	waiting := len(c.starts)
	c.mu.Unlock()
	if waiting != 0 {
		t.Fatalf("%d starts wait for an answer to requests never sent", waiting)
	}
}
