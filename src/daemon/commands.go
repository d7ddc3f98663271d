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

	mu      sync.Mutex
	pending map[*pendingStop]struct{}
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
	return &Runner{log: logf, debug: debugf, shell: "/bin/sh", slots: make(chan struct{}, max),
		pending: map[*pendingStop]struct{}{}}
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
	select {
	case r.slots <- struct{}{}:
	default:
		r.mu.Unlock()
		r.log("%s: %s: too many running commands, not running this one", ip, door)
		return false
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		if start != "" {
			r.run(door, Expand(start, ip))
		}
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
	r.run(p.door, p.cmd)
}

// Pending returns the number of stop commands waiting for their timeout.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

func (r *Runner) run(door, cmd string) {
	r.log("%s: running command: %s", door, cmd)
	c := exec.Command(r.shell, "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	if err := c.Run(); err != nil {
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
	select {
	case <-done:
	case <-ctx.Done():
		r.log("warning: commands still running at shutdown were left behind")
		_ = os.Stderr.Sync()
	}
}
