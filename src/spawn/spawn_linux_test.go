package spawn

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main() // the test binary is the spawner of the tests below
	os.Exit(m.Run())
}

// self is the command line that runs the test binary again. Where the
// suite runs under an emulator (go test -exec qemu-mips-static, with no
// binfmt_misc registration), the emulator is named by
// KNOCKD_GO_TEST_EXEC and runs it.
func self() []string {
	if emu := os.Getenv("KNOCKD_GO_TEST_EXEC"); emu != "" {
		return []string{emu, os.Args[0], "-test.run=^$"}
	}
	return []string{os.Args[0], "-test.run=^$"}
}

func launch(t *testing.T) guarded {
	t.Helper()
	c, err := Launch(self())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return guarded{c, t}
}

// guarded is a test's client: a start that gets no answer fails the
// test, except under an emulator, where qemu-user at times hangs the
// child of a fork in a multi-threaded emulated process (stuck in the
// emulator's futexes before its exec, which a kernel never does): the
// test is then skipped, saying so.
type guarded struct {
	*Client
	t *testing.T
}

func (g guarded) Start(c Cmd) (Process, error) {
	type result struct {
		p   Process
		err error
	}
	ch := make(chan result, 1)
	go func() {
		p, err := g.Client.Start(c)
		ch <- result{p, err}
	}()
	select {
	case r := <-ch:
		return r.p, r.err
	case <-time.After(30 * time.Second):
	}
	// The spawner's children, then the spawner.
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, _ := os.ReadFile(st)
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(g.Pid()) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	syscall.Kill(g.Pid(), syscall.SIGKILL)
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		g.t.Skipf("%q: the emulator hung the fork of the emulated spawner (qemu-user with a multi-threaded guest), not a failure of the spawner", c.Args)
	}
	g.t.Fatalf("%q: the spawner did not answer in 30 s", c.Args)
	return nil, nil
}

// run starts argv through st with stdin as its input and returns its
// output and wait status.
func run(t *testing.T, st Starter, c Cmd, stdin string) (string, syscall.WaitStatus) {
	t.Helper()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	c.Path, c.Stdin, c.Stdout, c.Stderr = c.Args[0], inR, outW, outW
	p, err := st.Start(c)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		t.Fatalf("%q: %v", c.Args, err)
	}
	io.WriteString(inW, stdin)
	inW.Close()
	out, _ := io.ReadAll(outR)
	ws, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return string(out), ws
}

// capLine returns the value of a line of a /proc status file.
func capLine(status, name string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestStarters: stdin and stdout through the passed descriptors, exit
// statuses, a missing program, and a process group killed whole, both
// from this process (Direct) and through a spawner.
func TestStarters(t *testing.T) {
	for _, tt := range []struct {
		name string
		st   func(t *testing.T) Starter
	}{
		{"direct", func(*testing.T) Starter { return Direct{} }},
		{"spawner", func(t *testing.T) Starter { return launch(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st(t)
			out, ws := run(t, st, Cmd{Args: []string{"/bin/sh", "-c", "tr a-z A-Z; echo err >&2; exit 7"}}, "hello\n")
			if out != "HELLO\nerr\n" || ws.ExitStatus() != 7 || StatusError(ws).Error() != "exit status 7" {
				t.Fatalf("output %q, status %v", out, StatusError(ws))
			}
			// No socket reaches a child (the spawner's would let it
			// have anything run as root).
			out, _ = run(t, st, Cmd{Args: []string{"/bin/sh", "-c", "for f in /proc/$$/fd/*; do readlink $f; done"}}, "")
			if strings.Contains(out, "socket:") {
				t.Fatalf("a child inherited a socket:\n%s", out)
			}
			_, err := st.Start(Cmd{Path: "/nonexistent/program", Args: []string{"program"}})
			if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/program") {
				t.Fatalf("missing program: %v", err)
			}
			// A child in the background of the killed one dies with it.
			outR, outW, _ := os.Pipe()
			defer outR.Close()
			p, err := st.Start(Cmd{Path: "/bin/sh", Args: []string{"/bin/sh", "-c", "sleep 60 & echo $!; sleep 60"}, Stdout: outW})
			outW.Close()
			if err != nil {
				t.Fatal(err)
			}
			line := make([]byte, 32)
			n, _ := outR.Read(line)
			bg, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
			if err != nil {
				t.Fatalf("background pid %q", line[:n])
			}
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			ws, err = p.Wait()
			if err != nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("killed child: %v %v", StatusError(ws), err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, err := os.ReadFile("/proc/" + strconv.Itoa(bg) + "/stat")
				if err != nil || strings.Contains(string(st), ") Z ") {
					break
				}
				if time.Now().After(deadline) {
					syscall.Kill(bg, syscall.SIGKILL)
					t.Fatalf("the background child survived its group's kill: %s", st)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := p.Kill(); err != nil {
				t.Errorf("kill after wait: %v", err)
			}
			t.Logf("%s: output, exit status 7, missing program and group kill: ok", tt.name)
		})
	}
}

// TestSpawnerSignals: the daemon's signals do not end the spawner (a
// firewall hook sends SIGUSR2 to every pidof knockd, which includes it).
func TestSpawnerSignals(t *testing.T) {
	c := launch(t)
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		if err := syscall.Kill(c.Pid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	// A child gets the default actions back.
	out, ws := run(t, c, Cmd{Args: []string{"/bin/sh", "-c", "grep -E '^Sig(Ign|Cgt)' /proc/self/status"}}, "")
	if ws != 0 || statusMask(out, "SigIgn")&(1<<(syscall.SIGTERM-1)|1<<(syscall.SIGUSR2-1)) != 0 {
		t.Fatalf("child after the signals: %v\n%s", StatusError(ws), out)
	}
	select {
	case <-c.Died():
		t.Fatalf("the spawner died: %v", c.Err())
	default:
	}
}

// statusMask returns a hexadecimal mask of a /proc status file.
func statusMask(status, name string) uint64 {
	v, _ := strconv.ParseUint(capLine(status, name), 16, 64)
	return v
}

// TestSpawnerGone: when the spawner dies, Died is closed, a running
// child's wait ends with ErrGone, and nothing more starts.
func TestSpawnerGone(t *testing.T) {
	c := launch(t)
	p, err := c.Start(Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(p.Pid(), syscall.SIGKILL)
	syscall.Kill(c.Pid(), syscall.SIGKILL)
	select {
	case <-c.Died():
	case <-time.After(10 * time.Second):
		t.Fatal("Died not closed")
	}
	if _, err := p.Wait(); !errors.Is(err, ErrGone) {
		t.Fatalf("wait: %v", err)
	}
	if _, err := c.Start(Cmd{Path: "/bin/true", Args: []string{"true"}}); !errors.Is(err, ErrGone) {
		t.Fatalf("start: %v", err)
	}
	t.Logf("spawner gone: %v", c.Err())
}

// TestSpawnerPrivileges (root): the spawner keeps setuid, setgid and kill
// and root's bounding set; a child run as root has root's full set, one
// run as nobody with no_new_privs has nothing, even when the starting
// process has given up everything but net_raw and net_admin.
func TestSpawnerPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root: starts children as root and as nobody")
	}
	own, _ := os.ReadFile("/proc/self/status")
	full := capLine(string(own), "CapBnd")
	c := launch(t)
	st, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warning(); w != "" {
		// A race (cgo) build cannot change the capabilities of every
		// thread: the spawner says so and runs on.
		if !raceEnabled {
			t.Fatalf("spawner: %s", w)
		}
		t.Logf("spawner (race build): %s", w)
	} else if capLine(string(st), "CapEff") != "00000000000000e0" || capLine(string(st), "CapPrm") != "00000000000000e0" || capLine(string(st), "CapBnd") != full {
		// kill (5), setgid (6), setuid (7)
		t.Fatalf("the spawner's capabilities:\n%s", st)
	}
	t.Logf("spawner: CapEff %s CapPrm %s CapBnd %s", capLine(string(st), "CapEff"), capLine(string(st), "CapPrm"), capLine(string(st), "CapBnd"))
	out, ws := run(t, c, Cmd{Args: []string{"/bin/sh", "-c", "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"}}, "")
	if ws != 0 || !strings.HasPrefix(out, "0\n") || capLine(out, "CapEff") != full || capLine(out, "NoNewPrivs") != "0" {
		t.Fatalf("root child (want CapEff %s):\n%s", full, out)
	}
	t.Logf("root child: %s", strings.ReplaceAll(out, "\n", " "))
	out, ws = run(t, c, Cmd{Args: []string{"/bin/sh", "-c", "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"},
		Cred: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}, NoNewPrivs: true}, "")
	if ws != 0 || !strings.HasPrefix(out, "65534\n") || capLine(out, "CapEff") != "0000000000000000" || capLine(out, "NoNewPrivs") != "1" {
		t.Fatalf("nobody child:\n%s", out)
	}
	t.Logf("nobody child: %s", strings.ReplaceAll(out, "\n", " "))
}
