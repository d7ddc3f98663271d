package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// TestCaptureWaitsForLookups: the packet path's task ends once the name
// lookups its packets started are done: none outlives it.
func TestCaptureWaitsForLookups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 1,2,3\n"), 0o600)
	log := logx.Discard()
	started, release := make(chan struct{}), make(chan struct{})
	d, err := New(compile(t, path, time.Now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}),
		Runner: command.NewRunner(command.Options{Max: 1, Log: log}),
		Lookup: func(netip.Addr) string { close(started); <-release; return "host.example" }})
	if err != nil {
		t.Fatal(err)
	}
	d.handle(0, testsrc.Frame(srcA, router, tcp(1)), time.Time{}) // starts the lookup
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- d.Capture(ctx) }()
	select {
	case <-done:
		t.Fatal("Capture returned while a lookup was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Capture did not return once the lookup was done")
	}
	// Done runs last in the lookup: its goroutine may take a moment to end.
	b := make([]byte, 1<<20)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		st := string(b[:runtime.Stack(b, true)])
		if !strings.Contains(st, "(*names).lookup.func") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a lookup outlived Capture:\n%s", st)
		}
	}
}
