package spawn

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/privs"
	"github.com/knockd-go/knockd-go/src/internal/tune"
)

func TestMain(m *testing.M) {
	privs.NoRootMain()
	Main(testLoad) // the test binary is the spawner of the tests below
	os.Exit(m.Run())
}

// policyArg names, on the spawner's command line, the JSON file of the
// test's Policy: the test spawner's configuration.
const policyArg = "-spawn.policy="

func testLoad() (*Policy, *os.File, error) {
	var path string
	for _, a := range os.Args {
		if v, ok := strings.CutPrefix(a, policyArg); ok {
			path = v
		}
		if v, ok := strings.CutPrefix(a, gcArg); ok {
			gc := debug.SetGCPercent(100)
			debug.SetGCPercent(gc)
			if strconv.Itoa(gc) != v {
				return nil, nil, fmt.Errorf("the spawner runs with GOGC=%d, want %s", gc, v)
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	p := &Policy{}
	if err := json.NewDecoder(f).Decode(p); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Seek(0, io.SeekStart)
	return p, f, nil
}

// writePolicy writes p where the spawner reads it.
func writePolicy(t *testing.T, path string, p *Policy) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// self is the command line that runs the test binary again as the
// spawner of the policy in file. Where the suite runs under an emulator
// (go test -exec qemu-mips-static, with no binfmt_misc registration),
// the emulator is named by KNOCKD_GO_TEST_EXEC and runs it.
func self(file string) []string {
	if emu := os.Getenv("KNOCKD_GO_TEST_EXEC"); emu != "" {
		return []string{emu, os.Args[0], "-test.run=^$", policyArg + file}
	}
	return []string{os.Args[0], "-test.run=^$", policyArg + file}
}

// launch starts a spawner of p (nil: a door d whose commands are
// true); its notes go to the returned recorder.
func launch(t *testing.T, p *Policy) guarded {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.json")
	if p == nil {
		p = &Policy{Doors: map[string]DoorPolicy{"d": {Start: "/bin/true", Stop: "/bin/true"}}}
	}
	writePolicy(t, file, p)
	notes := &notes{}
	c, err := Launch(self(file), notes.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return guarded{c, t, notes}
}

type notes struct {
	mu    sync.Mutex
	lines []string
}

func (n *notes) add(l string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, l)
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// guarded is a test's client: a start that gets no answer fails the
// test, except under an emulator, where qemu-user at times hangs the
// child of a fork in a multi-threaded emulated process (stuck in the
// emulator's futexes before its exec, which a kernel never does): the
// test is then skipped, saying so.
type guarded struct {
	*Client
	t     *testing.T
	notes *notes
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
		g.t.Skipf("%+v: the emulator hung the fork of the emulated spawner (qemu-user with a multi-threaded guest), not a failure of the spawner", c.Request)
	}
	g.t.Fatalf("%+v: the spawner did not answer in 30 s", c.Request)
	return nil, nil
}

// run starts argv through st with stdin as its input and returns its
// output and wait status.
func run(t *testing.T, st Starter, c Cmd, stdin string) (string, syscall.WaitStatus) {
	t.Helper()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	if len(c.Args) > 0 {
		c.Path = c.Args[0]
	}
	c.Stdin, c.Stdout, c.Stderr = inR, outW, outW
	p, err := st.Start(c)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		t.Fatalf("%q %+v: %v", c.Args, c.Request, err)
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
// statuses, a missing program, and a process group killed whole, from
// this process (Direct); the spawner runs its notification program so.
func TestStarters(t *testing.T) {
	st := Direct{}
	out, ws := run(t, st, Cmd{Args: []string{"/bin/sh", "-c", "tr a-z A-Z; echo err >&2; exit 7"}}, "hello\n")
	if out != "HELLO\nerr\n" || ws.ExitStatus() != 7 || StatusError(ws).Error() != "exit status 7" {
		t.Fatalf("output %q, status %v", out, StatusError(ws))
	}
	_, err := st.Start(Cmd{Path: "/nonexistent/program", Args: []string{"program"}})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("missing program: %v", err)
	}
	groupKill(t, st, Cmd{Path: "/bin/sh", Args: []string{"/bin/sh", "-c", "sleep 60 & echo $!; sleep 60"}})

	// Through the spawner: the door's notification program, its argv
	// from the spawner's policy (the recipients), never a socket.
	if noTrampoline(t) {
		return
	}
	sp := launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Notify: []string{"root"}}, "bg": {Notify: []string{"x"}}},
		Sendmail: []string{"/bin/sh", "-c", `tr a-z A-Z; echo "$@" >&2; for f in /proc/$$/fd/*; do readlink $f; done | grep socket: >&2; exit 7`, "sh"}})
	notify := Request{Kind: Notify, Door: "d", Addr: "10.0.0.1"}
	out, ws = run(t, sp, Cmd{Request: notify}, "hello\n")
	if out != "HELLO\n-i root\n" || ws.ExitStatus() != 7 {
		t.Fatalf("spawner: output %q, status %v", out, StatusError(ws))
	}
	t.Log("direct and spawner: output, exit status 7, missing program, no socket and group kill: ok")
}

// groupKill: a child in the background of the killed one dies with it.
func groupKill(t *testing.T, st Starter, c Cmd) {
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	c.Stdout = outW
	p, err := st.Start(c)
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
	ws, err := p.Wait()
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
}

// TestSpawnerSignals: the daemon's signals do not end the spawner (a
// firewall hook sends SIGUSR2 to every pidof knockd, which includes it).
func TestSpawnerSignals(t *testing.T) {
	if noTrampoline(t) {
		t.SkipNow()
	}
	c := launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Notify: []string{"x"}}},
		Sendmail: []string{"/bin/sh", "-c", "grep -E '^Sig(Ign|Cgt)' /proc/self/status", "sh"}})
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		if err := syscall.Kill(c.Pid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	// A child gets the default actions back.
	out, ws := run(t, c, Cmd{Request: Request{Kind: Notify, Door: "d", Addr: "10.0.0.1"}}, "")
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
	c := launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Start: "/bin/sleep 60"}}})
	p, err := c.Start(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "10.0.0.1"}})
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
	if _, err := c.Start(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "10.0.0.1"}}); !errors.Is(err, ErrGone) {
		t.Fatalf("start: %v", err)
	}
	t.Logf("spawner gone: %v", c.Err())
}

// TestSpawnerPrivileges (root): the spawner keeps setuid, setgid and kill
// and root's bounding set; a door command run as root has root's full
// set; the notification program runs as root's uid without any
// capability (it reads root's 0600 mailer configuration) unless a user
// is named, then as that user with no_new_privs.
func TestSpawnerPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root: starts children as root and as nobody")
	}
	own, _ := os.ReadFile("/proc/self/status")
	full := capLine(string(own), "CapBnd")
	dir := t.TempDir()
	secret := filepath.Join(dir, "msmtprc")
	os.WriteFile(secret, []byte("account default\n"), 0o600)
	report := "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
	c := launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Start: "/bin/sh -c \"{ " + report + "; } > " + dir + "/cmd.tmp; mv " + dir + "/cmd.tmp " + dir + "/cmd\"", Notify: []string{"root"}}},
		Sendmail: []string{"/bin/sh", "-c", report + "; cat " + secret, "sh"}})
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
	p, err := c.Start(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: "10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	out, _ := os.ReadFile(dir + "/cmd")
	if !strings.HasPrefix(string(out), "0\n") || capLine(string(out), "CapEff") != full || capLine(string(out), "NoNewPrivs") != "0" {
		t.Fatalf("root door command (want CapEff %s):\n%s", full, out)
	}
	t.Logf("root door command: %s", strings.ReplaceAll(string(out), "\n", " "))
	if noTrampoline(t) {
		return
	}
	mail, ws := run(t, c, Cmd{Request: Request{Kind: Notify, Door: "d", Addr: "10.0.0.1"}}, "")
	if ws != 0 || !strings.HasPrefix(mail, "0\n") || capLine(mail, "CapEff") != "0000000000000000" || capLine(mail, "CapBnd") != "0000000000000000" ||
		capLine(mail, "NoNewPrivs") != "1" || !strings.HasSuffix(mail, "account default\n") {
		t.Fatalf("mailer as root without capabilities:\n%s", mail)
	}
	t.Logf("mailer: %s", strings.ReplaceAll(mail, "\n", " "))

	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	c = launch(t, &Policy{Doors: map[string]DoorPolicy{"d": {Notify: []string{"root"}}}, SendmailUser: nobody,
		Sendmail: []string{"/bin/sh", "-c", report, "sh"}})
	mail, ws = run(t, c, Cmd{Request: Request{Kind: Notify, Door: "d", Addr: "10.0.0.1"}}, "")
	if ws != 0 || !strings.HasPrefix(mail, "65534\n") || capLine(mail, "CapEff") != "0000000000000000" || capLine(mail, "NoNewPrivs") != "1" {
		t.Fatalf("mailer as nobody:\n%s", mail)
	}
	t.Logf("mailer as nobody: %s", strings.ReplaceAll(mail, "\n", " "))
}

// noTrampoline reports, and logs, that the mailer's trampoline cannot run
// here: under go test -exec qemu-user without binfmt_misc, the spawner's
// exec of /proc/self/exe runs the emulated binary natively (exec format
// error). Production has no emulator between the two.
func noTrampoline(t *testing.T) bool {
	if os.Getenv("KNOCKD_GO_TEST_EXEC") == "" {
		return false
	}
	t.Log("SKIP: the mailer's trampoline (/proc/self/exe) cannot be executed under qemu-user without binfmt_misc")
	return true
}

// gcArg, on a test spawner's command line, names the GOGC its loader
// must find set (tune.Spawner, before the loader runs); the loader fails
// otherwise, and with it the spawner's start.
const gcArg = "-spawn.gc="

// TestSpawnerCollectsSmall: the spawner runs with tune.Spawner's
// collector setting. Each command it starts allocates a few KiB; at Go's
// default (a 4 MiB heap goal at least) its heap grew into pages it had
// never touched until a collection over a thousand commands later.
func TestSpawnerCollectsSmall(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the spawner takes it")
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	writePolicy(t, file, &Policy{Doors: map[string]DoorPolicy{"d": {Start: "/bin/true"}}})
	c, err := Launch(append(self(file), gcArg+strconv.Itoa(tune.SpawnerGC)), nil)
	if err != nil {
		t.Fatalf("the spawner did not run with GOGC=%d: %v", tune.SpawnerGC, err)
	}
	c.Close()
}
