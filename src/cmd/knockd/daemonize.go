//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
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

// daemonize starts the child and waits for its report.
func daemonize(stderr io.Writer) int {
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
	cmd := exec.Command(exe, os.Args[1:]...)
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
