//go:build unix

package mail

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/spawn"
)

// fakeStarter plays the program in a goroutine: it reads its stdin,
// writes out to its stdout and ends with status, or hangs until killed.
type fakeStarter struct {
	out    string
	status syscall.WaitStatus
	hang   bool

	cmd    spawn.Cmd
	input  chan string
	killed chan struct{}
}

type fakeProc struct {
	end    chan syscall.WaitStatus
	killed chan struct{}
}

func (f *fakeStarter) Start(c spawn.Cmd) (spawn.Process, error) {
	f.cmd = c
	// The caller closes its copies once started, as after an exec.
	dup := func(g *os.File) *os.File {
		fd, err := syscall.Dup(int(g.Fd()))
		if err != nil {
			panic(err)
		}
		return os.NewFile(uintptr(fd), "dup")
	}
	in, out := dup(c.Stdin), dup(c.Stdout)
	p := &fakeProc{end: make(chan syscall.WaitStatus, 1), killed: f.killed}
	go func() {
		b, _ := io.ReadAll(in)
		in.Close()
		f.input <- string(b)
		io.WriteString(out, f.out)
		out.Close()
		if !f.hang {
			p.end <- f.status
		}
	}()
	return p, nil
}

func (p *fakeProc) Pid() int { return 1 }
func (p *fakeProc) Wait() (syscall.WaitStatus, error) {
	select {
	case ws := <-p.end:
		return ws, nil
	case <-p.killed:
		return syscall.WaitStatus(syscall.SIGKILL), nil
	}
}
func (p *fakeProc) Kill() error { close(p.killed); return nil }

// TestSendmailStarter: the program is started by the injected starter,
// as sendmail_user with no_new_privs; the message reaches its stdin
// through the passed pipe, its output comes back in the error, and a
// hang is killed at the timeout.
func TestSendmailStarter(t *testing.T) {
	cred := &syscall.Credential{Uid: 65534, Gid: 65534}
	tests := []struct {
		name   string
		f      fakeStarter
		errHas []string
	}{
		{"delivered", fakeStarter{}, nil},
		{"failed", fakeStarter{out: "msmtp: no account\n", status: 78 << 8}, []string{"/usr/sbin/sendmail: exit status 78: msmtp: no account"}},
		{"hang", fakeStarter{out: "connecting\n", hang: true}, []string{"killed after 100ms", "connecting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			f.input, f.killed = make(chan string, 1), make(chan struct{})
			s := &Sendmail{Credential: cred, Args: []string{"-f", "knockd@example.org"}, Starter: &f, Timeout: 100 * time.Millisecond}
			err := s.Send(context.Background(), Message{To: to("a@example.org"), Subject: "knock"})
			c := f.cmd
			if c.Path != DefaultPath || strings.Join(c.Args, " ") != DefaultPath+" -f knockd@example.org -i a@example.org" || c.Cred != cred || !c.NoNewPrivs {
				t.Fatalf("started %+v", c)
			}
			if in := <-f.input; !strings.Contains(in, "To: a@example.org\n") || !strings.Contains(in, "Subject: knock\n") {
				t.Fatalf("stdin %q", in)
			}
			if tt.errHas == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.errHas {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if tt.f.hang && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is no deadline", err)
			}
		})
	}
}
