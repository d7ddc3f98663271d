//go:build linux

package capture

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// TestGroupLeavesNoGoroutine: a group whose devices never became ready
// (here Run ends at once: its context is cancelled) leaves no goroutine
// behind waiting for them, however often Ready was asked for.
func TestGroupLeavesNoGoroutine(t *testing.T) {
	g := NewGroup([]string{"knockdnone0", "knockdnone1"}, logx.Discard())
	before := runtime.NumGoroutine()
	for range 3 {
		_ = g.Ready()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = g.Run(ctx, func(int, []byte, time.Time) {})
	select {
	case <-g.Ready():
		t.Fatal("ready without a device ready")
	default:
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Run, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
