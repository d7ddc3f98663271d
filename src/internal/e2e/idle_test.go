package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// TestIdleNoWakeups: with nothing to do (after start, and after an attempt
// has expired) every thread of the daemon sleeps: no ticker, poll or timer
// of its own. A once-a-second timer would show 3 or more switches.
func TestIdleNoWakeups(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	d := knockd(t, p.router, p.rdev, "[door]\n  sequence = 7000,8000\n  seq_timeout = 1\n  command = true\n")
	pid := d.cmd.Process.Pid
	quiet := func(when string) {
		t.Helper()
		// The new link settles first: IPv6 MLD reports in its first
		// seconds raise events the daemon follows.
		time.Sleep(2 * time.Second)
		n0 := contextSwitches(t, pid)
		time.Sleep(3 * time.Second)
		if n := contextSwitches(t, pid) - n0; n > 2 {
			t.Fatalf("%s: %d context switches in 3 s of idle, want at most 2", when, n)
		}
	}
	quiet("after start")
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	d.mustSee(p.haddr4+": door: sequence timeout (stage 1)", 14*time.Second)
	quiet("after an attempt expired")
}

// contextSwitches sums the voluntary and involuntary context switches of
// every thread of pid.
func contextSwitches(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads for pid %d: %v", pid, err)
	}
	n := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that just ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				c, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("%s: %q: %v", f, line, err)
				}
				n += c
			}
		}
	}
	return n
}
