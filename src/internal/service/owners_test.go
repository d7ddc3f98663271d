package service

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// stacks returns every goroutine's stack.
func stacks() string {
	b := make([]byte, 1<<20)
	return string(b[:runtime.Stack(b, true)])
}

// TestShutdownWaitsForRetiredActions: the pools a reload replaced are
// finished when Shutdown returns: no goroutine of Reload is left.
func TestShutdownWaitsForRetiredActions(t *testing.T) {
	r := newSvc(t, "[d]\n  sequence = 1,2,3\n  command = true\n")
	for i := 0; i < 3; i++ {
		if err := r.s.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	r.cancel()
	err := <-r.done
	r.done <- err // for the rig's cleanup
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.s.Shutdown(ctx)
	// Done runs last in the closer: its goroutine may take a moment to end.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		st := stacks()
		if !strings.Contains(st, "(*Service).Reload.func") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a retired pool's closer outlived Shutdown:\n%s", st)
		}
	}
}

// TestReplayCloseWaitsForCompaction: close returns once the compaction
// running has written the journal, and leaves no goroutine behind.
func TestReplayCloseWaitsForCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	now := func() time.Time { return replayNow }
	s := openReplayStore(path, logx.Discard(), now)
	s.sync(true) // opens the journal
	entered, release := make(chan struct{}), make(chan struct{})
	create := s.create
	s.create = func(tmp string) (journalFile, error) {
		close(entered) // one compaction at a time: it is held below
		<-release
		return create(tmp)
	}
	base := runtime.NumGoroutine()
	for step := uint64(0); ; step++ {
		s.Burn("rot", step)
		// Once a compaction runs it holds s.mu while it writes, held
		// in create below: a Lock here would wait for it for good (seen
		// under qemu-user, where the compaction got there first). The
		// lock taken by someone else is the compaction under way.
		if !s.mu.TryLock() {
			break
		}
		c := s.compacting
		s.mu.Unlock()
		if c {
			break
		}
		if step > 1e6 {
			t.Fatal("no compaction started")
		}
	}
	<-entered
	closed := make(chan struct{})
	go func() { s.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while the compaction was writing")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return once the compaction was done")
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > base; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after close, %d before the compaction:\n%s", runtime.NumGoroutine(), base, stacks())
		}
		time.Sleep(time.Millisecond)
	}
	if s.f != nil {
		t.Fatal("the journal the compaction wrote is still open")
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("journal after the compaction: %v %v", fi, err)
	}
	s.Burn("rot", 1<<40) // a closed store starts no compaction
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.compacting {
		t.Fatal("a compaction started after close")
	}
}
