package logx

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSinks(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2026, 11, 24, 18, 16, 5, 0, time.Local)
	var verbose, debug bytes.Buffer
	file := filepath.Join(dir, "knockd.log")
	lg, err := New(Options{Verbose: &verbose, Debug: &debug, Syslog: true, LogFile: file, SyslogPath: sock, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	lg.Printf("%s: %s: Stage %d", "127.0.0.2", "otp", 1)
	lg.Printf("%s: running command: %s\n", "otp", "echo hi") // knockd's trailing newline: no blank line here
	lg.Debugf("local IP: %s", "10.0.0.1")

	b, _ := os.ReadFile(file)
	want := "[2026-11-24 18:16] 127.0.0.2: otp: Stage 1\n[2026-11-24 18:16] otp: running command: echo hi\n"
	if string(b) != want {
		t.Errorf("log file:\n%q\nwant\n%q", b, want)
	}
	if got := verbose.String(); got != "127.0.0.2: otp: Stage 1\notp: running command: echo hi\n" {
		t.Errorf("verbose: %q", got)
	}
	if got := debug.String(); got != "local IP: 10.0.0.1\n" {
		t.Errorf("debug: %q", got)
	}
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 512)
	n, _, err := l.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(buf[:n]), "<13>Nov 24 18:16:05 knockd: 127.0.0.2: otp: Stage 1"; got != want {
		t.Errorf("syslog datagram %q, want %q", got, want)
	}

	// Reopen after rotation, and switching syslog off.
	os.Rename(file, file+".1")
	if err := lg.Reopen(file, false); err != nil {
		t.Fatal(err)
	}
	lg.Printf("after rotation")
	b, _ = os.ReadFile(file)
	if !strings.Contains(string(b), "after rotation") {
		t.Errorf("no line in the new file: %q", b)
	}
	lg.Close()
}

func TestNoDebugWithoutFlag(t *testing.T) {
	lg, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if lg.Debugging() {
		t.Fatal("debugging without -D")
	}
	lg.Debugf("x") // must not panic with no sinks
	lg.Printf("y")
}

func TestBadLogFile(t *testing.T) {
	if _, err := New(Options{LogFile: filepath.Join(t.TempDir(), "no", "such", "dir", "log")}); err == nil {
		t.Fatal("want an error for a log file that cannot be created")
	}
}

func TestLogFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(dir, "knockd.log")
	os.Symlink(target, link)
	_, err := New(Options{LogFile: link})
	if err == nil || !strings.Contains(err.Error(), link+": is a symbolic link, refused") {
		t.Fatalf("New with a symlinked log file: %v", err)
	}
	lg := Discard()
	if err := lg.Reopen(link, false); err == nil {
		t.Fatal("Reopen followed a symbolic link")
	}
}

func TestNilAndDiscard(t *testing.T) {
	var l *Logger
	l.Printf("x")
	l.Debugf("y")
	l.Close()
	if l.Debugging() {
		t.Fatal("nil logger debugging")
	}
	Discard().Printf("z")
}

// TestPrintfWithoutSinks: a logger with nowhere to write neither formats
// the line nor reads the clock (the first knocks of a flood are logged
// through it; a reading is two system calls on 32-bit MIPS).
func TestPrintfWithoutSinks(t *testing.T) {
	l, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	l.now = func() time.Time { reads++; return time.Unix(0, 0) }
	if n := testing.AllocsPerRun(100, func() { l.Printf("%s: %s: Stage %d", "192.0.2.7", "door", 1) }); n != 0 || reads != 0 {
		t.Fatalf("Printf without sinks: %v allocations and %d clock readings a line, want none", n, reads)
	}
}

// TestLimiterBudget: burst lines at once, then rate lines a second, and
// a long quiet time saves up no more than the burst.
func TestLimiterBudget(t *testing.T) {
	now := time.Unix(1800000000, 0)
	m := NewLimiter(Discard(), 2, 3, func() time.Time { return now })
	m.after = func(time.Duration, func()) {}
	allowed := func() int {
		n := 0
		for i := 0; i < 10; i++ {
			if m.Allow("k") {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		wait time.Duration
		want int
	}{{0, 3}, {499 * time.Millisecond, 0}, {time.Millisecond, 1}, {time.Second, 2}, {365 * 24 * time.Hour, 3}, {250 * time.Millisecond, 0}, {250 * time.Millisecond, 1}} {
		now = now.Add(c.wait)
		if n := allowed(); n != c.want {
			t.Fatalf("after %v: %d lines allowed, want %d", c.wait, n, c.want)
		}
	}
}

// fileAndSyslog returns a logger writing to a log file (its path), to a
// syslog socket (sl, where the test reads the datagrams) and to verbose
// when not nil, its clock at 2026-11-24 18:16:05.
func fileAndSyslog(t *testing.T, verbose io.Writer) (lg *Logger, file string, sl *net.UnixConn) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	sl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sl.Close() })
	file = filepath.Join(dir, "knockd.log")
	clock := time.Date(2026, 11, 24, 18, 16, 5, 0, time.Local)
	lg, err = New(Options{LogFile: file, Syslog: true, SyslogPath: sock, Verbose: verbose, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return lg, file, sl
}

// TestDeferf: the lines of Deferf wait for Flush (or the next Printf, or
// maxHeld bytes, or Close) and are stamped with the time given; syslog
// gets them at once.
func TestDeferf(t *testing.T) {
	lg, file, sl := fileAndSyslog(t, nil)
	read := func() string { b, _ := os.ReadFile(file); return string(b) }
	at := time.Date(2026, 11, 24, 18, 17, 59, 0, time.Local)
	lg.Deferf(at, "%s: %s: Stage %d", "192.0.2.7", "ssh", 1)
	lg.Deferf(time.Time{}, "%s: %s: OPEN SESAME", "192.0.2.7", "ssh")
	if got := read(); got != "" {
		t.Fatalf("before Flush the file has %q", got)
	}
	_ = sl.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 512)
	if n, _, err := sl.ReadFrom(buf); err != nil || string(buf[:n]) != "<13>Nov 24 18:17:59 knockd: 192.0.2.7: ssh: Stage 1" {
		t.Errorf("syslog got %q, %v", buf[:n], err)
	}
	lg.Flush()
	want := "[2026-11-24 18:17] 192.0.2.7: ssh: Stage 1\n[2026-11-24 18:16] 192.0.2.7: ssh: OPEN SESAME\n"
	if got := read(); got != want {
		t.Fatalf("after Flush:\n%q\nwant\n%q", got, want)
	}
	// Printf writes what was held first, then its line.
	lg.Deferf(at, "held")
	lg.Printf("now")
	want += "[2026-11-24 18:17] held\n[2026-11-24 18:16] now\n"
	if got := read(); got != want {
		t.Fatalf("after Printf:\n%q\nwant\n%q", got, want)
	}
	// maxHeld bytes are not held.
	long := strings.Repeat("x", 1000)
	for i := 0; i < 5; i++ {
		lg.Deferf(at, "%s", long)
	}
	if got := read(); len(got) <= len(want) {
		t.Errorf("%d bytes held back, more than maxHeld (%d)", 5*(len(long)+20), maxHeld)
	}
	// Close writes the rest.
	lg.Deferf(at, "last")
	lg.Close()
	if got := read(); !strings.HasSuffix(got, "[2026-11-24 18:17] last\n") {
		t.Errorf("after Close the file ends %q", got[max(0, len(got)-60):])
	}
}

// TestDeferLine: a line put together by the caller goes to every sink as
// Deferf's would, the caller's buffer is free again once DeferLine
// returns, and with a file, syslog and verbose output a line costs no
// allocation.
func TestDeferLine(t *testing.T) {
	var verbose bytes.Buffer
	lg, file, sl := fileAndSyslog(t, &verbose)
	at := time.Date(2026, 11, 24, 18, 17, 59, 0, time.Local)
	msg := []byte("192.0.2.7: ssh: Stage 1")
	lg.DeferLine(at, msg)
	copy(msg, "XXXXXXXXX")
	lg.Deferf(time.Time{}, "%s: %s: Stage %d", "192.0.2.8", "ssh", 1)
	lg.Flush()
	b, _ := os.ReadFile(file)
	if want := "[2026-11-24 18:17] 192.0.2.7: ssh: Stage 1\n[2026-11-24 18:16] 192.0.2.8: ssh: Stage 1\n"; string(b) != want {
		t.Errorf("file:\n%q\nwant\n%q", b, want)
	}
	if want := "192.0.2.7: ssh: Stage 1\n192.0.2.8: ssh: Stage 1\n"; verbose.String() != want {
		t.Errorf("verbose: %q, want %q", verbose.String(), want)
	}
	_ = sl.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 512)
	if n, _, err := sl.ReadFrom(buf); err != nil || string(buf[:n]) != "<13>Nov 24 18:17:59 knockd: 192.0.2.7: ssh: Stage 1" {
		t.Errorf("syslog got %q, %v", buf[:n], err)
	}
	verbose.Grow(1 << 20)
	line := []byte("192.0.2.9: ssh: Stage 1")
	if n := testing.AllocsPerRun(100, func() { lg.DeferLine(at, line); lg.Flush() }); n != 0 {
		t.Errorf("DeferLine and Flush: %.1f allocations a line, want 0", n)
	}
	lg.Close()
}

// TestReopenFlushes: lines held back go to the file they were logged
// for, not to the one opened after rotation.
func TestReopenFlushes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "knockd.log")
	lg, err := New(Options{LogFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	lg.Deferf(time.Time{}, "before rotation")
	os.Rename(file, file+".1")
	if err := lg.Reopen(file, false); err != nil {
		t.Fatal(err)
	}
	lg.Printf("after rotation")
	old, _ := os.ReadFile(file + ".1")
	cur, _ := os.ReadFile(file)
	if !strings.Contains(string(old), "before rotation") || strings.Contains(string(cur), "before rotation") {
		t.Errorf("rotated file %q, new file %q", old, cur)
	}
}
