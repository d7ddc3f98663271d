// Package command runs door commands as knockd does: the start command
// through /bin/sh -c with %IP% replaced, then after cmd_timeout the stop
// command. It caps the children running at once (and what one door may
// hold of them), promises stop commands (they run at their time, or at
// once on shutdown) and reports what became of each command.
package command

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// State is what became of a command.
type State int

// States of an Outcome.
const (
	None    State = iota // there was no command to run
	Started              // it was started
	Refused              // it was not run: too many commands running, or shutting down
	Failed               // it could not be started
)

// Outcome is what became of one start command, for the log and the mail.
type Outcome struct {
	_     [0]func() // not comparable: no equality function in the binary
	Cmd   string    // with %IP% replaced
	State State
	Err   error // why it failed or was refused
}

// String describes the outcome: "started: CMD", "not run (REASON): CMD",
// "failed to start: CMD: ERR"; empty for None.
func (o Outcome) String() string {
	switch o.State {
	case Started:
		return "started: " + o.Cmd
	case Refused:
		return "not run (" + o.Err.Error() + "): " + o.Cmd
	case Failed:
		return "failed to start: " + o.Cmd + ": " + o.Err.Error()
	}
	return ""
}

// Reasons a command is refused.
var (
	ErrBusy     = errors.New("too many commands running")
	ErrShutdown = errors.New("shutting down")
)

// Runner runs door commands. Queue decides at once whether a command may
// run (a slot among Max) and hands it to the runner's start goroutine:
// starting takes a round trip to the spawner, which must not stall the
// packet path that queues. With a spawner (a spawn.Sender) Queue sends
// the request itself when it can without waiting, and the start goroutine
// only waits for the reply. The commands start one at a time, in the
// order they were queued; waiting for children and stop commands happen
// in the background. It is safe for concurrent use.
type Runner struct {
	log   *logx.Logger
	lim   *logx.Limiter // per-door budget of log lines (nil: none)
	shell string
	slots chan struct{}
	null  *os.File // /dev/null, opened once: every exec would open it three times
	cred  *syscall.Credential
	env   []string
	start spawn.Starter
	// queue holds the commands given a slot and not started yet: it
	// never holds more than the slots, so a send on it never blocks.
	queue chan queued

	mu      sync.Mutex
	perDoor map[string]int // running start commands per door
	pending map[*pendingStop]struct{}
	running map[spawn.Process]bool // running commands; true for stop commands
	closing bool
	unsent  int // queued commands whose request the start goroutine sends
	wg      sync.WaitGroup
}

// queued is a start command waiting for the start goroutine.
type queued struct {
	req           spawn.Request
	door, ip, cmd string // cmd with %IP% replaced
	stop          string // the stop command, %IP% not replaced
	timeout       time.Duration
	done          func(Outcome)
	release       func()
	sent          *spawn.Pending // its request, sent by run (nil: begin sends it)
}

type pendingStop struct {
	_             [0]func() // not comparable: no equality function in the binary
	door, ip, cmd string
	due           time.Time
	timer         *time.Timer
	done          bool
}

// Options configure a Runner.
type Options struct {
	// Max is the number of start commands that may run at once (at least
	// 1); one door may hold at most half of them.
	Max int
	Log *logx.Logger
	// Limit, when set, bounds the log lines of each door (their key).
	Limit *logx.Limiter
	// Credential, when set, runs commands as that user and group, with
	// no_new_privs (they cannot gain privileges through setuid programs).
	Credential *syscall.Credential
	// Starter starts the commands (the spawner, where knockd runs as
	// root); nil starts them from this process.
	Starter spawn.Starter
}

// NewRunner returns a runner.
func NewRunner(o Options) *Runner {
	if o.Max < 1 {
		o.Max = 1
	}
	if o.Starter == nil {
		o.Starter = spawn.Direct{}
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0) // nil on failure: the starter opens it itself
	r := &Runner{log: o.Log, lim: o.Limit, shell: "/bin/sh", slots: make(chan struct{}, o.Max), null: null,
		cred: o.Credential, env: os.Environ(), start: o.Starter, queue: make(chan queued, o.Max),
		pending: map[*pendingStop]struct{}{}, running: map[spawn.Process]bool{}, perDoor: map[string]int{}}
	r.wg.Add(1) // Shutdown waits for the start goroutine too
	go func() { defer r.wg.Done(); r.starter() }()
	return r
}

// printf logs a line of door, within the door's budget.
func (r *Runner) printf(door, format string, args ...any) {
	if r.lim != nil {
		r.lim.Printf(door, format, args...)
		return
	}
	r.log.Printf(format, args...)
}

// Expand replaces every %IP% in cmd with ip, as knockd does.
func Expand(cmd, ip string) string { return spawn.Expand(cmd, ip) }

// Queue runs start (for door and the knocker ip) and, after timeout, stop
// (if not empty); it never blocks. When start is empty, or refused (too
// many commands running, or shutting down), it returns what became of it
// and false, and runs nothing. Else it returns true, and done is called
// from the start goroutine with the outcome once start was started (then
// stop is scheduled, as knockd pairs them) or failed to start.
//
// A spawner gets the request by name (door D's start command for ip),
// not the command line: it runs what its own configuration says.
func (r *Runner) Queue(door, ip, start, stop string, timeout time.Duration, done func(Outcome)) (Outcome, bool) {
	return r.run(door, ip, start, stop, timeout, spawn.DoorStart, done)
}

// QueueSPA is Queue for an SPA client's command for a door that allows
// them.
func (r *Runner) QueueSPA(door, ip, cmd string, done func(Outcome)) (Outcome, bool) {
	return r.run(door, ip, cmd, "", 0, spawn.DoorCommand, done)
}

func (r *Runner) run(door, ip, start, stop string, timeout time.Duration, kind spawn.Kind, done func(Outcome)) (Outcome, bool) {
	o := Outcome{Cmd: Expand(start, ip)}
	if start == "" {
		return o, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		o.State, o.Err = Refused, ErrShutdown
		return o, false
	}
	// One door may hold at most half the slots, so that a storm of knocks
	// on it never starves the others.
	doorMax := max(cap(r.slots)/2, 1)
	full := r.perDoor[door] >= doorMax
	if !full {
		select {
		case r.slots <- struct{}{}:
		default:
			full = true
		}
	}
	if full {
		o.State, o.Err = Refused, ErrBusy
		r.printf(door, "%s: %s: too many running commands, not running: %s", ip, door, o.Cmd)
		return o, false
	}
	r.perDoor[door]++
	r.wg.Add(1)
	release := func() {
		r.mu.Lock()
		r.perDoor[door]--
		r.mu.Unlock()
		<-r.slots
	}
	req := spawn.Request{Kind: kind, Door: door, Addr: ip}
	if kind == spawn.DoorCommand {
		req.Command = start
	}
	q := queued{req: req, door: door, ip: ip, cmd: o.Cmd, stop: stop, timeout: timeout, done: done, release: release}
	// A spawner gets the request here, on the packet path, when it can
	// without waiting: a knock's command starts before the rest of its
	// batch is handled and without the hand-off to the start goroutine,
	// which only waits for the reply. Otherwise that goroutine sends it.
	// Not while a request the start goroutine sends is queued: the
	// commands start in the order they were queued.
	// The spawner builds the command line itself from the request: none
	// is built here (a plain command's program looked up in PATH, a
	// stat(2) a directory).
	if s, ok := r.start.(spawn.Sender); ok && r.unsent == 0 {
		if p, err := s.Send(spawn.Cmd{Request: req}); err == nil {
			q.sent = p
		}
	}
	if q.sent == nil {
		r.unsent++
	}
	// It holds a slot: the queue has room. r.mu is held, so that Shutdown
	// cannot close the queue before the send.
	r.queue <- q
	return o, true
}

// starter starts the queued commands, one at a time, until Shutdown
// closes the queue. A command queued before Shutdown still starts (its
// stop command then runs at once).
func (r *Runner) starter() {
	for q := range r.queue {
		o := Outcome{Cmd: q.cmd}
		c, err := r.begin(q.req, q.cmd, q.sent)
		if q.sent == nil { // it was sent and answered: run may send again
			r.mu.Lock()
			r.unsent--
			r.mu.Unlock()
		}
		if err != nil {
			q.release()
			o.State, o.Err = Failed, err
			q.done(o)
			r.wg.Done()
			continue
		}
		o.State = Started
		go func() {
			defer r.wg.Done()
			r.finish(q.door, c)
			q.release()
			if q.stop != "" {
				r.schedule(q.door, q.ip, Expand(q.stop, q.ip), q.timeout)
			}
		}()
		q.done(o)
	}
}

func (r *Runner) schedule(door, ip, cmd string, timeout time.Duration) {
	p := &pendingStop{door: door, ip: ip, cmd: cmd, due: time.Now().Add(timeout)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wg.Add(1)
	if r.closing {
		go func() { defer r.wg.Done(); r.fire(p) }()
		return
	}
	r.pending[p] = struct{}{}
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
	r.printf(p.door, "%s: %s: command timeout", p.ip, p.door)
	if c, err := r.begin(spawn.Request{Kind: spawn.DoorStop, Door: p.door, Addr: p.ip}, p.cmd, nil); err == nil {
		r.finish(p.door, c)
	}
}

// Session is a command door's session: its stop command waits.
type Session struct {
	_    [0]func() // not comparable: no equality function in the binary
	Door string
	IP   string
	Stop string    // the stop command
	Due  time.Time // when it runs
}

// Sessions returns the stop commands waiting for their timeout.
func (r *Runner) Sessions() []Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Session, 0, len(r.pending))
	for p := range r.pending {
		out = append(out, Session{Door: p.door, IP: p.ip, Stop: p.cmd, Due: p.due})
	}
	return out
}

// StopNow runs the waiting stop commands of door for ip now (a revoke)
// and returns how many there were.
func (r *Runner) StopNow(door, ip string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p := range r.pending {
		if p.door != door || p.ip != ip || !p.timer.Stop() {
			continue // another's, or its timer fired already
		}
		n++
		go func() { defer r.wg.Done(); r.fire(p) }()
	}
	return n
}

// Pending returns the number of stop commands waiting for their timeout.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Running returns the number of commands running now.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// command returns the process that runs cmd for req.
func (r *Runner) command(req spawn.Request, cmd string) spawn.Cmd {
	c := command(r.shell, cmd)
	c.Env, c.Cred, c.NoNewPrivs, c.Request = r.env, r.cred, r.cred != nil, req
	c.Stdin, c.Stdout, c.Stderr = r.null, r.null, r.null
	return c
}

// begin logs and starts a command (or waits for the start that sent
// asked for); it logs why when it could not start.
func (r *Runner) begin(req spawn.Request, cmd string, sent *spawn.Pending) (spawn.Process, error) {
	door, isStop := req.Door, req.Kind == spawn.DoorStop
	var p spawn.Process
	var err error
	if sent != nil {
		p, err = sent.Wait()
	} else {
		p, err = r.start.Start(r.command(req, cmd))
	}
	// Written once the command was asked for: on the packet path a
	// knock's command starts before its line is written, not after.
	r.printf(door, "%s: running command: %s", door, cmd)
	if err != nil {
		r.log.Printf("%s: error: command could not start: %v", door, err)
		return nil, err
	}
	r.mu.Lock()
	r.running[p] = isStop
	r.mu.Unlock()
	return p, nil
}

// finish waits for a started command and logs how it ended.
func (r *Runner) finish(door string, p spawn.Process) {
	ws, err := p.Wait()
	r.mu.Lock()
	delete(r.running, p)
	r.mu.Unlock()
	switch {
	case err != nil:
		r.printf(door, "%s: error: command failed: %v", door, err)
	case ws.Signaled():
		r.printf(door, "%s: command killed by signal %d", door, ws.Signal())
	case ws.ExitStatus() != 0:
		r.printf(door, "%s: command returned non-zero status code (%d)", door, ws.ExitStatus())
	}
}

// Shutdown runs every pending stop command now and waits for commands to
// finish, at most until ctx ends; start commands still running after
// ShutdownGrace are killed so that their stop commands can run.
func (r *Runner) Shutdown(ctx context.Context) {
	r.mu.Lock()
	if !r.closing {
		close(r.queue)
	}
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
		r.log.Printf("warning: commands still running at shutdown were left behind")
	}
}

// ShutdownGrace is how long start commands may still run after SIGTERM
// before they are killed.
const ShutdownGrace = 3 * time.Second

func (r *Runner) killStarts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, isStop := range r.running {
		if !isStop {
			r.log.Printf("killing start command still running at shutdown (pid %d)", p.Pid())
			if err := p.Kill(); err != nil {
				r.log.Printf("error: %v", err)
			}
		}
	}
}

// command returns the process for a door command (see
// spawn.CommandLine).
func command(shell, cmd string) spawn.Cmd { return spawn.CommandLine(shell, cmd) }
