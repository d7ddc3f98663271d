//go:build unix

package mail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script to a temporary directory and
// returns its path and the directory.
//
// The tests that run scripts are not parallel: a fork in one test could
// inherit another test's script still open for writing, and the exec of
// that script would then fail with ETXTBSY.
func script(t *testing.T, body string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p, dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSendmailDeliversKnock(t *testing.T) {
	// The stand-in records its arguments, one per line, and its stdin.
	path, dir := script(t, `dir=$(dirname "$0")
for a in "$@"; do printf '%s\n' "$a"; done > "$dir/argv"
cat > "$dir/stdin"
`)
	at := time.Date(2025, 6, 1, 12, 34, 56, 0, time.UTC)
	subject, body := Knock("vpn", "203.0.113.7", at, []string{"firewall: allow 203.0.113.7 to udp/1194 for 1h0m0s"}, nil)
	s := &Sendmail{Path: path, Args: []string{"-a", "knockd"}, Timeout: 10 * time.Second}
	m := Message{From: addr("Router <knockd@example.org>"), To: to("admin@example.org", "Ops <ops@example.net>"), Subject: subject, Body: body, Date: at}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}

	argv := strings.Split(strings.TrimSuffix(readFile(t, filepath.Join(dir, "argv")), "\n"), "\n")
	if want := []string{"-a", "knockd", "-i", "admin@example.org", "ops@example.net"}; strings.Join(argv, "|") != strings.Join(want, "|") {
		t.Errorf("argv %q, want %q", argv, want)
	}
	p := parse(t, []byte(readFile(t, filepath.Join(dir, "stdin"))))
	if strings.Join(p.keys, " ") != strings.Join(allKeys, " ") {
		t.Errorf("headers %v, want %v", p.keys, allKeys)
	}
	for k, want := range map[string]string{
		"From":    `Router <knockd@example.org>`,
		"To":      `admin@example.org, Ops <ops@example.net>`,
		"Subject": `knockd: door "vpn" opened for 203.0.113.7`,
		"Date":    "Sun, 01 Jun 2025 12:34:56 +0000",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{"Door:    vpn\n", "Address: 203.0.113.7\n", "  - firewall: allow 203.0.113.7 to udp/1194 for 1h0m0s\n"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.body)
		}
	}
}

func TestSendmailUsesClockForDate(t *testing.T) {
	path, dir := script(t, `cat > "$(dirname "$0")/stdin"`+"\n")
	s := &Sendmail{Path: path, Now: func() time.Time { return testDate }}
	if err := s.Send(context.Background(), Message{To: to("a@example.org")}); err != nil {
		t.Fatal(err)
	}
	if d, err := parse(t, []byte(readFile(t, filepath.Join(dir, "stdin")))).header.Date(); err != nil || !d.Equal(testDate) {
		t.Errorf("Date %v, %v; want %v", d, err, testDate)
	}
}

func TestSendmailFailure(t *testing.T) {
	path, _ := script(t, `cat >/dev/null
echo "msmtp: account default not found: no configuration file available" >&2
echo "second line" >&2
exit 78
`)
	s := &Sendmail{Path: path}
	err := s.Send(context.Background(), Message{To: to("a@example.org"), Subject: "x"})
	if err == nil {
		t.Fatal("Send succeeded with a failing program")
	}
	for _, want := range []string{path + ": ", "exit status 78", "msmtp: account default not found: no configuration file available | second line"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans lines", err)
	}
	t.Logf("err: %v", err)
}

func TestSendmailOutputBounded(t *testing.T) {
	path, _ := script(t, `i=0
while [ $i -lt 2000 ]; do echo "noise line $i"; i=$((i+1)); done
exit 1
`)
	err := (&Sendmail{Path: path}).Send(context.Background(), Message{To: to("a@example.org")})
	if err == nil {
		t.Fatal("Send succeeded")
	}
	if len(err.Error()) > maxOutput+len(path)+100 || !strings.HasSuffix(err.Error(), "…") || !strings.Contains(err.Error(), "noise line 0 |") {
		t.Errorf("error of %d bytes, want the first %d bytes of output and a mark: %.200q…", len(err.Error()), maxOutput, err)
	}
}

func TestSendmailMissingProgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-sendmail")
	err := (&Sendmail{Path: path}).Send(context.Background(), Message{To: to("a@example.org")})
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Send with a missing program = %v", err)
	}
}

func TestSendmailInvalidMessageRunsNothing(t *testing.T) {
	path, dir := script(t, `touch "$(dirname "$0")/ran"`+"\n")
	for _, m := range []Message{
		{},
		{To: to("-oQ/tmp")},
		{To: to("a@example.org\nBcc: b@example.org")},
		{From: addr("x\r\n"), To: to("a@example.org")},
	} {
		if err := (&Sendmail{Path: path}).Send(context.Background(), m); err == nil {
			t.Errorf("Send(%+v) succeeded", m)
		} else {
			t.Logf("err: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the program ran for an invalid message")
	}
}

// TestSendmailHangKilled runs a program that never finishes and leaves a
// child holding its output: the whole process group must be killed within
// the timeout, and Send return soon after.
func TestSendmailHangKilled(t *testing.T) {
	path, dir := script(t, `sleep 60 &
echo $! > "$(dirname "$0")/child"
echo "connecting to smtp.example.org" >&2
sleep 60
`)
	s := &Sendmail{Path: path, Timeout: 300 * time.Millisecond}
	start := time.Now()
	err := s.Send(context.Background(), Message{To: to("a@example.org")})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Send of a hanging program succeeded")
	}
	t.Logf("err after %v: %v", took, err)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "connecting to smtp.example.org") {
		t.Errorf("error %q: want the program, its output and a deadline", err)
	}
	if took > 2*time.Second {
		t.Errorf("Send returned after %v, want about the 300ms timeout", took)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "child"))))
	if perr != nil {
		t.Fatal(perr)
	}
	// The background child was killed with the group: gone, or a zombie
	// waiting for init to reap it.
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil || (syscall.Kill(pid, 0) != nil) || procState(string(st)) == "Z" {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the program survived the timeout: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procState returns the state field of /proc/<pid>/stat.
func procState(stat string) string {
	if i := strings.LastIndexByte(stat, ')'); i >= 0 && i+3 <= len(stat) {
		return stat[i+2 : i+3]
	}
	return ""
}

func TestSendmailContextCanceled(t *testing.T) {
	path, _ := script(t, "exec sleep 60\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := (&Sendmail{Path: path, Timeout: time.Minute}).Send(ctx, Message{To: to("a@example.org")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send returned after %v", took)
	}
}

// TestSendmailDaemonizedChild covers a program that exits 0 but leaves a
// child holding its stdout (as sendmail's background delivery may): that
// is a success, bounded by the wait delay.
func TestSendmailDaemonizedChild(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2s output delay")
	}
	path, dir := script(t, `cat >/dev/null
sleep 30 &
echo $! > "$(dirname "$0")/child"
exit 0
`)
	start := time.Now()
	err := (&Sendmail{Path: path, Timeout: 10 * time.Second}).Send(context.Background(), Message{To: to("a@example.org")})
	if b, rerr := os.ReadFile(filepath.Join(dir, "child")); rerr == nil {
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if took := time.Since(start); took > waitDelay+time.Second {
		t.Errorf("Send returned after %v", took)
	}
}
