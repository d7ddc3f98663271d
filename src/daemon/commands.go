package daemon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runner runs door commands through /bin/sh -c, never in the capture
// goroutine, with a cap on concurrently running children. Stop commands
// are promised: they run after cmd_timeout, or at once on shutdown, and
// are not subject to the cap (their number is bounded by the starts).
type Runner struct {
	log   func(string, ...any)
	debug func(string, ...any)
	shell string
	slots chan struct{}
	null  *os.File // /dev/null, opened once: every exec would open it three times

	mu      sync.Mutex
	perDoor map[string]int // running start commands per door
	refused map[string]refusal
	pending map[*pendingStop]struct{}
	running map[*exec.Cmd]bool // running commands; true for stop commands
	closing bool
	wg      sync.WaitGroup
}

type pendingStop struct {
	door, ip, cmd string
	timer         *time.Timer
	done          bool
}

// NewRunner returns a runner allowing max concurrent start commands.
func NewRunner(max int, logf, debugf func(string, ...any)) *Runner {
	if max < 1 {
		max = 1
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0) // nil on failure: exec opens it itself
	return &Runner{log: logf, debug: debugf, shell: "/bin/sh", slots: make(chan struct{}, max), null: null,
		pending: map[*pendingStop]struct{}{}, running: map[*exec.Cmd]bool{},
		perDoor: map[string]int{}, refused: map[string]refusal{}}
}

// Expand replaces every %IP% in cmd with ip, as knockd does.
func Expand(cmd, ip string) string { return strings.ReplaceAll(cmd, "%IP%", ip) }

// Start runs start for door in the background, then after timeout runs
// stop (if not empty). It returns false (and runs nothing) when the cap of
// running children is reached or the runner is shutting down.
func (r *Runner) Start(door, ip, start, stop string, timeout time.Duration, done func()) bool {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return false
	}
	// One door may hold at most half the slots, so that a storm of knocks
	// on it never starves the others.
	doorMax := cap(r.slots) / 2
	if doorMax < 1 {
		doorMax = 1
	}
	full := r.perDoor[door] >= doorMax
	if !full {
		select {
		case r.slots <- struct{}{}:
		default:
			full = true
		}
	}
	if full {
		r.refuse(door, ip)
		r.mu.Unlock()
		return false
	}
	r.perDoor[door]++
	r.wg.Add(1)
	r.mu.Unlock()
	// The start command is forked here, in the caller's goroutine: a
	// fork+exec takes well under a millisecond, and handing it to a new
	// goroutine first would add a thread wake-up to every knock's latency.
	// Waiting for it happens in the background.
	var c *exec.Cmd
	if start != "" {
		c = r.begin(door, Expand(start, ip), false)
	}
	go func() {
		defer r.wg.Done()
		if c != nil {
			r.finish(door, c)
		}
		r.mu.Lock()
		r.perDoor[door]--
		r.mu.Unlock()
		<-r.slots
		if stop != "" {
			r.schedule(door, ip, Expand(stop, ip), timeout)
		}
		if done != nil {
			done()
		}
	}()
	return true
}

// refusal counts commands not run for a door in the current second.
type refusal struct {
	sec int64
	n   int
}

// refuse logs a refused command, at most once a second per door with the
// number refused meanwhile. r.mu is held.
func (r *Runner) refuse(door, ip string) {
	now := time.Now().Unix()
	f := r.refused[door]
	if f.sec == now {
		f.n++
		r.refused[door] = f
		return
	}
	if f.n > 0 {
		r.log("%s: %d more commands not run (too many running)", door, f.n)
	}
	r.refused[door] = refusal{sec: now}
	r.log("%s: %s: too many running commands, not running this one", ip, door)
}

func (r *Runner) schedule(door, ip, cmd string, timeout time.Duration) {
	p := &pendingStop{door: door, ip: ip, cmd: cmd}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); r.fire(p) }()
		return
	}
	r.pending[p] = struct{}{}
	r.wg.Add(1)
	p.timer = time.AfterFunc(timeout, func() { defer r.wg.Done(); r.fire(p) })
}

func (r *Runner) fire(p *pendingStop) {
	r.mu.Lock()
	if p.done {
		r.mu.Unlock()
		return
	}
	p.done = true
	delete(r.pending, p)
	r.mu.Unlock()
	r.log("%s: %s: command timeout", p.ip, p.door)
	r.run(p.door, p.cmd, true)
}

// Pending returns the number of stop commands waiting for their timeout.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// run runs a command to its end.
func (r *Runner) run(door, cmd string, isStop bool) {
	if c := r.begin(door, cmd, isStop); c != nil {
		r.finish(door, c)
	}
}

// begin logs and starts a command; it returns nil (after logging why) when
// the command could not start.
func (r *Runner) begin(door, cmd string, isStop bool) *exec.Cmd {
	r.log("%s: running command: %s", door, cmd)
	c := command(r.shell, cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if r.null != nil {
		c.Stdin, c.Stdout, c.Stderr = r.null, r.null, r.null
	}
	if err := c.Start(); err != nil {
		r.log("error: %s: command could not run: %v", door, err)
		return nil
	}
	r.mu.Lock()
	r.running[c] = isStop
	r.mu.Unlock()
	return c
}

// finish waits for a started command and logs how it ended.
func (r *Runner) finish(door string, c *exec.Cmd) {
	err := c.Wait()
	r.mu.Lock()
	delete(r.running, c)
	r.mu.Unlock()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.log("%s: command killed by signal %d", door, ws.Signal())
				return
			}
			r.log("%s: command returned non-zero status code (%d)", door, ee.ExitCode())
			return
		}
		r.log("error: %s: command could not run: %v", door, err)
	}
}

// Shutdown runs every pending stop command now and waits for commands to
// finish, at most until ctx ends; then it kills what still runs.
func (r *Runner) Shutdown(ctx context.Context) {
	r.mu.Lock()
	r.closing = true
	var now []*pendingStop
	for p := range r.pending {
		if p.timer.Stop() {
			now = append(now, p)
		}
	}
	r.mu.Unlock()
	for _, p := range now {
		go func(p *pendingStop) { defer r.wg.Done(); r.fire(p) }(p)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	// Start commands get a grace period, then their process groups are
	// killed so that their stop commands (which are promised) can run.
	grace := time.NewTimer(ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-grace.C:
		r.killStarts()
	case <-ctx.Done():
	}
	select {
	case <-done:
	case <-ctx.Done():
		r.log("warning: commands still running at shutdown were left behind")
	}
}

// ShutdownGrace is how long start commands may still run after SIGTERM
// before they are killed.
const ShutdownGrace = 3 * time.Second

func (r *Runner) killStarts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, isStop := range r.running {
		if !isStop && c.Process != nil {
			r.log("killing start command still running at shutdown (pid %d)", c.Process.Pid)
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
}

// command returns the process for a door command. Like knockd it runs
// `/bin/sh -c cmd`; a command made only of plain words (no quotes,
// variables, redirections or other shell syntax) means the same without a
// shell, so it is executed directly, saving a fork and exec per knock.
func command(shell, cmd string) *exec.Cmd {
	if plain(cmd) {
		f := strings.Fields(cmd)
		if len(f) > 0 && strings.HasPrefix(f[0], "/") {
			return exec.Command(f[0], f[1:]...)
		}
		if len(f) > 0 {
			if p, err := exec.LookPath(f[0]); err == nil {
				c := exec.Command(p, f[1:]...)
				c.Args[0] = f[0]
				return c
			}
		}
	}
	return exec.Command(shell, "-c", cmd)
}

// plain reports whether cmd contains nothing a shell would interpret
// besides splitting words on blanks.
func plain(cmd string) bool {
	if strings.TrimSpace(cmd) == "" {
		return false
	}
	for _, r := range cmd {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" \t/._-+:,@%=", r):
		default:
			return false
		}
	}
	// A leading VAR=value is an assignment in sh.
	f := strings.Fields(cmd)
	return !strings.Contains(f[0], "=")
}
