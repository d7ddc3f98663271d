package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMonitorRefuses: the spawner runs what its own configuration names
// and nothing else: a forged request for an unknown door, a bad address,
// a command line on a door that takes none, a stop no start promised,
// a notification of a door without one are refused; a message the
// protocol does not know (an argv, say) ends the spawner.
func TestMonitorRefuses(t *testing.T) {
	dir := t.TempDir()
	touch := "/bin/sh -c 'echo %IP% >> " + dir + "/ran'"
	sp := launch(t, &Policy{Doors: map[string]DoorPolicy{
		"d":   {Start: touch, Stop: touch, Timeout: time.Hour},
		"spa": {Start: touch, AllowCommands: true},
		"off": {},
	}, Sendmail: []string{"/bin/true"}})
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"unknown door", Request{Kind: DoorStart, Door: "x", Addr: "10.0.0.1"}, `no door "x"`},
		{"shell in the address", Request{Kind: DoorStart, Door: "d", Addr: "10.0.0.1; touch /tmp/owned"}, "is not an address"},
		{"empty address", Request{Kind: DoorStart, Door: "d"}, "is not an address"},
		{"zone", Request{Kind: DoorStart, Door: "d", Addr: "fe80::1%eth0"}, "is not an address"},
		{"mapped", Request{Kind: DoorStart, Door: "d", Addr: "::ffff:10.0.0.1"}, "is not an address"},
		{"not canonical", Request{Kind: DoorStart, Door: "d", Addr: "2001:DB8::1"}, "is not an address"},
		{"command line on a start", Request{Kind: DoorStart, Door: "d", Addr: "10.0.0.1", Command: "/bin/rm -rf /"}, "takes no command line"},
		{"SPA command on a door without", Request{Kind: DoorCommand, Door: "d", Addr: "10.0.0.1", Command: "touch /tmp/owned"}, "does not allow SPA commands"},
		{"SPA command with a newline", Request{Kind: DoorCommand, Door: "spa", Addr: "10.0.0.1", Command: "true\ntouch /tmp/owned"}, "bad SPA command"},
		{"no start command", Request{Kind: DoorStart, Door: "off", Addr: "10.0.0.1"}, "has no start command"},
		{"stop without a start", Request{Kind: DoorStop, Door: "d", Addr: "10.0.0.1"}, "no stop command"},
		{"notification of a door without", Request{Kind: Notify, Door: "d", Addr: "10.0.0.1"}, "has no notify"},
	}
	for _, tt := range tests {
		_, err := sp.Start(Cmd{Request: tt.r, Path: "/bin/touch", Args: []string{"touch", "/tmp/owned"}})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := os.Stat(dir + "/ran"); err == nil {
		t.Fatal("a refused request ran something")
	}
	// What the configuration names runs, with the address in it.
	p, err := sp.Start(Cmd{Request: Request{Kind: DoorCommand, Door: "spa", Addr: "2001:db8::1", Command: "/bin/sh -c 'echo spa %IP% >> " + dir + "/ran'"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if b, _ := os.ReadFile(dir + "/ran"); string(b) != "spa 2001:db8::1\n" {
		t.Fatalf("SPA command: %q", b)
	}
	// A start request that names a program is not in the protocol: the
	// client refuses it, and a forged message ends the spawner.
	if _, err := sp.Start(Cmd{Path: "/bin/touch", Args: []string{"touch", "/tmp/owned"}}); err == nil {
		t.Fatal("a request without a door was sent")
	}
	forged := []byte{'S', 0, 0, 0, 9, 0xff}
	forged = append(forged, "/bin/touch"...)
	if err := sp.send(forged, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sp.Died():
	case <-time.After(10 * time.Second):
		t.Fatal("the spawner runs on after a forged message")
	}
	if _, err := os.Stat("/tmp/owned"); err == nil {
		t.Fatal("/tmp/owned exists")
	}
}

// TestStopJournal: a start command's stop command is journalled before
// the start runs; the daemon's stop request takes it out; a spawner
// killed with a stop pending leaves it to the next one, which runs it
// at once when overdue and at its time otherwise; a daemon gone (the
// socket closed) has the spawner run every pending stop command.
func TestStopJournal(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal")
	log := filepath.Join(dir, "log")
	policy := func(timeout time.Duration) *Policy {
		return &Policy{Journal: journal, Doors: map[string]DoorPolicy{"d": {
			Start: "/bin/sh -c 'echo start %IP% >> " + log + "'", Stop: "/bin/sh -c 'echo stop %IP% >> " + log + "'", Timeout: timeout}}}
	}
	start := func(sp guarded, addr string) {
		t.Helper()
		p, err := sp.Start(Cmd{Request: Request{Kind: DoorStart, Door: "d", Addr: addr}})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	read := func() string { b, _ := os.ReadFile(log); return string(b) }

	sp := launch(t, policy(time.Hour))
	start(sp, "10.0.0.1")
	if j, _ := os.ReadFile(journal); !strings.Contains(string(j), `"d" "10.0.0.1" "/bin/sh -c 'echo stop 10.0.0.1 >> `) {
		t.Fatalf("journal: %q", j)
	}
	p, err := sp.Start(Cmd{Request: Request{Kind: DoorStop, Door: "d", Addr: "10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if j, _ := os.ReadFile(journal); len(j) != 0 || read() != "start 10.0.0.1\nstop 10.0.0.1\n" {
		t.Fatalf("after the stop: journal %q, log %q", j, read())
	}
	if _, err := sp.Start(Cmd{Request: Request{Kind: DoorStop, Door: "d", Addr: "10.0.0.1"}}); err == nil {
		t.Fatal("a second stop ran")
	}

	// kill -9 with two stops pending: one overdue at the next start,
	// one not yet.
	os.Remove(log)
	start(sp, "10.0.0.2")
	sp.Close()
	if read() != "start 10.0.0.2\nstop 10.0.0.2\n" {
		t.Fatalf("a daemon gone: %q", read())
	}
	os.Remove(log)
	two := policy(time.Second)
	two.Doors["e"] = DoorPolicy{Start: two.Doors["d"].Start, Stop: two.Doors["d"].Stop, Timeout: 4 * time.Second}
	sp = launch(t, two)
	start(sp, "10.0.0.3")
	p, err = sp.Start(Cmd{Request: Request{Kind: DoorStart, Door: "e", Addr: "10.0.0.4"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if err := unix.Kill(sp.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	<-sp.Died()
	time.Sleep(1500 * time.Millisecond)
	if read() != "start 10.0.0.3\nstart 10.0.0.4\n" {
		t.Fatalf("before the restart: %q", read())
	}
	sp = launch(t, two)
	if read() != "start 10.0.0.3\nstart 10.0.0.4\nstop 10.0.0.3\n" {
		t.Fatalf("the overdue stop command did not run before the spawner answered: %q", read())
	}
	for end := time.Now().Add(5 * time.Second); !strings.Contains(sp.notes.String(), "due at") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := sp.notes.String(); !strings.Contains(n, "10.0.0.3: d: running the overdue stop command of a former run") || !strings.Contains(n, "10.0.0.4: e: stop command of a former run due at") {
		t.Fatalf("notes: %s", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(read(), "stop 10.0.0.4") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if read() != "start 10.0.0.3\nstart 10.0.0.4\nstop 10.0.0.3\nstop 10.0.0.4\n" {
		t.Fatalf("the stop command due later: %q", read())
	}
	if j, _ := os.ReadFile(journal); len(j) != 0 {
		t.Fatalf("journal left: %q", j)
	}
	t.Logf("spawner notes: %s", sp.notes)
}

// TestMonitorFiles: the spawner opens for the daemon only the files its
// own configuration names, each for its one use: a log path, a lock, a
// one-time file, a replay journal or a control socket that is not the
// configuration's is refused, and so is a path given for another use;
// the journal files it creates are root's, 0600.
func TestMonitorFiles(t *testing.T) {
	dir := t.TempDir()
	j := func(name string) string { return filepath.Join(dir, name) }
	onetime := j("onetime")
	if err := os.WriteFile(onetime, []byte("1,2,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Policy{Doors: map[string]DoorPolicy{}, Files: Files{
		LogFile: j("log"), PidFile: j("pid"), ControlSocket: j("sock"),
		Locks: []string{j("sock.lock")}, OneTime: []string{onetime}, Replay: j("replay"),
	}}
	file := j("policy.json")
	writePolicy(t, file, p)
	sp, err := Launch(self(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })

	refused := []struct {
		op   FileOp
		path string
	}{
		{OpenLog, "/etc/shadow"},
		{OpenLog, j("pid")}, // another use's path
		{OpenLog, ""},
		{OpenPid, j("log")},
		{OpenLock, j("other.lock")},
		{OpenLock, onetime},
		{OpenOneTime, "/etc/passwd"},
		{ReadReplay, "/etc/shadow"},
		{CreateReplay, j("log")},
		{CommitReplay, j("replay.new")},
		{DiscardReplay, "/etc/passwd"},
		{ListenControl, j("log")},
	}
	for _, r := range refused {
		f, err := sp.Open(r.op, r.path)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s %q: %v, want refused", r.op, r.path, err)
		}
		if f != nil {
			f.Close()
		}
	}
	if _, err := os.Stat("/etc/passwd.new"); err == nil {
		t.Fatal("/etc/passwd.new exists")
	}

	// What the configuration names, for its use.
	lf, err := sp.Open(OpenLog, j("log"))
	if err != nil {
		t.Fatal(err)
	}
	lf.WriteString("line\n")
	lf.Close()
	if b, _ := os.ReadFile(j("log")); string(b) != "line\n" {
		t.Fatalf("log: %q", b)
	}
	of, err := sp.Open(OpenOneTime, onetime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := of.WriteAt([]byte("#"), 0); err != nil {
		t.Fatalf("one-time file not writable: %v", err)
	}
	of.Close()
	if _, err := sp.Open(ReadReplay, j("replay")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing journal: %v, want one that unwraps to ErrNotExist", err)
	}
	nf, err := sp.Open(CreateReplay, j("replay"))
	if err != nil {
		t.Fatal(err)
	}
	nf.WriteString("knockd-replay 1 0\n")
	nf.Close()
	if f, err := sp.Open(CommitReplay, j("replay")); err != nil || f != nil {
		t.Fatalf("commit: %v %v", f, err)
	}
	fi, err := os.Lstat(j("replay"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal: uid %d mode %v, want %d 0600", st.Uid, fi.Mode(), os.Geteuid())
	}
	if _, err := sp.Open(DiscardReplay, j("replay")); err != nil {
		t.Fatal(err)
	}
	// A symbolic link is not followed.
	os.Remove(j("replay"))
	os.Symlink("/etc/passwd", j("replay"))
	if _, err := sp.Open(WriteReplay, j("replay")); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("journal through a link: %v", err)
	}
	pf, err := sp.Open(OpenPid, j("pid"))
	if err != nil {
		t.Fatal(err)
	}
	pf.Close()
	ln, err := sp.Open(ListenControl, j("sock"))
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if fi, err := os.Lstat(j("sock")); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v", fi, err)
	}
	// The daemon gone, the spawner removes the pid file and the socket
	// it made (the daemon's user cannot).
	sp.Close()
	for _, p := range []string{j("pid"), j("sock")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}
