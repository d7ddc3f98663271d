package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/uci"
)

func parseUCI(s string) (*Config, error) { return ParseUCI("knockd", strings.NewReader(s)) }

// sameModel compares two configurations ignoring where they were read from.
func sameModel(t *testing.T, a, b *Config) {
	t.Helper()
	strip := func(c *Config) *Config {
		c2 := *c
		c2.File = ""
		c2.Doors = nil
		for _, d := range c.Doors {
			d2 := *d
			d2.File, d2.Line, d2.directives = "", 0, nil
			c2.Doors = append(c2.Doors, &d2)
		}
		return &c2
	}
	sa, sb := strip(a), strip(b)
	if reflect.DeepEqual(sa, sb) {
		return
	}
	if !reflect.DeepEqual(sa.Options, sb.Options) {
		t.Errorf("options differ:\n%+v\n%+v", sa.Options, sb.Options)
	}
	if len(sa.Doors) != len(sb.Doors) {
		t.Fatalf("%d doors vs %d", len(sa.Doors), len(sb.Doors))
	}
	for i := range sa.Doors {
		if !reflect.DeepEqual(sa.Doors[i], sb.Doors[i]) {
			t.Errorf("door %d differs:\n%+v\n%+v", i, *sa.Doors[i], *sb.Doors[i])
			if x, y := sa.Doors[i].SPA, sb.Doors[i].SPA; x != nil && y != nil {
				t.Errorf("SPA:\n%+v\n%+v", *x, *y)
			}
		}
	}
}

const equivConf = `# The same doors as equivUCI.
[options]
	UseSyslog
	Interface    = pppoe-wan
	LogFile      = /var/log/knockd.log
	PidFile      = /var/run/knockd-go.pid
	Firewall     = fw4
	Sendmail     = /usr/bin/msmtp
	Mail_From    = knockd@router.lan
	Max_Attempts = 1000
	Max_Children = 8

[openSSH]
	Sequence        = 7000,8000:udp,9000
	Seq_Timeout     = 5
	TCPFlags        = syn
	TCPFlags        = !ack
	Start_Command   = /usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	Cmd_Timeout     = 15
	Stop_Command    = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	Start_Command_6 = /usr/sbin/ip6tables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	Stop_Command_6  = /usr/sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT

[nas]
	Sequence         = 4,2012,3
	Open             = tcp/22, udp/53
	Forward          = tcp/8080->192.168.1.5:80 masquerade
	Forward          = udp/51820->[fd00::7]:51820
	Open_Duration    = 3600
	Wake             = 00:81:52:6b:3d:ae
	Wake_Interface   = br-lan
	Wake_Password    = 192.168.1.2
	Notify           = me@example.com, you@example.com
	Cooldown         = 30
	Duplicate_Knocks = strict
	Target           = 192.0.2.1

[spa]
	SPA_Port            = 62202
	SPA_Key_Base64      = c2VjcmV0
	SPA_HMAC_Key        = hmac-key
	SPA_HMAC_Digest     = sha512
	SPA_Max_Age         = 60
	SPA_Allow_NAT       = yes
	SPA_Allow_Commands  = no
	SPA_Max_Timeout     = 900
	Open                = tcp/443
	Forward             = tcp/3389->192.168.1.9
`

const equivUCI = `
config knockd 'options'
	option use_syslog '1'
	option interface 'pppoe-wan'
	option logfile '/var/log/knockd.log'
	option pidfile '/var/run/knockd-go.pid'
	option firewall 'fw4'
	option sendmail '/usr/bin/msmtp'
	option mail_from 'knockd@router.lan'
	option max_attempts '1000'
	option max_children '8'

config door 'openSSH'
	option sequence '7000,8000:udp,9000'
	option seq_timeout '5'
	list tcpflags 'syn'
	list tcpflags '!ack'
	option start_command '/usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT'
	option cmd_timeout '15'
	option stop_command '/usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT'
	option start_command_6 '/usr/sbin/ip6tables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT'
	option stop_command_6 '/usr/sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT'

config door 'nas'
	option sequence '4,2012,3'
	list open 'tcp/22'
	list open 'udp/53'
	list forward 'tcp/8080->192.168.1.5:80 masquerade'
	list forward 'udp/51820->[fd00::7]:51820'
	option open_duration '3600'
	list wake '00:81:52:6b:3d:ae'
	option wake_interface 'br-lan'
	option wake_password '192.168.1.2'
	list notify 'me@example.com'
	list notify 'you@example.com'
	option cooldown '30'
	option duplicate_knocks 'strict'
	option target '192.0.2.1'

config door 'disabled'
	option enabled '0'
	option sequence '1,2,3'

config door 'spa'
	option enabled '1'
	option spa_port '62202'
	option spa_key_base64 'c2VjcmV0'
	option spa_hmac_key 'hmac-key'
	option spa_hmac_digest 'sha512'
	option spa_max_age '60'
	option spa_allow_nat 'yes'
	option spa_allow_commands 'no'
	option spa_max_timeout '900'
	list open 'tcp/443'
	list forward 'tcp/3389->192.168.1.9'
`

func TestUCIEquivalentToKnockdConf(t *testing.T) {
	a, err := parse(equivConf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseUCI(equivUCI)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Doors) != 3 || a.Doors[2].SPA == nil || len(a.Doors[1].Forward) != 2 {
		t.Fatalf("knockd.conf side incomplete: %d doors", len(a.Doors))
	}
	sameModel(t, a, b)
	// The comparison must be able to fail.
	b.Doors[1].Open[1].Num = 54
	if reflect.DeepEqual(a.Doors[1].Open, b.Doors[1].Open) {
		t.Fatal("sameModel would not see a changed port")
	}
	if b.Doors[0].File != "knockd" || b.Doors[0].Line != 13 {
		t.Errorf("UCI door position %s:%d, want knockd:13", b.Doors[0].File, b.Doors[0].Line)
	}
}

func TestParseUCITable(t *testing.T) {
	for _, c := range []struct {
		name  string
		conf  string
		ok    bool
		check func(t *testing.T, c *Config)
		err   string
	}{
		{name: "minimal", conf: "config door 'ssh'\n\toption sequence '7000,8000,9000'\n", ok: true, check: func(t *testing.T, c *Config) {
			expect(t, "seq", seqString(one(t, c).Sequence), "7000:tcp,8000:tcp,9000:tcp")
			expect(t, "name", one(t, c).Name, "ssh")
		}},
		{name: "anonymous door", conf: "config knockd\n\toption interface 'wan'\nconfig door\n\toption sequence '1'\nconfig door\n\toption sequence '2'\n", ok: true,
			check: func(t *testing.T, c *Config) {
				expect(t, "names", c.Doors[0].Name+" "+c.Doors[1].Name, "@door[0] @door[1]")
				expect(t, "iface", strings.Join(c.Options.Interfaces, " "), "wan")
			}},
		{name: "options section type", conf: "config options\n\toption use_syslog '1'\nconfig door d\n\toption sequence 1\n", ok: true,
			check: func(t *testing.T, c *Config) { expect(t, "syslog", c.Options.UseSyslog, true) }},
		{name: "usesyslog spelling", conf: "config knockd\n\toption usesyslog 'yes'\nconfig door d\n\toption sequence 1\n", ok: true,
			check: func(t *testing.T, c *Config) { expect(t, "syslog", c.Options.UseSyslog, true) }},
		{name: "aliases", conf: "config door d\n\toption sequence 1\n\toption timeout 9\n\toption command 'x'\n\toption command_6 'y'\n\toption duration 60\n", ok: true,
			check: func(t *testing.T, c *Config) {
				d := one(t, c)
				expect(t, "aliases", fmt.Sprintf("%v %s %s %v", d.SeqTimeout, d.StartCommand, d.StartCommand6, d.OpenDuration), "9s x y 1m0s")
			}},
		{name: "option open with two ports", conf: "config door d\n\toption sequence 1\n\toption open 'tcp/22 udp/53'\n", ok: true,
			check: func(t *testing.T, c *Config) { expect(t, "open", one(t, c).Open, "[tcp/22 udp/53]") }},
		{name: "disabled door skipped", conf: "config door a\n\toption enabled 0\n\toption sequence 1\nconfig door b\n\toption sequence 2\n", ok: true,
			check: func(t *testing.T, c *Config) { expect(t, "door", one(t, c).Name, "b") }},
		{name: "disabled door may be incomplete", conf: "config door a\n\toption enabled 'no'\nconfig door b\n\toption sequence 2\n", ok: true},
		{name: "daemon disabled, no doors", conf: "config knockd\n\toption enabled '0'\n", ok: true,
			check: func(t *testing.T, c *Config) { expect(t, "enabled", c.Options.Enabled, false) }},
		{name: "no doors", conf: "config knockd\n\toption interface wan\n", err: "no doors defined"},
		{name: "all doors disabled", conf: "config door a\n\toption enabled 0\n\toption sequence 1\n", err: "no doors defined"},
		{name: "bad enabled", conf: "config door a\n\toption enabled 'perhaps'\n\toption sequence 1\n", err: `knockd:2: door "a": enabled: "perhaps" is not a boolean`},
		{name: "list of a scalar option", conf: "config door a\n\tlist sequence '1'\n", err: `knockd:2: door "a": sequence: is not a list option`},
		{name: "unknown door option", conf: "config door a\n\toption sequence 1\n\toption colour red\n", err: `knockd:3: door "a": colour: unknown option in door section`},
		{name: "unknown global option", conf: "config knockd\n\toption colour red\n", err: `knockd:2: colour: unknown option in global section`},
		{name: "unknown section type", conf: "config rule r\n\toption sequence 1\n", err: `knockd:1: unknown section type "rule"`},
		{name: "bad value", conf: "config door a\n\toption sequence '1,,2'\n", err: `knockd:2: door "a": sequence: item 2 is empty`},
		{name: "door incomplete", conf: "config door a\n\toption seq_timeout 5\n", err: `knockd:1: door "a": empty knock sequence`},
		{name: "uci syntax error", conf: "config door a\n\toption sequence '1\n", err: "knockd:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseUCI(c.conf)
			if (err == nil) != (c.ok || c.err == "") {
				t.Fatalf("err = %v, want ok = %v", err, c.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %q does not contain %q", err, c.err)
				}
				var e *Error
				var ue *uci.Error
				if !errors.As(err, &e) && !errors.As(err, &ue) {
					t.Fatalf("error %T is neither *config.Error nor *uci.Error", err)
				}
				return
			}
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}
}
