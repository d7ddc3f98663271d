package command

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

func eventually(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func shutdown(r *Runner) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Shutdown(ctx)
}

func TestPlainCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd   string
		plain bool
	}{
		{"touch /tmp/x-1.2.3.4", true},
		{"/usr/sbin/iptables -I INPUT -s 1.2.3.4 -p tcp --dport 22 -j ACCEPT", true},
		{"echo a > /tmp/x", false},
		{"echo $HOME", false},
		{"a; b", false},
		{"FOO=1 cmd", false},
		{"echo 'quoted'", false},
		{"echo a # comment", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := spawn.Plain(tt.cmd); got != tt.plain {
			t.Errorf("plain(%q) = %v, want %v", tt.cmd, got, tt.plain)
		}
	}
}

func TestStartStopAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, rec := logxtest.NewRecorder(false)
	r := NewRunner(Options{Max: 4, Log: log})
	o := r.Start("d", "1.2.3.4", "touch "+dir+"/start-%IP%", "touch "+dir+"/stop-%IP%", 50*time.Millisecond)
	if o.State != Started || o.String() != "started: touch "+dir+"/start-1.2.3.4" {
		t.Fatalf("outcome %+v %q", o, o)
	}
	eventually(t, 5*time.Second, func() bool { _, err := os.Stat(dir + "/stop-1.2.3.4"); return err == nil })
	if !rec.Has("1.2.3.4: d: command timeout") || !rec.Has("d: running command: touch "+dir+"/start-1.2.3.4") {
		t.Fatalf("log lines missing: %q", rec.Lines())
	}
	// A long cmd_timeout: Shutdown runs the stop at once.
	r.Start("d", "5.6.7.8", "true", "touch "+dir+"/stop-%IP%", time.Hour)
	eventually(t, 5*time.Second, func() bool { return r.Pending() == 1 })
	shutdown(r)
	if _, err := os.Stat(dir + "/stop-5.6.7.8"); err != nil {
		t.Fatalf("pending stop did not run on shutdown: %v", err)
	}
	if o := r.Start("d", "9.9.9.9", "true", "", 0); o.State != Refused || !errors.Is(o.Err, ErrShutdown) {
		t.Fatalf("Start after Shutdown: %+v", o)
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	r := NewRunner(Options{Max: 2, Log: log})
	defer shutdown(r)
	if o := r.Start("d", "1.2.3.4", "", "stop", 0); o.State != None || o.String() != "" {
		t.Fatalf("no command: %+v", o)
	}
	o := r.Start("d", "1.2.3.4", "/nonexistent/cmd %IP%", "touch /tmp/never", 0)
	if o.State != Failed || !strings.HasPrefix(o.String(), "failed to start: /nonexistent/cmd 1.2.3.4: ") {
		t.Fatalf("missing program: %+v %q", o, o)
	}
	if !rec.Has("d: error: command could not start") {
		t.Fatalf("failure not logged: %q", rec.Lines())
	}
	eventually(t, 5*time.Second, func() bool { return r.Running() == 0 && r.Pending() == 0 })
	o = r.Start("d", "1.2.3.4", "sleep 1", "", 0)
	if o2 := r.Start("d", "1.2.3.5", "sleep 1", "", 0); o.State != Started || o2.State != Refused ||
		o2.String() != "not run (too many commands running): sleep 1" {
		t.Fatalf("cap of one per door: %+v %+v", o, o2)
	}
}

func TestCapsChildren(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	r := NewRunner(Options{Max: 4, Log: log})
	ok := map[string]int{}
	for i := 0; i < 50; i++ {
		for _, door := range []string{"a", "b", "c"} {
			if r.Start(door, "1.2.3.4", "sleep 1", "", 0).State == Started {
				ok[door]++
			}
		}
	}
	// One door holds at most half the slots; all doors the cap.
	if ok["a"]+ok["b"]+ok["c"] != 4 || ok["a"] > 2 || ok["b"] > 2 || ok["c"] > 2 {
		t.Fatalf("started %v, want 4 in all and at most 2 per door", ok)
	}
	if !rec.Has("too many running commands") {
		t.Fatal("refusal not logged")
	}
	shutdown(r)
}

func TestRefusalsLimitedPerDoor(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	lim := logx.NewLimiter(log, 3, 5, nil)
	r := NewRunner(Options{Max: 2, Log: log, Limit: lim})
	defer shutdown(r)
	for i := 0; i < 200; i++ {
		r.Start("storm", "1.2.3.4", "sleep 1", "", 0)
	}
	if n := len(rec.Lines()); n > 5 {
		t.Fatalf("%d lines for a storm of 200 refused commands, want at most the burst of 5: %q", n, rec.Lines())
	}
}

func TestNonZeroExitLogged(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	r := NewRunner(Options{Max: 2, Log: log})
	defer shutdown(r)
	r.Start("d", "1.2.3.4", "exit 3", "", 0)
	eventually(t, 5*time.Second, func() bool { return rec.Has("d: command returned non-zero status code (3)") })
}

// TestCredential runs a command as nobody (needs root).
func TestCredential(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("KNOCKD_GO_STRICT") != "" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("", "knockd-cred")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	log, _ := logxtest.NewRecorder(false)
	r := NewRunner(Options{Max: 2, Log: log, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}})
	o := r.Start("d", "1.2.3.4", "id -u > "+dir+"/uid; grep NoNewPrivs /proc/self/status >> "+dir+"/uid", "", 0)
	if o.State != Started {
		t.Fatal(o)
	}
	shutdown(r)
	b, _ := os.ReadFile(dir + "/uid")
	if string(b) != "65534\nNoNewPrivs:\t1\n" {
		t.Fatalf("command ran as %q", b)
	}
}

// fakeStarter records what it is asked to start; its children end when
// told to, or when killed.
type fakeStarter struct {
	mu    sync.Mutex
	cmds  []spawn.Cmd
	procs []*fakeProc
	err   error         // returned by Start when set
	gate  chan struct{} // when set, Start waits for it to close (a spawner slow to answer)
}

type fakeProc struct {
	pid    int
	end    chan syscall.WaitStatus
	err    error // returned by Wait
	killed chan struct{}
}

func (f *fakeStarter) Start(c spawn.Cmd) (spawn.Process, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, c)
	if f.err != nil {
		return nil, f.err
	}
	p := &fakeProc{pid: 100 + len(f.procs), end: make(chan syscall.WaitStatus, 1), killed: make(chan struct{})}
	f.procs = append(f.procs, p)
	return p, nil
}

func (f *fakeStarter) proc(i int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.procs) {
		return nil
	}
	return f.procs[i]
}

func (p *fakeProc) Pid() int { return p.pid }
func (p *fakeProc) Wait() (syscall.WaitStatus, error) {
	select {
	case ws := <-p.end:
		return ws, p.err
	case <-p.killed:
		return syscall.WaitStatus(syscall.SIGKILL), nil
	}
}
func (p *fakeProc) Kill() error { close(p.killed); return nil }

// TestStarter: commands go to the injected starter as they would run
// (argv, user, no_new_privs, /dev/null, the environment); their ends are
// logged; a start command still running at shutdown is killed by group.
func TestStarter(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	fs := &fakeStarter{}
	cred := &syscall.Credential{Uid: 65534, Gid: 65534}
	r := NewRunner(Options{Max: 4, Log: log, Starter: fs, Credential: cred})
	tests := []struct {
		cmd  string
		args []string
		end  syscall.WaitStatus
		err  error
		log  string
	}{
		{"/bin/echo %IP%", []string{"/bin/echo", "1.2.3.4"}, 3 << 8, nil, "d: command returned non-zero status code (3)"},
		{"echo %IP% > /dev/null", []string{"/bin/sh", "-c", "echo 1.2.3.4 > /dev/null"}, syscall.WaitStatus(syscall.SIGTERM), nil, "d: command killed by signal 15"},
		{"/bin/true", []string{"/bin/true"}, 0, errors.New("spawner: gone"), "d: error: command failed: spawner: gone"},
	}
	for i, tt := range tests {
		if o := r.Start("d", "1.2.3.4", tt.cmd, "", 0); o.State != Started {
			t.Fatalf("%s: %v", tt.cmd, o)
		}
		c := fs.cmds[i]
		if strings.Join(c.Args, "|") != strings.Join(tt.args, "|") || c.Path != tt.args[0] || c.Cred != cred || !c.NoNewPrivs ||
			c.Stdin == nil || c.Stdout == nil || c.Stderr == nil || len(c.Env) == 0 {
			t.Fatalf("%s: started %+v", tt.cmd, c)
		}
		p := fs.proc(i)
		p.err = tt.err
		p.end <- tt.end
		eventually(t, 5*time.Second, func() bool { return rec.Has(tt.log) })
	}
	fs.mu.Lock()
	fs.err = errors.New("spawner: gone")
	fs.mu.Unlock()
	if o := r.Start("d", "1.2.3.4", "/bin/true", "/bin/false", 0); o.State != Failed || o.String() != "failed to start: /bin/true: spawner: gone" {
		t.Fatalf("refused start: %q", o)
	}
	fs.mu.Lock()
	fs.err = nil
	fs.mu.Unlock()
	if testing.Short() {
		return
	}
	// Still running at shutdown: killed after the grace, then its stop
	// command runs.
	r.Start("d", "5.6.7.8", "/bin/sleep 60", "/bin/stop %IP%", time.Hour)
	eventually(t, 5*time.Second, func() bool { return r.Running() == 1 })
	go func() { // the stop command ends at once
		for fs.proc(4) == nil {
			time.Sleep(5 * time.Millisecond)
		}
		fs.proc(4).end <- 0
	}()
	shutdown(r)
	if !rec.Has("killing start command still running at shutdown (pid 103)") {
		t.Fatalf("not killed: %q", rec.Lines())
	}
	eventually(t, 5*time.Second, func() bool { return rec.Has("d: running command: /bin/stop 5.6.7.8") })
}

// TestQueueDoesNotWaitForTheSpawner: while the spawner does not answer,
// Queue returns at once: the commands given a slot wait in order, the
// others are refused at once as too many (a door holds half the slots).
// Once the spawner answers, the queued commands start in the order they
// were queued, each reported once, and their stop commands follow.
func TestQueueDoesNotWaitForTheSpawner(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	fs := &fakeStarter{gate: make(chan struct{})}
	r := NewRunner(Options{Max: 4, Log: log, Starter: fs})
	var mu sync.Mutex
	var started []string
	queued := make(chan struct{})
	go func() {
		defer close(queued)
		for i, door := range []string{"a", "a", "a", "b"} {
			ip := "10.0.0." + strconv.Itoa(i+1)
			o, ok := r.Queue(door, ip, "start %IP%", "stop %IP%", 0, func(o Outcome) {
				mu.Lock()
				defer mu.Unlock()
				started = append(started, o.String())
			})
			if wantOK := i != 2; ok != wantOK || (!ok && (o.State != Refused || !errors.Is(o.Err, ErrBusy))) {
				t.Errorf("Queue %s %s: %v %v", door, ip, o, ok)
			}
		}
	}()
	select {
	case <-queued:
	case <-time.After(5 * time.Second):
		close(fs.gate)
		t.Fatal("Queue waited for the spawner")
	}
	if !rec.Has("10.0.0.3: a: too many running commands, not running: start 10.0.0.3") {
		t.Fatalf("log: %q", rec.Lines())
	}
	mu.Lock()
	n := len(started)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d commands reported started before the spawner answered", n)
	}
	close(fs.gate)
	eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == 3 })
	if want := []string{"started: start 10.0.0.1", "started: start 10.0.0.2", "started: start 10.0.0.4"}; !slices.Equal(started, want) {
		t.Fatalf("started %q, want %q", started, want)
	}
	for i := range 3 {
		fs.proc(i).end <- 0
	}
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.4"} {
		eventually(t, 5*time.Second, func() bool { return rec.Has("running command: stop " + ip) })
	}
	for i := 3; i < 6; i++ {
		eventually(t, 5*time.Second, func() bool { return fs.proc(i) != nil })
		fs.proc(i).end <- 0
	}
	shutdown(r)
}

// lineCheckingStarter records, for each start, whether the command's
// "running command" line was already written.
type lineCheckingStarter struct {
	fakeStarter
	has         func(string) bool
	loggedFirst []bool
}

func (s *lineCheckingStarter) Start(c spawn.Cmd) (spawn.Process, error) {
	s.loggedFirst = append(s.loggedFirst, s.has("running command"))
	return s.fakeStarter.Start(c)
}

// TestCommandAskedForBeforeItsLine: a knock's command is asked for before
// its log line is written (a write less between the knock and the
// command), and the line is still written, before a start's failure.
func TestCommandAskedForBeforeItsLine(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	st := &lineCheckingStarter{has: rec.Has}
	r := NewRunner(Options{Max: 4, Log: log, Starter: st})
	if o := r.Start("d", "1.2.3.4", "/bin/true %IP%", "", 0); o.State != Started {
		t.Fatalf("outcome %v", o)
	}
	if len(st.loggedFirst) != 1 || st.loggedFirst[0] {
		t.Fatalf("the command's line was written before it was asked for (%v)", st.loggedFirst)
	}
	if !rec.Has("d: running command: /bin/true 1.2.3.4") {
		t.Fatalf("no line for the command: %q", rec.Lines())
	}
	st.err = errors.New("no such program")
	if o := r.Start("e", "1.2.3.4", "/bin/nothing", "", 0); o.State != Failed {
		t.Fatalf("outcome %v", o)
	}
	lines := rec.Lines()
	run, fail := -1, -1
	for i, l := range lines {
		if strings.Contains(l, "e: running command: /bin/nothing") {
			run = i
		}
		if strings.Contains(l, "e: error: command could not start") {
			fail = i
		}
	}
	if run < 0 || fail < run {
		t.Fatalf("a failed start's lines: %q", lines)
	}
}

// sendingStarter is a fakeStarter that is also a spawn.Sender, as the
// spawner's client is: Send answers through answer (sendErr: refuses).
type sendingStarter struct {
	fakeStarter
	sendErr error
	sends   int
	answers []func(spawn.Process, error)
}

func (s *sendingStarter) Send(c spawn.Cmd) (*spawn.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	if s.sendErr != nil {
		return nil, s.sendErr
	}
	s.cmds = append(s.cmds, c)
	p, answer := spawn.NewPending()
	s.answers = append(s.answers, answer)
	return p, nil
}

func (s *sendingStarter) counts() (sends, starts, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends, len(s.cmds) - len(s.answers), len(s.answers)
}

// TestQueueSendsTheRequest: with a spawner, Queue sends a command's
// request itself, before it returns (on the packet path, without the
// hand-off to the start goroutine), and the start goroutine only waits
// for the answer. A request that would wait is sent by the start
// goroutine instead, and until it is answered Queue sends none itself:
// the commands still start in the order they were queued.
func TestQueueSendsTheRequest(t *testing.T) {
	t.Parallel()
	log, rec := logxtest.NewRecorder(false)
	ss := &sendingStarter{}
	r := NewRunner(Options{Max: 8, Log: log, Starter: ss})
	var mu sync.Mutex
	var started []string
	report := func(o Outcome) { mu.Lock(); defer mu.Unlock(); started = append(started, o.String()) }
	if _, ok := r.Queue("a", "10.0.0.1", "/bin/start %IP%", "", 0, report); !ok {
		t.Fatal("not queued")
	}
	if sends, starts, sent := ss.counts(); sends != 1 || starts != 0 || sent != 1 {
		t.Fatalf("after Queue: %d sends, %d starts, %d sent; want the request sent by Queue", sends, starts, sent)
	}
	ss.mu.Lock()
	c := ss.cmds[0]
	ss.mu.Unlock()
	if c.Request.Kind != spawn.DoorStart || c.Request.Door != "a" || c.Request.Addr != "10.0.0.1" {
		t.Fatalf("sent %+v", c)
	}
	if c.Path != "" || c.Args != nil || c.Env != nil {
		t.Fatalf("Queue built the command line (%q %q) on the packet path: the spawner builds it", c.Path, c.Args)
	}
	p := &fakeProc{pid: 7, end: make(chan syscall.WaitStatus, 1), killed: make(chan struct{})}
	ss.answers[0](p, nil)
	eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == 1 })
	if !rec.Has("a: running command: /bin/start 10.0.0.1") {
		t.Fatalf("log: %q", rec.Lines())
	}
	p.end <- 0

	// A request that would wait: the start goroutine sends it (Start),
	// and the next one waits behind it.
	ss.mu.Lock()
	ss.sendErr = spawn.ErrWouldWait
	ss.gate = make(chan struct{})
	ss.mu.Unlock()
	r.Queue("b", "10.0.0.2", "/bin/start %IP%", "", 0, report)
	ss.mu.Lock()
	ss.sendErr = nil
	ss.mu.Unlock()
	r.Queue("c", "10.0.0.3", "/bin/start %IP%", "", 0, report)
	if sends, _, sent := ss.counts(); sends != 2 || sent != 1 {
		t.Fatalf("%d sends (%d sent) with a request waiting for the start goroutine; want Queue to send no more", sends, sent)
	}
	close(ss.gate)
	eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == 3 })
	if want := []string{"started: /bin/start 10.0.0.1", "started: /bin/start 10.0.0.2", "started: /bin/start 10.0.0.3"}; !slices.Equal(started, want) {
		t.Fatalf("started %q, want %q", started, want)
	}
	for i := range 2 {
		fs := ss.proc(i)
		fs.end <- 0
	}
	shutdown(r)
}
