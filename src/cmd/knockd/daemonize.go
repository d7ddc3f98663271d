//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
)

// Daemon mode (-d) re-executes knockd in a new session (Go cannot fork).
// The parent waits until the child serves — log and pid file open,
// firewall set up, every device captured on or waited for — and exits 0
// only then; when the child fails, the parent prints the child's error
// and exits 1. The DD-WRT, Tomato and Entware start scripts trust that
// exit code.
const (
	daemonEnv = "KNOCKD_GO_DAEMONIZED" // set in the child
	readyEnv  = "KNOCKD_GO_READY_FD"   // the child's descriptor to report on
	readyLine = "knockd: ready"
	// readyTimeout bounds the parent's wait.
	readyTimeout = 60 * time.Second
)

func daemonized() bool { return os.Getenv(daemonEnv) != "" }

// readyReporter returns the pipe to the waiting parent, or nil.
func readyReporter() *os.File {
	fd := os.Getenv(readyEnv)
	if fd == "" {
		return nil
	}
	os.Unsetenv(readyEnv)
	if fd != "3" {
		return nil
	}
	syscall.CloseOnExec(3) // for the daemon alone: not its children's
	return os.NewFile(3, "ready")
}

// daemonize starts the child and waits for its report. The child runs in
// "/": the paths of the command line are made absolute first, and the
// configuration's relative paths are warned about.
func daemonize(cfg *config.Config, stderr io.Writer) int {
	args, err := absoluteArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	for _, p := range []struct{ field, path string }{{"logfile", cfg.Options.LogFile}, {"pidfile", cfg.Options.PidFile}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			fmt.Fprintf(stderr, "knockd: warning: %s: %s %q is relative: the daemon runs in / (give an absolute path)\n", cfg.File, p.field, p.path)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	defer null.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1", readyEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "knockd: cannot daemonize: %v\n", err)
		return 1
	}
	pw.Close()
	return waitReady(pr, cmd.Process, stderr, readyTimeout)
}

// pathOptions are the options whose argument is a file.
var pathOptions = []byte{'c', 'u', 'p', 'g', optSocket}

// absoluteArgs returns args with the arguments of pathOptions made
// absolute (against the current directory), in every form getopt takes:
// -c FILE, -cFILE, -kc FILE, --config FILE, --config=FILE.
func absoluteArgs(args []string) ([]string, error) {
	isPath := map[byte]bool{}
	long := map[string]byte{}
	hasArg := map[byte]bool{}
	for _, o := range options {
		hasArg[o.Short] = o.HasArg
		if o.Long != "" {
			long[o.Long] = o.Short
		}
	}
	for _, c := range pathOptions {
		isPath[c] = true
	}
	abs := func(p string) (string, error) {
		if p == "" || filepath.IsAbs(p) {
			return p, nil
		}
		return filepath.Abs(p)
	}
	out := append([]string{}, args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--":
			return out, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			c, ok := long[name]
			if !ok || !isPath[c] {
				if ok && hasArg[c] && !hasVal {
					i++
				}
				continue
			}
			if hasVal {
				p, err := abs(val)
				if err != nil {
					return nil, err
				}
				out[i] = "--" + name + "=" + p
			} else if i+1 < len(out) {
				i++
				p, err := abs(out[i])
				if err != nil {
					return nil, err
				}
				out[i] = p
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				c := a[j]
				if !hasArg[c] {
					continue
				}
				if j+1 < len(a) { // -cFILE
					if isPath[c] {
						p, err := abs(a[j+1:])
						if err != nil {
							return nil, err
						}
						out[i] = a[:j+1] + p
					}
				} else if i+1 < len(out) { // -c FILE
					i++
					if isPath[c] {
						p, err := abs(out[i])
						if err != nil {
							return nil, err
						}
						out[i] = p
					}
				}
				break
			}
		}
	}
	return out, nil
}

// waitReady reads the child's report: the ready line, or its errors
// until it exits (EOF).
func waitReady(r *os.File, child *os.Process, stderr io.Writer, limit time.Duration) int {
	defer r.Close()
	_ = r.SetReadDeadline(time.Now().Add(limit))
	var msgs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == readyLine {
			child.Release()
			return 0
		}
		msgs = append(msgs, sc.Text())
	}
	if err := sc.Err(); err != nil {
		_ = child.Kill()
		fmt.Fprintf(stderr, "knockd: the daemon did not report ready within %v (%v); stopped it\n", limit, err)
		return 1
	}
	if len(msgs) == 0 {
		msgs = []string{"knockd: the daemon exited during start-up"}
	}
	fmt.Fprintln(stderr, strings.Join(msgs, "\n"))
	_, _ = child.Wait()
	return 1
}
