package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// stuckSpawner is a spawner that does not answer: Start blocks until
// release is closed, then starts the command from this process.
type stuckSpawner struct {
	entered chan struct{} // told of the first Start
	release chan struct{}
}

func (s *stuckSpawner) Start(c spawn.Cmd) (spawn.Process, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return spawn.Direct{}.Start(c)
}

// TestSlowSpawnerDoesNotStallPackets: while the spawner holds a start
// command, the packet path goes on: another knocker's start command
// queues behind it, another door opens and grants. Once the spawner
// answers, both commands run, in the order of their successes, and the
// status says so.
func TestSlowSpawnerDoesNotStallPackets(t *testing.T) {
	st := &stuckSpawner{entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := newRigStarter(t, `[cmd]
  sequence = 7000,8000
  command = touch DIR/cmd-%IP%
[ssh]
  sequence = 7100,8100
  open = tcp/22
`, nil, st)
	released := false
	release := func() {
		if !released {
			released = true
			close(st.release)
		}
	}
	defer release() // before the rig's cleanup, which waits for the packet path
	srcC := srcA.Next().Next()
	go r.src.Sequence(0, srcA, router, tcp(7000), tcp(8000))
	select {
	case <-st.entered:
	case <-time.After(5 * time.Second):
		t.Fatalf("the start command never reached the spawner; log:\n%s", r.log.String())
	}
	knocked := make(chan struct{})
	go func() {
		defer close(knocked)
		r.src.Sequence(0, srcC, router, tcp(7000), tcp(8000))
		r.src.Sequence(0, srcB, router, tcp(7100), tcp(8100))
	}()
	select {
	case <-knocked:
	case <-time.After(5 * time.Second):
		t.Fatalf("the packet path stalled behind the spawner; log:\n%s", r.log.String())
	}
	r.waitLog("198.51.100.3: cmd: OPEN SESAME")
	r.waitGrant(srcB)
	if _, err := os.Stat(filepath.Join(r.dir, "cmd-198.51.100.1")); err == nil {
		t.Fatal("the command ran before the spawner answered")
	}
	release()
	for _, ip := range []string{"198.51.100.1", "198.51.100.3"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(r.dir, "cmd-"+ip)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the command for %s did not run; log:\n%s", ip, r.log.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// The status tells what became of the command, once started.
	want := "started: touch " + r.dir + "/cmd-198.51.100.1"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if slices.ContainsFunc(r.d.Status().Opened, func(e Event) bool { return e.Src == srcA && e.What == want }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status does not say %q: %+v", want, r.d.Status().Opened)
		}
	}
	// A command's line is written once its start was asked for, so the
	// file it touches may exist before the line does: wait for both.
	r.waitLog("running command: touch " + r.dir + "/cmd-198.51.100.3")
	log := r.log.String()
	a, c := strings.Index(log, "running command: touch "+r.dir+"/cmd-198.51.100.1"), strings.Index(log, "running command: touch "+r.dir+"/cmd-198.51.100.3")
	if a < 0 || c < 0 || a > c {
		t.Fatalf("start commands not run in the order of their successes:\n%s", log)
	}
}
