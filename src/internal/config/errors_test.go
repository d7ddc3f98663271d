package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestParseReportsEveryError: a file with several mistakes gets all of
// them at once, in line order, each with file:line and field; an unknown
// directive gets the nearest known one.
func TestParseReportsEveryError(t *testing.T) {
	conf := "[options]\n  LogFil = /tmp/x\n  firewall = pf\n[ssh]\n  sequence = 7000,0\n  Seq_Timout = 5\n  tcpflags = syn\n[web]\n  sequence = 1,2\n  open = tcp/80\n  cmd_timeout = ten\n[ok]\n  sequence = 3\n"
	_, err := Parse("t.conf", strings.NewReader(conf))
	want := []string{
		`t.conf:2: LogFil: unknown directive in [options] (did you mean logfile?)`,
		`t.conf:3: firewall: "pf": want auto, iptables, iptables-legacy, iptables-nft, fw4 or none`,
		`t.conf:5: door "ssh": sequence: item 2 ("0"): port 0 out of range 1-65535`,
		`t.conf:6: door "ssh": Seq_Timout: unknown directive in door (did you mean seq_timeout?)`,
		`t.conf:11: door "web": cmd_timeout: "ten" is not a whole number`,
	}
	got := List(err)
	if len(got) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].Error(), w) {
			t.Errorf("error %d:\n %s\nwant\n %s", i+1, got[i], w)
		}
	}
	// The same in UCI.
	uci := "config knockd 'global'\n\toption logfil '/tmp/x'\n\toption firewall 'pf'\n\nconfig door 'ssh'\n\toption sequence '7000,0'\n\toption seq_timout '5'\n\nconfig door 'ok'\n\toption sequence '3'\n"
	_, err = ParseUCI("knockd", strings.NewReader(uci))
	wantUCI := []string{
		`knockd:2: logfil: unknown option in global section (did you mean logfile?)`,
		`knockd:3: firewall: "pf"`,
		`knockd:6: door "ssh": sequence: item 2`,
		`knockd:7: door "ssh": seq_timout: unknown option in door section (did you mean seq_timeout?)`,
	}
	got = List(err)
	if len(got) != len(wantUCI) {
		t.Fatalf("UCI: %d errors, want %d:\n%v", len(got), len(wantUCI), err)
	}
	for i, w := range wantUCI {
		if !strings.HasPrefix(got[i].Error(), w) {
			t.Errorf("UCI error %d:\n %s\nwant\n %s", i+1, got[i], w)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Seq_Timout", "seq_timeout"},
		{"SEQUENCES", "sequence"},
		{"tcp_flags", "tcpflags"},
		{"stat_command", "start_command"},
		{"comand", "command"},
		{"open_sesame", ""},
		{"x", ""},
		{strings.Repeat("a", 200), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, doorNames); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDirectiveNamesMatchTheParser: the suggestion lists are the names of
// the parser's switches, no more and no fewer.
func TestDirectiveNamesMatchTheParser(t *testing.T) {
	// The directives the parser knows, in the order suggestions try them.
	wantOptions := []string{"usesyslog", "logfile", "pidfile", "interface", "firewall", "sendmail", "mail_from",
		"max_attempts", "max_children", "enabled", "spa_replay_file", "notify_interval", "notify_per_hour",
		"control_socket", "sendmail_user", "command_user"}
	wantDoor := []string{"sequence", "one_time_sequences", "seq_timeout", "timeout", "tcpflags", "start_command",
		"command", "start_command_6", "command_6", "cmd_timeout", "stop_command", "stop_command_6", "target",
		"duplicate_knocks", "cooldown", "open", "forward", "open_duration", "duration", "wake", "wake_interface",
		"interface", "wake_password", "notify", "sequence_secret", "sequence_length", "sequence_step",
		"sequence_ports", "sequence_protocol", "spa", "spa_port", "spa_key", "spa_key_base64", "spa_hmac_key",
		"spa_hmac_key_base64", "spa_hmac_digest", "spa_max_age", "spa_allow_nat", "spa_allow_commands",
		"spa_allow_any_source", "spa_max_timeout"}
	if strings.Join(optionNames, " ") != strings.Join(wantOptions, " ") {
		t.Errorf("optionNames:\n %v\nwant:\n %v", optionNames, wantOptions)
	}
	if strings.Join(doorNames, " ") != strings.Join(wantDoor, " ") {
		t.Errorf("doorNames:\n %v\nwant:\n %v", doorNames, wantDoor)
	}
	// Every name is one the parser applies (an unknown one is errUnknown).
	for _, n := range wantOptions {
		if err := optionDirectives.set(&Options{}, strings.ToUpper(n), "x", false); errors.Is(err, errUnknown) {
			t.Errorf("option %s: unknown to the parser", n)
		}
	}
	for _, n := range wantDoor {
		if err := doorDirectives.set(&Door{}, strings.ToUpper(n), "x", false); errors.Is(err, errUnknown) {
			t.Errorf("door directive %s: unknown to the parser", n)
		}
	}
}

// TestInlineCommentWarning: a value holding " #" that parses is warned
// about; one that does not parse gets the advice in its error.
func TestInlineCommentWarning(t *testing.T) {
	c, err := Parse("t.conf", strings.NewReader("[options]\n  sendmail = /usr/sbin/sendmail  # msmtp works too\n[d]\n  sequence = 1\n  start_command = /bin/true # ok\n  stop_command = echo a#b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 2 || !strings.HasPrefix(c.Warnings[0].Error(), `t.conf:2: sendmail: the value holds " #": inline comments are not supported`) ||
		!strings.HasPrefix(c.Warnings[1].Error(), `t.conf:5: door "d": start_command: the value holds " #"`) {
		t.Errorf("warnings: %v", c.Warnings)
	}
	_, err = Parse("t.conf", strings.NewReader("[d]\n  sequence = 1\n  cmd_timeout = 10  # seconds\n"))
	if err == nil || !strings.Contains(err.Error(), `cmd_timeout: "10  # seconds" is not a whole number of seconds (inline comments are not supported: put the comment on its own line)`) {
		t.Errorf("error: %v", err)
	}
	c, err = ParseUCI("knockd", strings.NewReader("config door 'd'\n\toption sequence '1'\n\toption start_command '/bin/true # x'\n"))
	if err != nil || len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0].Error(), `knockd:3: door "d": start_command: the value holds " #"`) {
		t.Errorf("UCI: %v, warnings %v", err, c.Warnings)
	}
}

func TestProgramWarnings(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "exe")
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	conf := "[options]\n  sendmail = " + filepath.Join(dir, "sendmail") + "\n[d]\n  sequence = 1\n  start_command = " + exe + " %IP%\n  stop_command = " + noexec + " %IP%\n" +
		"[e]\n  sequence = 2\n  notify = root@localhost\n  start_command = exe -a\n  stop_command = nosuchprog-x %IP%\n  start_command_6 = true; echo\n  stop_command_6 = X=1 foo\n"
	c, err := Parse("t.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	got := ProgramWarnings(c, []string{dir})
	want := []string{
		`t.conf: sendmail: program "` + filepath.Join(dir, "sendmail") + `" does not exist`,
		`t.conf:6: door "d": stop_command: program "` + noexec + `" is not executable`,
		`t.conf:11: door "e": stop_command: program "nosuchprog-x": not found in ` + dir,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("warning %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// TestLoadReadsOnlyRegularFiles: a FIFO (or a device) as the
// configuration is refused at once instead of blocking.
func TestLoadReadsOnlyRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func(string) (*Config, error){Load, LoadUCI} {
		done := make(chan error, 1)
		go func() { _, err := load(fifo); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("FIFO: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("loading a FIFO blocks")
		}
	}
	if _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
}
