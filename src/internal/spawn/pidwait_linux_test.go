package spawn

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWaitExit: waitExit returns once the child has ended, not before,
// and leaves it to be reaped (a zombie until exec.Cmd.Wait), which then
// gives its status.
func TestWaitExit(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.2; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t0 := time.Now()
	if !waitExit(pid) {
		cmd.Wait()
		t.Skip("no pidfd waits on this kernel (Linux 5.4 or later has them): the caller waits in wait(2)")
	}
	if took := time.Since(t0); took < 150*time.Millisecond {
		t.Fatalf("waitExit returned after %v, before the child's 0.2 s", took)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil || !strings.Contains(string(b), ") Z ") {
		t.Fatalf("after waitExit the child is not a zombie left to be reaped: %q, %v", b, err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.ExitStatus() != 3 {
		t.Fatalf("Wait after waitExit: %v, status %v; want exit status 3", err, cmd.ProcessState)
	}
	// A child already gone: at once.
	cmd = exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan bool, 1)
	go func() { done <- waitExit(cmd.Process.Pid) }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("waitExit of an ended child: false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitExit of a child that had already ended did not return")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
