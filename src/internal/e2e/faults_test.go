package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// floodgen builds the benchmark's generator once per test binary.
func floodgen(t *testing.T) string {
	t.Helper()
	path := filepath.Join(bin.dir, "floodgen")
	if _, err := os.Stat(path); err != nil {
		testenv.Run(t, "go", "build", "-o", path, "../../tools/floodgen")
	}
	return path
}

// children counts the daemon's running child processes (children hang
// off whichever thread forked them).
func children(pid int) int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n += len(strings.Fields(string(b)))
	}
	return n
}

// knockdPid returns the daemon's pid (ip netns exec execs it in place).
func (p *proc) pid() int { return p.cmd.Process.Pid }

func TestCommandStormIsCapped(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := fmt.Sprintf(`[options]
  max_children = 4
[storm]
  sequence = 5000:udp
  command = sleep 3
[cool]
  sequence = 5001:udp
  cooldown = 30
  command = touch %[1]s/cool-%%IP%%
[other]
  sequence = 7000,8000
  command = touch %[1]s/other-%%IP%%
`, dir)
	d := knockd(t, p.router, p.rdev, conf)
	gen := floodgen(t)
	// 10,000 hits of a single-port UDP door.
	testenv.In(t, p.host, gen, "-dev", p.hdev, "-dstmac", p.rmac.String(), "-dst", p.raddr4, "-src", p.haddr4,
		"-proto", "udp", "-port", "5000", "-n", "10000", "-sources", "1")
	max := 0
	for i := 0; i < 20; i++ {
		if n := children(d.pid()); n > max {
			max = n
		}
		time.Sleep(10 * time.Millisecond)
	}
	if max > 4 {
		t.Fatalf("%d children running, cap is 4", max)
	}
	if max == 0 {
		t.Fatalf("no command ran at all:\n%.2000s", d.out.String())
	}
	d.mustSee("too many running commands", wait)
	// Still responsive: another door opens at once.
	t0 := time.Now()
	testenv.In(t, p.host, knock, p.raddr4, "7000", "8000")
	if !fileAppears(filepath.Join(dir, "other-"+p.haddr4), 3*time.Second) {
		t.Fatalf("daemon unresponsive after the storm")
	}
	t.Logf("other door opened %v after its knock, during the storm", time.Since(t0))
	// Cooldown: 1,000 hits, one success.
	testenv.In(t, p.host, gen, "-dev", p.hdev, "-dstmac", p.rmac.String(), "-dst", p.raddr4, "-src", p.haddr4,
		"-proto", "udp", "-port", "5001", "-n", "1000", "-sources", "1")
	time.Sleep(500 * time.Millisecond)
	if n := d.count(p.haddr4 + ": cool: OPEN SESAME"); n != 1 {
		t.Fatalf("cooldown door opened %d times for 1000 hits, want 1", n)
	}
}

func TestSIGTERMDuringStartCommandAndHungCommand(t *testing.T) {
	p := newPair(t)
	knock := testenv.NeedBin(t, "knock")
	dir := t.TempDir()
	conf := fmt.Sprintf(`[slow]
  sequence = 7000
  start_command = sleep 1; touch %[1]s/started
  cmd_timeout = 3600
  stop_command = touch %[1]s/stopped
[hang]
  sequence = 7100
  command = sleep 100000
`, dir)
	d := knockd(t, p.router, p.rdev, conf)
	testenv.In(t, p.host, knock, p.raddr4, "7100") // a command that never ends
	testenv.In(t, p.host, knock, p.raddr4, "7000")
	d.mustSee("slow: running command: sleep 1", wait)
	t0 := time.Now()
	d.signal(syscall.SIGTERM) // while the start command runs
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit within 20 s of SIGTERM:\n%s", d.out.String())
	}
	if el := time.Since(t0); el > 6*time.Second {
		t.Errorf("exit took %v: a hung command must not hold shutdown for long", el)
	}
	t.Logf("exited %v after SIGTERM", time.Since(t0))
	for _, f := range []string{"started", "stopped"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s missing: the start command must finish and its stop run before exit\n%s", f, d.out.String())
		}
	}
}
