package service

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/task"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// fakeSpawner is the spawner as Run watches it.
type fakeSpawner struct{ died chan struct{} }

func (f *fakeSpawner) Died() <-chan struct{} { return f.died }
func (f *fakeSpawner) Err() error            { return errors.New("spawner: gone") }

// TestRunTasks: Run's tasks — start-up (the control socket once ready,
// then OnReady), signals once the daemon serves (HUP reloads then
// OnReload, USR1 logs the counters, USR2 re-asserts, TERM stops without
// an error and calls Stopping), the spawner watchdog (a spawner gone
// stops the daemon with its reason).
func TestRunTasks(t *testing.T) {
	sigs := make(chan os.Signal, 8)
	sp := &fakeSpawner{died: make(chan struct{})}
	var listened, ready, reloaded, stopping atomic.Int32
	r := newSvcWith(t, "[d]\n  sequence = 7000,8000\n  open = tcp/22\n", testsrc.New([]netip.Addr{router}), func(dir string, o *Options) {
		o.Signals, o.Spawner = sigs, sp
		o.Listen = func(control.Handler) (*control.Server, error) { listened.Add(1); return nil, nil }
		o.OnReady = func() {
			if listened.Load() != 1 {
				t.Error("ready before the control socket was opened")
			}
			ready.Add(1)
		}
		o.OnReload = func(*config.Config) { reloaded.Add(1) }
		o.Stopping = func() { stopping.Add(1) }
	})
	r.wait("ready", func() bool { return ready.Load() == 1 })
	sigs <- syscall.SIGHUP
	r.wait("a reload", func() bool { return reloaded.Load() == 1 })
	sigs <- syscall.SIGUSR1
	sigs <- syscall.SIGUSR2
	if !r.rec.Wait("stats: packets ", 5*time.Second) || !r.rec.Wait("re-asserting firewall rules and grants (SIGUSR2)", 5*time.Second) {
		t.Fatalf("log:\n%s", r.rec)
	}
	sigs <- syscall.SIGTERM
	select {
	case err := <-r.done:
		if err != nil || stopping.Load() != 1 {
			t.Fatalf("TERM: Run returned %v, Stopping called %d times", err, stopping.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("TERM did not stop Run")
	}
	r.done <- nil // for the rig's cleanup

	// The spawner gone, Run stops with its reason, named by its task.
	r = newSvcWith(t, "[d]\n  sequence = 7000,8000\n", testsrc.New([]netip.Addr{router}), func(dir string, o *Options) {
		sp = &fakeSpawner{died: make(chan struct{})}
		o.Spawner = sp
	})
	close(sp.died)
	select {
	case err := <-r.done:
		var te *task.Error
		if !errors.As(err, &te) || te.Task != "spawner watchdog" || !strings.HasPrefix(te.Err.Error(), "spawner: gone: stopping (") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a spawner gone did not stop Run")
	}
	r.done <- nil
}
