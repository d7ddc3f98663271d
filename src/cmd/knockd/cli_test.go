//go:build linux

package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/fwknoprc"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// mainEnv makes the test binary run knockd's main (see TestMain): the
// tests below run knockd as a process, signals and -d included.
const mainEnv = "KNOCKD_GO_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// knockdCmd is knockd (this test binary running main) with args, in dir.
func knockdCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	if emu := os.Getenv("KNOCKD_GO_TEST_EXEC"); emu != "" {
		// Under go test -exec (qemu-user without binfmt_misc) the
		// emulator runs the test binary again.
		cmd = exec.Command(emu, append([]string{exe}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

// TestCheckReportsEveryError: knockd -k names every mistake of a file at
// once, each as file:line: field, with the nearest directive for a typo;
// a file that works but holds an inline comment or names a missing
// program passes with warnings.
func TestCheckReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[options]\n  firewall = auto   # iptables, fw4\n[ssh]\n  sequence = 7000,8000\n  Seq_Timout = 5\n  open = tcp/22\n[web]\n  sequence = 7001,abc\n  open = tcp/80\n[vpn]\n  sequence = 1,2\n  forward = tcp/1723->nowhere\n  target = 10.0.0.1\n  cooldown = x\n"), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"-k", "-c", bad}, &out, &errb, nil)
	want := []string{
		"knockd: " + bad + `:2: firewall: "auto   # iptables, fw4": want auto, iptables, iptables-legacy, iptables-nft, fw4 or none (inline comments are not supported: put the comment on its own line)`,
		"knockd: " + bad + `:5: door "ssh": Seq_Timout: unknown directive in door (did you mean seq_timeout?)`,
		"knockd: " + bad + `:8: door "web": sequence: `,
		"knockd: " + bad + `:12: door "vpn": forward: `,
		"knockd: " + bad + `:14: door "vpn": cooldown: `,
	}
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	if code != 1 || len(lines) != len(want) || out.Len() != 0 {
		t.Fatalf("knockd -k: exit %d, %d lines:\n%s\nwant exit 1 and %d lines", code, len(lines), errb.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n %s\nwant\n %s", i+1, lines[i], w)
		}
	}
	// Errors of two doors found by the compile (after a clean parse).
	two := filepath.Join(dir, "two.conf")
	os.WriteFile(two, []byte("[options]\n  interface = eth0\n[a]\n  sequence = 1\n  interface = wg0\n[b]\n  sequence = 2\n  interface = wg1\n"), 0o644)
	errb.Reset()
	if code := run([]string{"-k", "-c", two}, &out, &errb, nil); code != 1 || strings.Count(errb.String(), "is not a device the daemon listens on") != 2 {
		t.Errorf("compile errors of two doors: exit %d, %q", code, errb.String())
	}
	// Warnings only: OK, exit 0.
	warn := filepath.Join(dir, "warn.conf")
	os.WriteFile(warn, []byte("[options]\n  sendmail = "+filepath.Join(dir, "no-sendmail")+"\n[d]\n  sequence = 1\n  notify = root@localhost\n  command = /bin/true  # fine\n"), 0o644)
	out.Reset()
	errb.Reset()
	code = run([]string{"-k", "-c", warn}, &out, &errb, nil)
	wantW := "knockd: warning: " + warn + `:6: door "d": command: the value holds " #": inline comments are not supported` + "\x00" +
		"knockd: warning: " + warn + `: sendmail: program "` + filepath.Join(dir, "no-sendmail") + `" does not exist`
	gotW := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	wl := strings.Split(wantW, "\x00")
	if code != 0 || len(gotW) != 2 || !strings.HasPrefix(gotW[0], wl[0]) || gotW[1] != wl[1] || !strings.Contains(out.String(), "configuration OK (2 warning(s))") {
		t.Errorf("warnings: exit %d, stdout %q, stderr:\n%s", code, out.String(), errb.String())
	}
}

func TestAbsoluteArgs(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct{ in, want []string }{
		{[]string{"-d", "-c", "k.conf"}, []string{"-d", "-c", wd + "/k.conf"}},
		{[]string{"-dck.conf", "-i", "eth0"}, []string{"-dc" + wd + "/k.conf", "-i", "eth0"}},
		{[]string{"--config=k.conf", "-u", "/etc/config/knockd", "-p", "run/k.pid"}, []string{"--config=" + wd + "/k.conf", "-u", "/etc/config/knockd", "-p", wd + "/run/k.pid"}},
		{[]string{"--logfile", "k.log", "--socket", "k.sock", "-D"}, []string{"--logfile", wd + "/k.log", "--socket", wd + "/k.sock", "-D"}},
		{[]string{"-i", "k.conf", "--interface", "x", "-gk.log"}, []string{"-i", "k.conf", "--interface", "x", "-g" + wd + "/k.log"}},
		{[]string{"--", "-c", "x"}, []string{"--", "-c", "x"}},
	}
	for _, tt := range tests {
		got, err := absoluteArgs(tt.in)
		if err != nil || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("absoluteArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// fakeDaemon answers the control socket like a daemon.
type fakeDaemon struct{}

func (fakeDaemon) Status() control.Status { return control.Status{Running: true, Version: "test"} }
func (fakeDaemon) Revoke(string, netip.Addr) (int, error) {
	return 0, nil
}

// TestStatusJSON: `status --json`, `status -j` and `status json` print the
// JSON status; plain `status` the text.
func TestStatusJSON(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	srv, err := control.Listen(sock, fakeDaemon{}, logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for _, args := range [][]string{{"status", "--json"}, {"status", "-j"}, {"-j", "status"}, {"status", "json"}, {"status"}} {
		var out, errb bytes.Buffer
		code := run(append(args, "--socket", sock), &out, &errb, nil)
		isJSON := strings.HasPrefix(out.String(), `{"running":true`)
		if code != 0 || isJSON != (len(args) == 2 || args[0] == "-j") {
			t.Errorf("knockd %v: exit %d, %q %q", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"status", "xml", "--socket", sock}, &out, &errb, nil); code != 1 || !strings.Contains(errb.String(), "usage: knockd status [--json | -j | json]") {
		t.Errorf("status xml: exit %d, %q", code, errb.String())
	}
}

// TestHelpOnStdout: --help and -h print the usage on standard output, exit 0.
func TestHelpOnStdout(t *testing.T) {
	for _, a := range []string{"--help", "-h"} {
		var out, errb bytes.Buffer
		if code := run([]string{a}, &out, &errb, nil); code != 0 || !strings.HasPrefix(out.String(), "usage: knockd") || errb.Len() != 0 {
			t.Errorf("knockd %s: exit %d, stdout %q, stderr %q", a, code, out.String(), errb.String())
		}
	}
}

// TestKeygen: keygen spa prints the keys, the door and a ~/.fwknoprc
// stanza that parse; keygen rotating --show-secret-uri DOOR prints the
// door's URI with the new secret.
func TestKeygen(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", "spa", "home", "home.example.net"}, &out, &errb, nil); code != 0 {
		t.Fatalf("keygen spa: exit %d, %s", code, errb.String())
	}
	text := out.String()
	keys, err := fwknoprc.ParseKeys("keys", []byte(strings.SplitN(text, "\n\n", 2)[0]))
	if err != nil || len(keys) != 2 {
		t.Fatalf("the first lines are not a key file: %v\n%s", err, text)
	}
	vars, err := fwknoprc.ParseRC("fwknoprc", []byte(text), "home")
	if err != nil {
		t.Fatalf("stanza: %v\n%s", err, text)
	}
	got := map[string]string{}
	for _, v := range vars {
		got[v.Name] = v.Value
	}
	if got["SPA_SERVER"] != "home.example.net" || got["KEY_BASE64"] != keys[0].Value || got["HMAC_KEY_BASE64"] != keys[1].Value || got["USE_HMAC"] != "Y" || got["ACCESS"] != "tcp/22" {
		t.Errorf("stanza: %v", got)
	}
	// The door lines, uncommented, are a door -k accepts; in both syntaxes.
	var conf, uci strings.Builder
	inUCI := false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "# or in /etc/config/knockd"):
			inUCI = true
		case strings.HasPrefix(l, "#   ") && inUCI:
			uci.WriteString(strings.TrimPrefix(l, "#   ") + "\n")
		case strings.HasPrefix(l, "#   "):
			conf.WriteString(strings.TrimPrefix(l, "#   ") + "\n")
		}
	}
	c, err := config.Parse("door", strings.NewReader(conf.String()))
	if err != nil || c.Doors[0].SPA == nil {
		t.Errorf("door: %v\n%s", err, conf.String())
	}
	u, err := config.ParseUCI("uci", strings.NewReader(uci.String()))
	if err != nil || u.Doors[0].SPA == nil {
		t.Errorf("UCI door: %v\n%s", err, uci.String())
	}

	out.Reset()
	if code := run([]string{"keygen", "rotating", "--show-secret-uri", "ssh", "router.example.net"}, &out, &errb, nil); code != 0 {
		t.Fatalf("keygen rotating --show-secret-uri: exit %d, %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	secret := strings.TrimPrefix(lines[0], "SEQUENCE_SECRET: ")
	p, door, host, err := rotate.ParseURI(lines[len(lines)-1])
	if err != nil || door != "ssh" || host != "router.example.net" || rotate.FormatSecret(p.Secret) != secret {
		t.Errorf("URI %q: %v %q %q; secret %q", lines[len(lines)-1], err, door, host, secret)
	}
	// With -c, the door's own parameters.
	rot := filepath.Join(t.TempDir(), "rot.conf")
	os.WriteFile(rot, []byte("[rot]\n  sequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n  sequence_length = 6\n"), 0o644)
	out.Reset()
	if code := run([]string{"-c", rot, "keygen", "rotating", "--show-secret-uri", "rot"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "digits=6") || strings.Contains(out.String(), "GEZDGNBVGY3TQOJQ") {
		t.Errorf("with -c: exit %d, %q", code, out.String())
	}
	errb.Reset()
	if code := run([]string{"-c", rot, "keygen", "rotating", "--show-secret-uri", "nope"}, &out, &errb, nil); code != 1 || !strings.Contains(errb.String(), rot+`: no door "nope" (rotating doors: [rot])`) {
		t.Errorf("unknown door: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"keygen", "spa", "--show-secret-uri", "x"}, &out, &errb, nil); code != 1 || !strings.Contains(errb.String(), "usage: knockd keygen") {
		t.Errorf("keygen spa --show-secret-uri: exit %d, %q", code, errb.String())
	}
}

// TestShowURINamesTheFile: --show-secret-uri of a door that is not there
// names the file it read.
func TestShowURINamesTheFile(t *testing.T) {
	rot := filepath.Join(t.TempDir(), "rot.conf")
	os.WriteFile(rot, []byte("[rot]\n  sequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"-c", rot, "--show-secret-uri", "ssh"}, &out, &errb, nil); code != 1 || errb.String() != "knockd: "+rot+`: no door "ssh" (rotating doors: [rot])`+"\n" {
		t.Errorf("exit %d, %q", code, errb.String())
	}
}

// TestSubcommandsStopOnSignals: a subcommand keeps the default signal
// handling (TERM and INT end it), and `call` with standard input left
// open finishes by itself.
func TestSubcommandsStopOnSignals(t *testing.T) {
	dir := t.TempDir()
	// A socket that never answers: status waits for its reply.
	sock := filepath.Join(dir, "s")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := knockdCmd(t, dir, "status", "--socket", sock)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("status after %v: %v, want killed by the signal", sig, cmd.ProcessState)
			}
			// Well before the control socket's 5 s timeout would end it.
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("status ended %v after %v", d, sig)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("status ignores %v", sig)
		}
	}
	// call status with standard input open and never written.
	cmd := knockdCmd(t, dir, "call", "status", "--socket", filepath.Join(dir, "none"))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), `"running":false`) || time.Since(start) > 5*time.Second {
			t.Errorf("call status: %v after %v, %q", err, time.Since(start), out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatal("call status with standard input open never ends")
	}
}
