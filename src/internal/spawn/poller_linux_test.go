package spawn

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSendsWakeNoPoller: each process writes its messages on a socket
// that is in none of its own pollers, and reads the other's on one that
// is. The runtime registers a descriptor for writing as well as reading:
// had the daemon its requests' socket in its poller, the spawner's read
// of each request, which frees room on it, would wake the daemon's
// poller thread, and on a two-core machine preempt the spawner just
// before it starts the command (the knock -> command latency's trace);
// the spawner's replies likewise.
func TestSendsWakeNoPoller(t *testing.T) {
	g := launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Start: "/bin/true", Stop: "/bin/true"}}})
	p, err := g.Start(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	daemon := polled(t, os.Getpid())
	if daemon[g.sendFD()] {
		t.Errorf("the daemon's requests go out on descriptor %d, which is in its poller (%v)", g.sendFD(), daemon)
	}
	if !daemon[g.recvFD()] {
		t.Errorf("the daemon waits for replies on descriptor %d, which is not in its poller (%v)", g.recvFD(), daemon)
	}
	spawner := polled(t, g.pid)
	if spawner[spawnerReplyFD] {
		t.Errorf("the spawner's replies go out on descriptor %d, which is in its poller (%v)", spawnerReplyFD, spawner)
	}
	if !spawner[spawnerFD] {
		t.Errorf("the spawner waits for requests on descriptor %d, which is not in its poller (%v)", spawnerFD, spawner)
	}
}

// polled returns the descriptors of process pid that are in one of its
// epoll instances (the runtime's poller).
func polled(t *testing.T, pid int) map[int]bool {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	in := map[int]bool{}
	epolls := 0
	for _, e := range fds {
		if l, _ := os.Readlink(dir + "/fd/" + e.Name()); l != "anon_inode:[eventpoll]" {
			continue
		}
		epolls++
		f, err := os.Open(dir + "/fdinfo/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			// tfd:        7 events: 8000201d data: ...
			if rest, ok := strings.CutPrefix(s.Text(), "tfd:"); ok {
				if n, err := strconv.Atoi(strings.Fields(rest)[0]); err == nil {
					in[n] = true
				}
			}
		}
		f.Close()
	}
	if epolls == 0 {
		t.Fatalf("process %d has no epoll instance", pid)
	}
	return in
}
