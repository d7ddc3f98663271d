package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

const (
	// DefaultPath is the sendmail program run when Sendmail.Path is empty.
	// msmtp-mta, ssmtp, Postfix, Exim and busybox all install one there.
	DefaultPath = "/usr/sbin/sendmail"
	// DefaultTimeout bounds one Send when Sendmail.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// maxOutput bounds how much of the program's output is kept and
	// quoted in an error.
	maxOutput = 2 << 10
	// waitDelay bounds the wait for the program's output after it has
	// exited or been killed (a daemonized child may hold the pipes).
	waitDelay = 2 * time.Second
)

// Sendmail is the Mailer that pipes the message into a sendmail-compatible
// program:
//
//	<Path> <Args...> -i <recipient>...
//
// Recipients go on the command line, not through -t: every implementation
// takes them there, whereas -t differs (Sendmail drops command-line
// recipients, Postfix adds them, ssmtp refuses the mix and still exits 0,
// some minimal ones ignore -t). -i (accepted by all, implied by some) keeps a
// line holding a single dot from ending the message. The message has LF line
// endings, the convention for programs reading mail on stdin; they convert
// to CRLF for SMTP.
//
// The zero value runs DefaultPath with DefaultTimeout and is safe for
// concurrent use.
type Sendmail struct {
	// Path of the program; empty means DefaultPath.
	Path string
	// Args are inserted before -i, for instance {"-a", "knockd"} to pick
	// an msmtp account or {"-f", "knockd@example.org"} for the envelope
	// sender.
	Args []string
	// Timeout bounds each Send, after which the program's whole process
	// group is killed; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock used for the Date header of messages without one;
	// nil means time.Now.
	Now func() time.Time
	// Credential, when set, runs the program as that user, with
	// no_new_privs; nil runs it as the starter's user, without any
	// capability when that is root (OpenWrt's msmtp and ssmtp read a
	// configuration of root's with mode 0600).
	Credential *syscall.Credential
	// Starter starts the program (the spawner, where knockd runs as
	// root); nil starts it from this process.
	Starter spawn.Starter
}

var _ Mailer = (*Sendmail)(nil)

// Send runs the program, writes m to its standard input and waits for it
// to exit, at most until ctx is done or Timeout passes. An error names the
// program and carries what it wrote to stdout and stderr.
//
// Send blocks for as long as the program runs (msmtp and ssmtp deliver
// synchronously, over the network): run it in a goroutine of its own.
func (s *Sendmail) Send(ctx context.Context, m Message) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now()
	data, rcpts, err := compose(m, t, messageID(m, t))
	if err != nil {
		return err
	}
	path := s.Path
	if path == "" {
		path = DefaultPath
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	args := make([]string, 0, len(s.Args)+2+len(rcpts))
	args = append(args, path)
	args = append(args, s.Args...)
	args = append(args, "-i")
	args = append(args, rcpts...)
	out := &limitedBuffer{max: maxOutput}
	c := spawn.Cmd{Path: path, Args: args, Env: os.Environ(), Cred: s.Credential, NoNewPrivs: s.Credential != nil, NoCaps: s.Credential == nil,
		Request: spawn.Request{Kind: spawn.Notify, Door: m.Door, Addr: m.Source}}
	err = s.run(ctx, c, data, out)
	if err == nil {
		return nil
	}
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return fmt.Errorf("%s: killed after %v: %w%s", path, timeout, context.DeadlineExceeded, out.suffix())
	case ctx.Err() != nil:
		return fmt.Errorf("%s: killed: %w%s", path, ctx.Err(), out.suffix())
	}
	return fmt.Errorf("%s: %w%s", path, err, out.suffix())
}

// run starts c in a process group of its own with data on its standard
// input and its output in out, and waits for it to exit. When ctx ends
// first, the whole group is killed, so helpers the program started (a
// queue runner, a TLS helper) die with it. Output is awaited for at most
// waitDelay after the program exited: something it left behind may hold
// the pipe.
func (s *Sendmail) run(ctx context.Context, c spawn.Cmd, data []byte, out io.Writer) error {
	starter := s.Starter
	if starter == nil {
		starter = spawn.Direct{}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		return err
	}
	defer outR.Close()
	c.Stdin, c.Stdout, c.Stderr = inR, outW, outW
	p, err := starter.Start(c)
	inR.Close()
	outW.Close()
	if err != nil {
		return err
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		// A program that does not read its input gets EPIPE here, or the
		// close below once it ended.
		_, _ = inW.Write(data)
		inW.Close()
	}()
	defer func() { inW.Close(); <-written }()
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, outR)
		close(copied)
	}()
	type end struct {
		ws  syscall.WaitStatus
		err error
	}
	ended := make(chan end, 1)
	go func() {
		ws, err := p.Wait()
		ended <- end{ws, err}
	}()
	var e end
	select {
	case e = <-ended:
	case <-ctx.Done():
		_ = p.Kill() // a spawner that is gone also ends the wait
		e = <-ended
	}
	t := time.NewTimer(waitDelay)
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C:
		outR.Close() // the program succeeded or not; something it left behind kept the pipe
		<-copied
	}
	if e.err != nil {
		return e.err
	}
	return spawn.StatusError(e.ws)
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a chatty program neither blocks nor fills memory.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

// suffix returns ": <output>" on one line, or "" when there was none.
func (b *limitedBuffer) suffix() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(b.buf.String(), "\uFFFD"))
	if s == "" {
		return ""
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = CleanHeaderText(l, 0)
	}
	s = strings.Join(lines, " | ")
	if len(s) > b.max {
		s = strings.ToValidUTF8(s[:b.max], "")
		b.truncated = true
	}
	if b.truncated {
		s += " …"
	}
	return ": " + s
}
