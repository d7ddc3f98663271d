// Package spawn starts the daemon's children: door commands and the
// sendmail program. Where knockd-go runs as root, a small spawner process
// (the same binary, started before the daemon gives up its privileges)
// keeps uid 0, root's bounding set and the capabilities that switching
// users and killing children need. It is a monitor, not a proxy: it reads
// and compiles the configuration itself, and the daemon, which parses
// packets and decrypts SPA, may only ask it over a socket pair for door
// D's start or stop command, an SPA command on a door that allows them,
// or door D's notification, for address A; the spawner builds the
// command line, environment and user from its own configuration, and
// journals every stop command a start promises before the start runs.
// Without a spawner (tests, a run by a normal user) Direct starts
// children in the calling process.
package spawn

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/knockd-go/knockd-go/src/internal/privs"
)

// Cmd is a child to start. It always runs in a process group of its own.
type Cmd struct {
	Path string   // the program
	Args []string // its argv, Args[0] included
	Env  []string
	// Cred, when set, runs the child as that user and group (and
	// supplementary groups); nil runs it as the starter's user.
	Cred *syscall.Credential
	// NoNewPrivs sets no_new_privs: neither the child nor its children can
	// gain privileges through set-user-ID programs or file capabilities.
	NoNewPrivs bool
	// NoCaps runs the child, when it runs as root, with root's uid and
	// no capability at all, for good (it can read root's 0600 files,
	// nothing more): a trampoline (privs.NoRootMain, which main must
	// call; else NoCaps does nothing) gives them up and executes the
	// program.
	NoCaps bool
	// Request names the child for a spawner, which builds the rest
	// itself; Direct ignores it.
	Request Request
	// Stdin, Stdout and Stderr are given to the child; nil is /dev/null.
	Stdin, Stdout, Stderr *os.File
}

// Process is a started child.
type Process interface {
	Pid() int
	// Wait waits for the child to exit and returns its status. Call it
	// once.
	Wait() (syscall.WaitStatus, error)
	// Kill sends SIGKILL to the child's process group, unless the child
	// was already waited for.
	Kill() error
}

// Starter starts children.
type Starter interface {
	Start(c Cmd) (Process, error)
}

// Sender is a Starter that can also send a door command's request
// without waiting (Client.Send), where Start would wait for its reply.
// Send uses only the Cmd's Request: the spawner builds the rest.
type Sender interface {
	Starter
	Send(c Cmd) (*Pending, error)
}

// ErrWouldWait is Send's error for a request it could not send at once.
var ErrWouldWait = errors.New("spawner: the request would wait")

type startResult struct {
	p   Process
	err error
}

// Pending is a start request sent; Wait returns the spawner's answer.
type Pending struct{ ch chan startResult }

// NewPending returns a Pending and the function that answers it, once
// (Client's, and a test's Sender).
func NewPending() (*Pending, func(Process, error)) {
	ch := make(chan startResult, 1)
	return &Pending{ch: ch}, func(p Process, err error) { ch <- startResult{p: p, err: err} }
}

// Wait waits for the child that the request started, or why it did not
// start.
func (p *Pending) Wait() (Process, error) {
	r := <-p.ch
	if r.err != nil {
		return nil, r.err
	}
	return r.p, nil
}

// StatusError returns nil for a child that exited with status 0, else
// an error saying how it ended ("exit status 3", "signal: killed"), as
// os/exec says it.
func StatusError(ws syscall.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return errors.New("exit status " + strconv.Itoa(ws.ExitStatus()))
	case ws.Signaled():
		return errors.New("signal: " + ws.Signal().String())
	}
	return errors.New("wait status " + strconv.Itoa(int(ws)))
}

// Direct starts children in the calling process.
type Direct struct{}

var _ Starter = Direct{}

// Start starts c.
func (Direct) Start(c Cmd) (Process, error) {
	if c.NoCaps && c.Cred == nil && os.Geteuid() == 0 && privs.NoRootReady() {
		c.Path, c.Args = privs.NoRootCmd(c.Path, c.Args)
		c.Env = append(c.Env[:len(c.Env):len(c.Env)], privs.NoRootEnv)
	}
	cmd := &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env}
	if c.Env == nil {
		cmd.Env = []string{}
	}
	// Only files that are set: a nil *os.File in the interface would not
	// be nil.
	if c.Stdin != nil {
		cmd.Stdin = c.Stdin
	}
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	if c.Stderr != nil {
		cmd.Stderr = c.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.Cred}
	var err error
	if c.NoNewPrivs {
		err = privs.StartUnprivileged(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, err
	}
	return &direct{c: cmd, done: make(chan struct{})}, nil
}

type direct struct {
	c    *exec.Cmd
	done chan struct{} // closed once waited for
}

func (p *direct) Pid() int { return p.c.Process.Pid }

func (p *direct) Wait() (syscall.WaitStatus, error) {
	waitExit(p.c.Process.Pid) // in the poller, not wait(2)'s system call
	err := p.c.Wait()
	close(p.done)
	if p.c.ProcessState == nil {
		return 0, err
	}
	return p.c.ProcessState.Sys().(syscall.WaitStatus), nil
}

func (p *direct) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return killGroup(p.c.Process.Pid)
}

// killGroup sends SIGKILL to the process group pid; a group that is gone
// is no error.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}
