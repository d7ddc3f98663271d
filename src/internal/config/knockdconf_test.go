package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

func parse(s string) (*Config, error) { return Parse("test.conf", strings.NewReader(s)) }

// one returns the only door of c.
func one(t *testing.T, c *Config) *Door {
	t.Helper()
	if len(c.Doors) != 1 {
		t.Fatalf("%d doors, want 1", len(c.Doors))
	}
	return c.Doors[0]
}

func seqString(s []l4.Port) string {
	var parts []string
	for _, st := range s {
		parts = append(parts, st.Knock())
	}
	return strings.Join(parts, ",")
}

func expect(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// d wraps door directives into a door with a sequence.
func d(lines ...string) string {
	return "[d]\nsequence = 7000,8000\n" + strings.Join(lines, "\n") + "\n"
}

type parseCase struct {
	name  string
	conf  string
	ok    bool
	check func(t *testing.T, c *Config) // for ok cases
	err   string                        // substring of the error, for failing cases
}

func TestParseTable(t *testing.T) {
	seq := func(want string) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) { expect(t, "sequence", seqString(one(t, c).Sequence), want) }
	}
	door := func(f func(t *testing.T, d *Door)) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) { f(t, one(t, c)) }
	}
	opts := func(f func(t *testing.T, o Options)) func(*testing.T, *Config) {
		return func(t *testing.T, c *Config) { f(t, c.Options) }
	}
	flags := func(set, clear uint8) func(*testing.T, *Config) {
		return door(func(t *testing.T, d *Door) {
			expect(t, "flags", fmt.Sprintf("%#x/%#x", d.TCPFlags.Set, d.TCPFlags.Clear), fmt.Sprintf("%#x/%#x", set, clear))
		})
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []parseCase{
		// Sequence.
		{name: "sequence", conf: "[d]\nsequence = 7000,8000,9000\n", ok: true, check: seq("7000:tcp,8000:tcp,9000:tcp")},
		{name: "protocols any case", conf: "[d]\nsequence = 7000:udp,8000:TCP,9000:Udp,1:tCp\n", ok: true, check: seq("7000:udp,8000:tcp,9000:udp,1:tcp")},
		{name: "spaces everywhere", conf: "[d]\n  sequence   =   7000 : udp ,  8000 ,9000:  tcp  \n", ok: true, check: seq("7000:udp,8000:tcp,9000:tcp")},
		{name: "trailing comma", conf: "[d]\nsequence = 1,2,\n", ok: true, check: seq("1:tcp,2:tcp")},
		{name: "trailing comma and space", conf: "[d]\nsequence = 1,2 , \n", ok: true, check: seq("1:tcp,2:tcp")},
		{name: "single port", conf: "[d]\nsequence = 22\n", ok: true, check: seq("22:tcp")},
		{name: "repeated port", conf: "[d]\nsequence = 1000,1000,2000\n", ok: true, check: seq("1000:tcp,1000:tcp,2000:tcp")},
		{name: "port 1 and 65535", conf: "[d]\nsequence = 1,65535:udp\n", ok: true, check: seq("1:tcp,65535:udp")},
		{name: "later sequence replaces", conf: "[d]\nsequence = 1,2\nsequence = 3\n", ok: true, check: seq("3:tcp")},
		{name: "256 knocks", conf: "[d]\nsequence = " + strings.Repeat("5,", 255) + "6\n", ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "len", len(d.Sequence), 256) })},
		{name: "257 knocks", conf: "[d]\nsequence = " + strings.Repeat("5,", 256) + "6\n", err: "at most 256"},
		{name: "empty middle item", conf: "[d]\nsequence = 1,,2\n", err: "item 2 is empty"},
		{name: "two trailing commas", conf: "[d]\nsequence = 1,2,,\n", err: "item 3 is empty"},
		{name: "leading comma", conf: "[d]\nsequence = ,1\n", err: "item 1 is empty"},
		{name: "empty sequence", conf: "[d]\nsequence =\n", err: "item 1 is empty"},
		{name: "only a comma", conf: "[d]\nsequence = ,\n", err: "item 1 is empty"},
		{name: "port 0", conf: "[d]\nsequence = 1,0\n", err: "port 0 out of range"},
		{name: "port 65536", conf: "[d]\nsequence = 65536\n", err: "port 65536 out of range"},
		{name: "negative port", conf: "[d]\nsequence = -1\n", err: "port -1 out of range"},
		{name: "non-numeric port", conf: "[d]\nsequence = 1,abc\n", err: `port "abc" is not a number`},
		{name: "empty port with proto", conf: "[d]\nsequence = :udp\n", err: "is not a number"},
		{name: "huge port", conf: "[d]\nsequence = 99999999999999999999\n", err: "not a number"},
		{name: "icmp", conf: "[d]\nsequence = 1:icmp\n", err: `unknown protocol "icmp"`},
		{name: "empty proto", conf: "[d]\nsequence = 1:\n", err: `unknown protocol ""`},
		{name: "two protos", conf: "[d]\nsequence = 1:tcp:udp\n", err: "unknown protocol"},
		{name: "no sequence", conf: "[d]\nseq_timeout = 5\n", err: "empty knock sequence"},

		// Timeouts.
		{name: "defaults", conf: d(), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "seq timeout", d.SeqTimeout, 25*time.Second)
			expect(t, "cmd timeout", d.CmdTimeout, 10*time.Second)
			expect(t, "open duration", d.OpenDuration, 10*time.Second)
			expect(t, "wake interface", d.WakeInterface, "br-lan")
			expect(t, "strict dupes", d.StrictDupes, false)
			expect(t, "flags", d.TCPFlags, l4.Flags{})
		})},
		{name: "seq_timeout", conf: d("seq_timeout = 5"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "t", d.SeqTimeout, 5*time.Second) })},
		{name: "timeout alias", conf: d("Timeout = 7"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "t", d.SeqTimeout, 7*time.Second) })},
		{name: "seq_timeout 0", conf: d("seq_timeout = 0"), err: "0 seconds"},
		{name: "seq_timeout negative", conf: d("seq_timeout = -5"), err: "-5 is negative"},
		{name: "seq_timeout text", conf: d("seq_timeout = soon"), err: "not a whole number"},
		{name: "seq_timeout with unit", conf: d("seq_timeout = 5s"), err: "not a whole number"},
		{name: "seq_timeout over a year", conf: d("seq_timeout = 40000000"), err: "more than a year"},
		{name: "cmd_timeout", conf: d("cmd_timeout = 30"), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "cmd", d.CmdTimeout, 30*time.Second)
			expect(t, "open duration follows", d.OpenDuration, 30*time.Second)
		})},
		{name: "cmd_timeout 0", conf: d("cmd_timeout = 0"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "cmd", d.CmdTimeout, time.Duration(0)) })},
		{name: "cmd_timeout negative", conf: d("cmd_timeout = -1"), err: "negative"},

		// TCPFlags.
		{name: "tcpflags syn", conf: d("tcpflags = syn"), ok: true, check: flags(0x02, 0)},
		{name: "tcpflags negated", conf: d("TCPFlags = syn,!ack"), ok: true, check: flags(0x02, 0x10)},
		{name: "tcpflags spaces", conf: d("tcpflags = syn, ack"), ok: true, check: flags(0x12, 0)},
		{name: "tcpflags space after bang", conf: d("tcpflags = SYN , ! ACK ,urg"), ok: true, check: flags(0x22, 0x10)},
		{name: "tcpflags all six", conf: d("tcpflags = fin,syn,rst,psh,ack,urg"), ok: true, check: flags(0x3f, 0)},
		{name: "tcpflags lines accumulate", conf: d("tcpflags = syn", "tcpflags = !ack", "TCPFLAGS = fin"), ok: true, check: flags(0x03, 0x10)},
		{name: "tcpflags later overrides", conf: d("tcpflags = syn,ack", "tcpflags = !syn"), ok: true, check: flags(0x10, 0x02)},
		{name: "tcpflags empty items", conf: d("tcpflags = syn,,"), ok: true, check: flags(0x02, 0)},
		{name: "tcpflags ece", conf: d("tcpflags = ece"), err: `unrecognized flag "ECE"`},
		{name: "tcpflags bang alone", conf: d("tcpflags = !"), err: "unrecognized flag"},
		{name: "tcpflags all", conf: d("tcpflags = all"), err: "unrecognized flag"},

		// Commands.
		{name: "start_command", conf: d("start_command = /sbin/iptables -A INPUT -s %IP% -j ACCEPT"), ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "start", d.StartCommand, "/sbin/iptables -A INPUT -s %IP% -j ACCEPT")
			})},
		{name: "command alias, value with = and #", conf: d("Command = echo a=b # not a comment"), ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "start", d.StartCommand, "echo a=b # not a comment") })},
		{name: "start_command_6", conf: d("start_command = v4", "start_command_6 = v6"), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "start6", d.StartCommand6+fmt.Sprint(d.HasStart6), "v6true")
		})},
		{name: "command_6 alias", conf: d("command_6 = v6"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "start6", d.StartCommand6, "v6") })},
		{name: "start_command_6 empty", conf: d("start_command = v4", "start_command_6 ="), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "has", d.HasStart6, true)
			expect(t, "start6", d.StartCommand6, "")
		})},
		{name: "stop commands", conf: d("stop_command = s4", "Stop_Command_6 = s6"), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "stop", d.StopCommand+"|"+d.StopCommand6+fmt.Sprint(d.HasStop6), "s4|s6true")
		})},
		{name: "4 KB command", conf: d("start_command = " + long(4096)), ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "len", len(d.StartCommand), 4096) })},
		{name: "60 KB command", conf: d("start_command = " + long(60000)), ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "len", len(d.StartCommand), 60000) })},
		{name: "100 KB line", conf: d("start_command = " + long(100<<10)), err: "line longer than 65536 bytes"},

		// Target.
		{name: "target v4", conf: d("target = 192.0.2.1"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "target", d.Target, "192.0.2.1") })},
		{name: "target v6", conf: d("Target = 2001:DB8::1"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "target", d.Target, "2001:db8::1") })},
		{name: "target zone dropped", conf: d("target = fe80::1%eth0"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "target", d.Target, "fe80::1") })},
		{name: "target mapped", conf: d("target = ::ffff:192.0.2.1"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "target", d.Target, "192.0.2.1") })},
		{name: "target hostname", conf: d("target = router.lan"), err: "is not an IP address"},
		{name: "target empty", conf: d("target ="), err: "is not an IP address"},

		// Global options.
		{name: "options defaults", conf: d(), ok: true, check: opts(func(t *testing.T, o Options) {
			expect(t, "options", fmt.Sprintf("%+v", o), fmt.Sprintf("%+v", Options{PidFile: "/var/run/knockd.pid", Firewall: "auto", Sendmail: "/usr/sbin/sendmail", MaxAttempts: 32768, MaxChildren: 32, Enabled: true,
				SPAReplayFile: "/var/run/knockd.spa-replay", NotifyInterval: 10 * time.Minute, NotifyPerHour: 10, SendmailUser: "root", CommandUser: "root", ControlSocket: "/var/run/knockd.sock"}))
		})},
		{name: "limits and users", conf: "[options]\nnotify_interval = 60\nnotify_per_hour = 3\nsendmail_user = mail\ncommand_user = knock\nspa_replay_file =\n" + d(), ok: true,
			check: opts(func(t *testing.T, o Options) {
				expect(t, "options", fmt.Sprintln(o.NotifyInterval, o.NotifyPerHour, o.SendmailUser, o.CommandUser, o.SPAReplayFile == ""), "1m0s 3 mail knock true\n")
			})},
		{name: "bad user", conf: "[options]\ncommand_user = a:b\n" + d(), err: `command_user: "a:b" is not a user name`},
		{name: "relative replay file", conf: "[options]\nspa_replay_file = replay\n" + d(), err: "spa_replay_file: \"replay\": want an absolute path"},
		{name: "usesyslog bare", conf: "[options]\nUseSyslog\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "syslog", o.UseSyslog, true) })},
		{name: "usesyslog = yes", conf: "[options]\nusesyslog = yes\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "syslog", o.UseSyslog, true) })},
		{name: "usesyslog = no", conf: "[options]\nusesyslog = no\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "syslog", o.UseSyslog, false) })},
		{name: "usesyslog in a door", conf: d("UseSyslog"), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "syslog", o.UseSyslog, true) })},
		{name: "usesyslog = maybe", conf: "[options]\nusesyslog = maybe\n" + d(), err: "not a boolean"},
		{name: "logfile pidfile interface", conf: "[options]\nLogFile = /var/log/knockd.log\npidfile=/run/k.pid\nINTERFACE = pppoe-wan\n" + d(), ok: true,
			check: opts(func(t *testing.T, o Options) {
				expect(t, "files", o.LogFile+" "+o.PidFile+" "+strings.Join(o.Interfaces, " "), "/var/log/knockd.log /run/k.pid pppoe-wan")
			})},
		{name: "several interfaces", conf: "[options]\ninterface = eth0 eth1, wg0\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "interfaces", o.Interfaces, "[eth0 eth1 wg0]") })},
		{name: "interface too long", conf: "[options]\ninterface = abcdefghijklmnop\n" + d(), err: "not a network device name"},
		{name: "interface /dev path", conf: "[options]\ninterface = /dev/eth0\n" + d(), err: "not a network device name"},
		{name: "interface 16 chars", conf: "[options]\ninterface = abcdefghijklmnop\n" + d(), err: "not a network device name"},
		{name: "firewall values", conf: "[options]\nfirewall = FW4\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "fw", o.Firewall, "fw4") })},
		{name: "firewall iptables-nft", conf: "[options]\nfirewall = iptables-nft\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "fw", o.Firewall, "iptables-nft") })},
		{name: "firewall bogus", conf: "[options]\nfirewall = pf\n" + d(), err: `"pf": want auto`},
		{name: "mail options", conf: "[options]\nSendmail = /usr/bin/msmtp\nMail_From = knockd@router.lan\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) {
			expect(t, "mail", o.Sendmail+"|"+o.MailFrom.String(), "/usr/bin/msmtp|knockd@router.lan")
		})},
		{name: "max_attempts max_children", conf: "[options]\nmax_attempts = 1000\nMax_Children = 4\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) {
			expect(t, "caps", fmt.Sprint(o.MaxAttempts, o.MaxChildren), "1000 4")
		})},
		{name: "max_attempts 0", conf: "[options]\nmax_attempts = 0\n" + d(), err: "out of range"},
		{name: "max_attempts 1e3", conf: "[options]\nmax_attempts = 1e3\n" + d(), err: "not a whole number"},
		{name: "max_children too many", conf: "[options]\nmax_children = 5000\n" + d(), err: "out of range 1-4096"},
		{name: "enabled = no", conf: "[options]\nenabled = no\n" + d(), ok: true, check: opts(func(t *testing.T, o Options) { expect(t, "enabled", o.Enabled, false) })},

		// Syntax.
		{name: "case-insensitive keys", conf: "[d]\nSEQUENCE = 1\nSeQ_TiMeOuT = 3\ncMd_tImEoUt = 4\n", ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "timeouts", fmt.Sprint(d.SeqTimeout, d.CmdTimeout), "3s 4s")
		})},
		{name: "comments blanks crlf indent", conf: "# head\r\n\r\n   [options]  \r\n\t# c\r\n  logfile = /l  \r\n[d]\r\nsequence = 1,2\r\n  # sequence = 3\r\n", ok: true,
			check: func(t *testing.T, c *Config) {
				expect(t, "seq", seqString(one(t, c).Sequence), "1:tcp,2:tcp")
				expect(t, "logfile", c.Options.LogFile, "/l")
			}},
		{name: "duplicate door names", conf: "[a]\nsequence = 1\n[a]\nsequence = 2\n", ok: true, check: func(t *testing.T, c *Config) {
			expect(t, "doors", len(c.Doors), 2)
		}},
		{name: "door names kept verbatim", conf: "[ open SSH ]\nsequence = 1\n", ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "name", d.Name, "open SSH") })},
		{name: "options twice", conf: "[options]\nlogfile = a\n[d]\nsequence = 1\n[options]\npidfile = b\n", ok: true, check: opts(func(t *testing.T, o Options) {
			expect(t, "files", o.LogFile+o.PidFile, "ab")
		})},
		{name: "[Options] is a door", conf: "[Options]\nlogfile = /x\n" + d(), err: `door "Options": logfile: unknown directive in door`},
		{name: "door key in options", conf: "[options]\nsequence = 1\n" + d(), err: "sequence: unknown directive in [options]"},
		{name: "option key in door", conf: d("pidfile = /run/x.pid"), err: "pidfile: unknown directive in door"},
		{name: "rotating", conf: "[r]\nsequence_secret = gezdgnbv gy3tqojq gezdgnbv gy3tqojq\nsequence_length = 6\nsequence_step = 60\nsequence_ports = 2000-3000\nsequence_protocol = UDP\n", ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "rotate", fmt.Sprintf("%s %d %v %d-%d %s", d.Rotate.Secret, d.Rotate.Length, d.Rotate.Step, d.Rotate.Lo, d.Rotate.Hi, d.Rotate.Proto),
					"12345678901234567890 6 1m0s 2000-3000 udp")
			})},
		{name: "rotating defaults", conf: "[r]\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "rotate", fmt.Sprint(d.Rotate.Length, d.Rotate.Step, d.Rotate.Lo), "4 30s 10000")
			})},
		{name: "rotating short secret", conf: "[r]\nsequence_secret = GEZDGNBV\n", err: "sequence_secret: "},
		{name: "rotating without secret", conf: "[r]\nsequence_length = 5\n", err: `door "r": a rotating knock needs sequence_secret`},
		{name: "rotating and sequence", conf: "[r]\nsequence = 1,2\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", err: "has no fixed sequence"},
		{name: "rotating length 1", conf: "[r]\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nsequence_length = 1\n", err: "sequence_length: 1 knocks: at least 2"},
		{name: "rotating step 2", conf: "[r]\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nsequence_step = 2\n", err: "sequence_step: 2s: want 5s to 1h0m0s"},
		{name: "rotating narrow range", conf: "[r]\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nsequence_ports = 1000-1100\n", err: "sequence_ports: "},
		{name: "rotating spa", conf: "[r]\nsequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nspa_key = k\nspa_hmac_key = h\nopen = tcp/22\n", err: "either a knock sequence or SPA"},
		{name: "door interfaces", conf: d("interface = pppoe-wan, wg0"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "interfaces", d.Interfaces, "[pppoe-wan wg0]") })},
		{name: "bad interface", conf: d("interface = a/b"), err: `interface: "a/b" is not a network device name`},
		{name: "unknown key", conf: d("bogus = 1"), err: "bogus: unknown directive in door"},
		{name: "SPA-like unknown key", conf: d("spam = 1"), err: "spam: unknown directive in door"},
		{name: "directive before section", conf: "logfile = /x\n" + d(), err: "all directives must belong to a section"},
		{name: "empty section", conf: "[]\nsequence = 1\n", err: "bad section name"},
		{name: "blank section", conf: "[  ]\nsequence = 1\n", err: "bad section name"},
		{name: "unclosed section", conf: "[d\nsequence = 1\n", err: "has no closing ]"},
		{name: "line without =", conf: d("sequence 1,2"), err: "syntax error"},
		{name: "NUL byte", conf: d("start_command = a\x00b"), err: "NUL byte"},
		{name: "NUL in comment", conf: d("# \x00"), err: "NUL byte"},
		{name: "no doors", conf: "[options]\nUseSyslog\n", err: "no doors defined"},
		{name: "empty file", conf: "", err: "no doors defined"},
		{name: "only comments", conf: "# nothing\n\n", err: "no doors defined"},

		// Additions: open, forward, durations.
		{name: "open", conf: d("open = tcp/22, udp/53", "Open = 443/tcp udp:500"), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "open", d.Open, "[tcp/22 udp/53 tcp/443 udp/500]")
		})},
		{name: "open bad port", conf: d("open = tcp/0"), err: "out of range"},
		{name: "open bad proto", conf: d("open = sctp/22"), err: "unknown protocol"},
		{name: "forward", conf: d("forward = tcp/8080->192.168.1.5:80 masquerade, udp/51820->[fd00::7]:51821", "Forward = tcp/2222 -> 192.168.1.6"), ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "fwd", d.Forward, "[tcp/8080->192.168.1.5:80 masquerade udp/51820->[fd00::7]:51821 tcp/2222->192.168.1.6:2222]")
			})},
		{name: "forward no arrow", conf: d("forward = tcp/80 192.168.1.5"), err: "want proto/port->host"},
		{name: "forward to 0.0.0.0", conf: d("forward = tcp/80->0.0.0.0"), err: "cannot be a forward target"},
		{name: "open_duration", conf: d("open_duration = 3600", "cmd_timeout = 5"), ok: true, check: door(func(t *testing.T, d *Door) {
			expect(t, "dur", d.OpenDuration, time.Hour)
		})},
		{name: "duration alias", conf: d("Duration = 60"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "dur", d.OpenDuration, time.Minute) })},
		{name: "open_duration 0", conf: d("open_duration = 0"), err: "close the door as it opens"},
		{name: "cmd_timeout 0 with open", conf: d("cmd_timeout = 0", "open = tcp/22"), err: "grants would close as they open"},
		{name: "cmd_timeout 0 with open and duration", conf: d("cmd_timeout = 0", "open = tcp/22", "open_duration = 30"), ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "dur", d.OpenDuration, 30*time.Second) })},

		// Additions: wake, notify, cooldown, duplicates.
		{name: "wake", conf: d("wake = 00:81:52:6b:3d:ae, AA-BB-CC-DD-EE-FF", "wake_interface = lan0", "wake_password = 01:02:03:04:05:06"), ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "wake", d.Wake, "[00:81:52:6b:3d:ae aa:bb:cc:dd:ee:ff]")
				expect(t, "iface", d.WakeInterface, "lan0")
				expect(t, "pw", fmt.Sprintf("%x", d.WakePassword), "010203040506")
			})},
		{name: "wake password ipv4 form", conf: d("wake = 00:81:52:6b:3d:ae", "Wake_Password = 192.168.1.2"), ok: true,
			check: door(func(t *testing.T, d *Door) { expect(t, "pw", fmt.Sprintf("%x", d.WakePassword), "c0a80102") })},
		{name: "wake 8-byte MAC", conf: d("wake = 00:00:00:00:fe:80:00:00"), err: `wake: MAC address "00:00:00:00:fe:80:00:00": has 8 bytes, want 6`},
		{name: "wake multicast MAC", conf: d("wake = 01:00:5e:00:00:01"), err: "is a multicast or broadcast address"},
		{name: "wake bad password", conf: d("wake_password = secret"), err: "wake_password: SecureOn password: want 4 bytes"},
		{name: "wake interface empty", conf: d("wake_interface ="), err: "not a network device name"},
		{name: "notify", conf: d("notify = me@example.com, you@example.org", "Notify = third@example.net"), ok: true,
			check: door(func(t *testing.T, d *Door) {
				expect(t, "notify", d.Notify, "[me@example.com you@example.org third@example.net]")
			})},
		{name: "notify not an address", conf: d("notify = a@"), err: `notify: address "a@"`},
		{name: "notify option injection", conf: d("notify = -oQ@x"), err: `notify: address "-oQ@x" starts with '-'`},
		{name: "mail_from bad", conf: "[options]\nmail_from = <x@\n" + d(), err: `test.conf:2: mail_from: address "<x@"`},
		{name: "sendmail relative", conf: "[options]\nsendmail = msmtp\n" + d(), err: `test.conf:2: sendmail: "msmtp": want the absolute path`},
		{name: "cooldown", conf: d("cooldown = 30"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "cool", d.Cooldown, 30*time.Second) })},
		{name: "cooldown negative", conf: d("cooldown = -3"), err: "negative"},
		{name: "duplicate_knocks strict", conf: d("Duplicate_Knocks = Strict"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "strict", d.StrictDupes, true) })},
		{name: "duplicate_knocks ignore", conf: d("duplicate_knocks = strict", "duplicate_knocks = ignore"), ok: true, check: door(func(t *testing.T, d *Door) { expect(t, "strict", d.StrictDupes, false) })},
		{name: "duplicate_knocks bogus", conf: d("duplicate_knocks = allow"), err: "want ignore or strict"},

		// SPA.
		{name: "spa defaults", conf: "[s]\nspa = yes\nspa_key = secret\nspa_hmac_key = hmac\nopen = tcp/22\n", ok: true, check: door(func(t *testing.T, d *Door) {
			if d.SPA == nil {
				t.Fatal("no SPA")
			}
			expect(t, "spa", fmt.Sprintf("%d %s %s %s %v", d.SPA.Port, d.SPA.Key, d.SPA.HMACKey, d.SPA.HMACDigest, d.SPA.MaxAge), "62201 secret hmac sha256 2m0s")
			expect(t, "sequence", len(d.Sequence), 0)
		})},
		{name: "spa all options", conf: "[s]\nSPA_Port = 62202\nSPA_Key_Base64 = c2VjcmV0\nSPA_HMAC_Key_Base64 = aG1hYw==\nSPA_HMAC_Digest = SHA3-256\nSPA_Max_Age = 30\nSPA_Allow_NAT = yes\nSPA_Allow_Commands = on\nSPA_Allow_Any_Source = 1\nSPA_Max_Timeout = 600\nforward = tcp/80->192.168.1.5\n", ok: true,
			check: door(func(t *testing.T, d *Door) {
				s := d.SPA
				expect(t, "spa", fmt.Sprintf("%d %s %s %s %v %v %v %v %v", s.Port, s.Key, s.HMACKey, s.HMACDigest, s.MaxAge, s.AllowNAT, s.AllowCommands, s.AllowAnySource, s.MaxClientTimeout),
					"62202 secret hmac sha3_256 30s true true true 10m0s")
			})},
		{name: "spa commands only", conf: "[s]\nspa_key = k\nspa_hmac_key = h\nspa_allow_commands = yes\n", ok: true},
		{name: "spa start_command only", conf: "[s]\nspa_key = k\nspa_hmac_key = h\nstart_command = logger %IP%\n", ok: true},
		{name: "spa without key", conf: "[s]\nspa = yes\nspa_hmac_key = h\nopen = tcp/22\n", err: "SPA door needs spa_key"},
		{name: "spa without hmac", conf: "[s]\nspa_key = k\nopen = tcp/22\n", err: "needs spa_hmac_key"},
		{name: "spa and sequence", conf: "[s]\nsequence = 1\nspa_key = k\nspa_hmac_key = h\nopen = tcp/22\n", err: "either a knock sequence or SPA"},
		{name: "spa grants nothing", conf: "[s]\nspa_key = k\nspa_hmac_key = h\n", err: "grants nothing"},
		{name: "spa = no drops spa", conf: "[s]\nspa_key = k\nspa = no\nsequence = 1\n", ok: true, check: door(func(t *testing.T, d *Door) {
			if d.SPA != nil {
				t.Fatal("SPA still set")
			}
		})},
		{name: "spa bad base64", conf: "[s]\nspa_key_base64 = !!!\n", err: "spa_key_base64: decode base64 key: illegal base64 data"},
		{name: "spa bad digest", conf: "[s]\nspa_hmac_digest = md4\n", err: "want md5"},
		{name: "spa max age 0", conf: "[s]\nspa_max_age = 0\n", err: "reject every packet"},
		{name: "spa port 0", conf: "[s]\nspa_port = 0\n", err: "out of range"},
		{name: "spa bool bad", conf: "[s]\nspa = perhaps\n", err: "not a boolean"},
		{name: "spa unknown", conf: "[s]\nspa_color = red\n", err: "spa_color: unknown directive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parse(c.conf)
			if c.ok != (err == nil) {
				t.Fatalf("ok = %v, want %v (err: %v)", err == nil, c.ok, err)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.File != "test.conf" {
					t.Fatalf("error %v (%T) is not a *Error naming the file", err, err)
				}
				if c.err == "" || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %q does not contain %q", err, c.err)
				}
				return
			}
			if c.err != "" {
				t.Fatalf("case has an error text but is ok")
			}
			for _, dr := range cfg.Doors {
				if len(dr.Sequence) == 0 && dr.SPA == nil && dr.Rotate == nil && dr.OneTimeFile == "" {
					t.Fatalf("door %q has nothing to match", dr.Name)
				}
			}
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}
}

// TestErrorPlaces checks the exact text of errors: file, line, door and
// field as written.
func TestErrorPlaces(t *testing.T) {
	for _, c := range []struct {
		conf string
		want string
		line int
	}{
		{"[options]\nUseSyslog\n\n[openSSH]\nsequence = 7000\nBogus_Key = 1\n", `test.conf:6: door "openSSH": Bogus_Key: unknown directive in door`, 6},
		{"# c\n[options]\n  LogFilez = /x\n", `test.conf:3: LogFilez: unknown directive in [options] (did you mean logfile?)`, 3},
		{"sequence = 1\n", `test.conf:1: sequence: all directives must belong to a section`, 1},
		{"[d]\nsequence = 1\n[]\n", `test.conf:3: bad section name`, 3},
		{"[d]\nSeq_Timeout = x\nsequence = 1\n", `test.conf:2: door "d": Seq_Timeout: "x" is not a whole number of seconds`, 2},
		{"\n\n[d]\nseq_timeout = 5\n[e]\nsequence = 1\n", `test.conf:3: door "d": empty knock sequence (give sequence, one_time_sequences or sequence_secret)`, 3},
		{"[d]\nsequence = 1\nstart_command = " + strings.Repeat("x", 70000) + "\n", `test.conf:3: door "d": line longer than 65536 bytes`, 3},
		{"[d]\nsequence = 1,,2\n", `test.conf:2: door "d": sequence: item 2 is empty`, 2},
		{"[d]\nsequence = 1:icmp\n", `test.conf:2: door "d": sequence: item 1 ("1:icmp"): unknown protocol "icmp" (want tcp or udp)`, 2},
	} {
		_, err := parse(c.conf)
		if err == nil {
			t.Errorf("%q parsed", c.conf[:min(len(c.conf), 60)])
			continue
		}
		if err.Error() != c.want {
			t.Errorf("error\n %s\nwant\n %s", err, c.want)
		}
		var e *Error
		if errors.As(err, &e) && e.Line != c.line {
			t.Errorf("Line = %d, want %d", e.Line, c.line)
		}
	}
}

func TestLineLengthLimit(t *testing.T) {
	// A line of MaxLineLength-1 bytes plus its newline fills the buffer
	// exactly; anything longer is refused.
	for _, c := range []struct {
		n  int
		ok bool
	}{{4095, true}, {4096, true}, {MaxLineLength - 1, true}, {MaxLineLength, false}, {MaxLineLength + 1, false}} {
		line := "start_command = " + strings.Repeat("y", c.n-len("start_command = "))
		_, err := parse("[d]\nsequence = 1\n" + line + "\n")
		if (err == nil) != c.ok {
			t.Errorf("line of %d bytes: err = %v, want ok = %v", c.n, err, c.ok)
		}
	}
}

func TestManyDoors(t *testing.T) {
	var b strings.Builder
	b.WriteString("[options]\nUseSyslog\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "[door%d]\nsequence = %d,%d:udp,%d\nseq_timeout = 5\ntcpflags = syn,!ack\nstart_command = /sbin/iptables -I INPUT -s %%IP%% -p tcp --dport %d -j ACCEPT\ncmd_timeout = 10\nstop_command = /sbin/iptables -D INPUT -s %%IP%% -p tcp --dport %d -j ACCEPT\n",
			i, 1+i%65535, 1+(i*7)%65535, 1+(i*13)%65535, i%65535+1, i%65535+1)
	}
	start := time.Now()
	c, err := parse(b.String())
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Doors) != 10000 || c.Doors[9999].Name != "door9999" || c.Doors[9999].Line != 9999*7+3 {
		t.Fatalf("%d doors, last %q at line %d", len(c.Doors), c.Doors[len(c.Doors)-1].Name, c.Doors[len(c.Doors)-1].Line)
	}
	t.Logf("10000 doors (%d KiB) parsed in %v", b.Len()>>10, el)
	if el > 5*time.Second {
		t.Errorf("parsing 10000 doors took %v", el)
	}
}

func TestParseHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"yes": "true", "On": "true", "1": "true", "TRUE": "true", "enabled": "true", "enable": "true",
		"no": "false", "OFF": "false", "0": "false", "false": "false", "disabled": "false",
		"y": "err", "": "err", "2": "err",
	} {
		b, err := ParseBool(in)
		got := fmt.Sprint(b)
		if err != nil {
			got = "err"
		}
		if got != want {
			t.Errorf("ParseBool(%q) = %s, want %s", in, got, want)
		}
	}
	expect(t, "SplitList", SplitList(" a, b\tc,,d "), "[a b c d]")
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(p, []byte("[options]\nlogfile = x\n[d]\nsequence = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != p || c.Doors[0].File != p || c.Doors[0].Line != 3 {
		t.Errorf("File/Line not recorded: %q %q %d", c.File, c.Doors[0].File, c.Doors[0].Line)
	}
	if _, err := Load(filepath.Join(dir, "missing.conf")); err == nil || !strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
