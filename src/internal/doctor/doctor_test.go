package doctor

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/mail/mailtest"
)

// fakeSys is a System from tables.
type fakeSys struct {
	links  map[string]Link
	files  map[string]string
	stats  map[string]File
	progs  map[string]string // "prog args" -> output; missing: not found / fails
	clock  Clock
	status map[string]string // nil: not running
}

func (s *fakeSys) Link(name string) (Link, bool) { l, ok := s.links[name]; return l, ok }
func (s *fakeSys) ReadFile(p string) ([]byte, error) {
	if v, ok := s.files[p]; ok {
		return []byte(v), nil
	}
	return nil, fs.ErrNotExist
}
func (s *fakeSys) Run(name string, args ...string) (string, error) {
	k := strings.TrimSpace(name + " " + strings.Join(args, " "))
	if v, ok := s.progs[k]; ok {
		return v, nil
	}
	return "", errors.New("exit status 1")
}
func (s *fakeSys) LookPath(name string) (string, error) {
	for k := range s.progs {
		if k == name || strings.HasPrefix(k, name+" ") {
			return name, nil
		}
	}
	return "", errors.New("not found")
}
func (s *fakeSys) Stat(p string) (File, error) {
	if f, ok := s.stats[p]; ok {
		if f.Path == "" {
			f.Path = p
		}
		return f, nil
	}
	return File{}, fs.ErrNotExist
}
func (s *fakeSys) Clock() Clock { return s.clock }
func (s *fakeSys) Daemon(string) (map[string]string, error) {
	if s.status == nil {
		return nil, errors.New("knockd is not running (no control socket at /var/run/knockd.sock)")
	}
	return s.status, nil
}

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// healthyIptables is a router's filter table: knockd's jump first, the
// WAN dropped.
const healthyIptables = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KNOCKD_INPUT - [0:0]
:KNOCKD_FORWARD - [0:0]
-A INPUT -j KNOCKD_INPUT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -i eth1 -p tcp -m tcp --dport 80 -j ACCEPT
-A FORWARD -j KNOCKD_FORWARD
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:KNOCKD_PREROUTING - [0:0]
-A PREROUTING -j KNOCKD_PREROUTING
COMMIT
`

// healthyFW4 is the part of fw4's ruleset the checks read, with the wan
// zone's input set to DROP and knockd-go's includes in place.
const healthyFW4 = `table inet fw4 {
	set knockd_open4 {
		type ipv4_addr . inet_proto . inet_service
		flags timeout
	}
	set knockd_open6 {
		type ipv6_addr . inet_proto . inet_service
		flags timeout
	}
	map knockd_dnat4 {
		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
		flags timeout
	}
	set knockd_fwd4 {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service
		flags timeout
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept comment "!fw4: Accept traffic from loopback"
		ip saddr . meta l4proto . th dport @knockd_open4 accept comment "knockd-go: open4"
		ip6 saddr . meta l4proto . th dport @knockd_open6 accept comment "knockd-go: open6"
		ct state vmap { established : accept, related : accept } comment "!fw4: Handle inbound flows"
		tcp flags syn / fin,syn,rst,ack jump syn_flood comment "!fw4: Rate limit TCP syn packets"
		iifname "br-lan" jump input_lan comment "!fw4: Handle lan IPv4/IPv6 input traffic"
		iifname "eth1" jump input_wan comment "!fw4: Handle wan IPv4/IPv6 input traffic"
		jump handle_reject
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ip saddr . ip daddr . meta l4proto . th dport @knockd_fwd4 accept comment "knockd-go: forward4"
		ct state vmap { established : accept, related : accept } comment "!fw4: Handle forwarded flows"
		iifname "eth1" jump forward_wan comment "!fw4: Handle wan IPv4/IPv6 forward traffic"
		jump handle_reject
	}
	chain handle_reject {
		meta l4proto tcp reject with tcp reset comment "!fw4: Reject TCP traffic"
		reject comment "!fw4: Reject any other traffic"
	}
	chain syn_flood {
		limit rate 25/second burst 50 packets return comment "!fw4: Accept SYN packets below rate-limit"
		drop comment "!fw4: Drop excess packets"
	}
	chain input_lan {
		jump accept_from_lan
	}
	chain input_wan {
		meta nfproto ipv4 udp dport 68 counter packets 0 bytes 0 accept comment "!fw4: Allow-DHCP-Renew"
		icmp type echo-request counter packets 0 bytes 0 accept comment "!fw4: Allow-Ping"
		jump drop_from_wan
	}
	chain forward_wan {
		jump drop_to_wan
	}
	chain accept_from_lan {
		iifname "br-lan" counter packets 0 bytes 0 accept comment "!fw4: accept lan IPv4/IPv6 traffic"
	}
	chain drop_from_wan {
		iifname "eth1" counter packets 0 bytes 0 drop comment "!fw4: drop wan IPv4/IPv6 traffic"
	}
	chain drop_to_wan {
		oifname "eth1" counter packets 0 bytes 0 drop comment "!fw4: drop wan IPv4/IPv6 traffic"
	}
	chain dstnat {
		type nat hook prerouting priority dstnat; policy accept;
		dnat ip addr . port to ip saddr . meta l4proto . th dport map @knockd_dnat4 comment "knockd-go: dnat4"
	}
}
`

const conf = `[options]
  interface = eth1
  firewall = iptables
  sendmail_user = nobody
[ssh]
  sequence = 7000,8000:udp,9000
  open = tcp/22
[rdp]
  sequence = 7100,7200
  forward = tcp/3389->192.168.1.10:3389
  notify = admin@example.org
[spa]
  spa_key = secret-key-of-16
  spa_hmac_key = hmac-key-of-the-door-at-least-16
  open = tcp/22
`

func healthy() *fakeSys {
	return &fakeSys{
		links: map[string]Link{"eth1": {Up: true, Running: true, Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}}},
		files: map[string]string{"/proc/sys/net/ipv4/ip_forward": "1\n"},
		stats: map[string]File{
			"/usr/sbin/sendmail": {Path: "/usr/bin/msmtp", Mode: 0o755},
			"/etc/msmtprc":       {Mode: 0o644},
		},
		progs: map[string]string{"iptables-save": healthyIptables},
		clock: Clock{Now: now, Known: true, Synced: true},
		status: map[string]string{"running": "true", "version": "1.2.3", "started": "1780300000",
			"devices": "1", "device.0.name": "eth1",
			"doors": "3", "door.0.name": "ssh", "door.0.last_time": "1780315150", "door.0.last_source": "203.0.113.9", "door.0.last_what": "stage 2 of 3",
			"door.1.name": "rdp", "door.1.last_time": "0", "door.2.name": "spa", "door.2.last_time": "0"},
	}
}

func compile(t *testing.T, text string) *door.Set {
	t.Helper()
	p := filepath.Join(t.TempDir(), "knockd.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	set, err := door.Compile(cfg, door.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// want is an expected finding: its check, level and a part of its text.
type want struct {
	check string
	level Level
	text  string
}

func TestChecks(t *testing.T) {
	fw4conf := strings.Replace(conf, "firewall = iptables", "firewall = fw4", 1)
	rootconf := strings.Replace(conf, "  sendmail_user = nobody\n", "", 1) // the default: root, no capabilities
	tests := []struct {
		name  string
		conf  string
		edit  func(s *fakeSys)
		want  []want
		probs int
	}{
		{"healthy iptables", conf, nil, []want{
			{"daemon", OK, "knockd 1.2.3 is running"},
			{"device", OK, "eth1: up, 198.51.100.1/24"},
			{"rule order", OK, "door ssh: tcp/22 reaches knockd's rules first"},
			{"rule order", OK, "door rdp: forward tcp/3389->192.168.1.10:3389 reaches"},
			{"knock ports", OK, "door ssh: tcp/7000 udp/8000 tcp/9000 dropped silently"},
			{"knock ports", OK, "door spa: udp/62201 dropped silently"},
			{"forwarding", OK, "net.ipv4.ip_forward is 1"},
			{"clock", OK, "synchronised"},
			{"mail", OK, "/etc/msmtprc is readable by nobody"},
			{"last knock", OK, "door ssh: stage 2 of 3, from 203.0.113.9, 50s ago"},
			{"last knock", Note, "door rdp: no knock seen since knockd started"},
		}, 0},
		{"healthy fw4", fw4conf, func(s *fakeSys) {
			s.progs = map[string]string{"nft list ruleset": healthyFW4}
			s.stats["/usr/share/nftables.d/chain-pre/input/30-knockd-go.nft"] = File{Mode: 0o644}
		}, []want{
			{"firewall", OK, "table inet fw4 read"},
			{"rule order", OK, "door ssh: tcp/22 reaches"},
			{"rule order", OK, "door rdp: forward"},
			{"knock ports", OK, "door ssh: tcp/7000 udp/8000 tcp/9000 dropped silently"},
		}, 0},
		{"daemon not running", conf, func(s *fakeSys) { s.status = nil }, []want{
			{"daemon", Problem, "knockd is not running (no control socket"},
		}, 1},
		{"device missing", conf, func(s *fakeSys) { delete(s.links, "eth1") }, []want{
			{"device", Problem, "eth1: no such device"},
		}, 1},
		{"device down", conf, func(s *fakeSys) { s.links["eth1"] = Link{} }, []want{
			{"device", Problem, "eth1: down"},
		}, 1},
		{"device without address", conf, func(s *fakeSys) { s.links["eth1"] = Link{Up: true, Running: true} }, []want{
			{"device", Problem, "eth1: up but has no address"},
		}, 1},
		{"iptables missing", conf, func(s *fakeSys) { s.progs = map[string]string{} }, []want{
			{"firewall", Problem, "iptables-save is missing"},
		}, 1},
		{"jump missing", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, "-A INPUT -j KNOCKD_INPUT\n", "", 1)
		}, []want{
			{"rule order", Problem, "door ssh: tcp/22 on eth1: the jump to KNOCKD_INPUT is missing from filter INPUT"},
		}, 2}, // ssh and spa
		{"drop before our jump", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, "-A INPUT -j KNOCKD_INPUT\n",
				"-A INPUT -i eth1 -j DROP\n-A INPUT -j KNOCKD_INPUT\n", 1)
		}, []want{
			{"rule order", Problem, "tcp/22 on eth1: dropped by `-A INPUT -i eth1 -j DROP` in INPUT before the jump to KNOCKD_INPUT"},
			{"knock ports", OK, "door ssh"},
		}, 2},
		{"reject before our jump, in a user chain", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, "-A INPUT -j KNOCKD_INPUT\n",
				":wan - [0:0]\n-A INPUT -i eth1 -j wan\n-A wan -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n-A INPUT -j KNOCKD_INPUT\n", 1)
		}, []want{
			{"rule order", Problem, "rejected by `-A wan -p tcp --dport 22 -j REJECT --reject-with tcp-reset` in wan"},
		}, 2},
		{"accept before our jump", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, "-A INPUT -j KNOCKD_INPUT\n",
				"-A INPUT -p tcp -m multiport --dports 21,22 -j ACCEPT\n-A INPUT -j KNOCKD_INPUT\n", 1)
		}, []want{
			{"rule order", Problem, "accepted for everyone by `-A INPUT -p tcp -m multiport --dports 21,22 -j ACCEPT`"},
		}, 2},
		{"REJECT on a knock port", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, "-A INPUT -i lo -j ACCEPT\n",
				"-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 7000:7999 -j REJECT --reject-with icmp-port-unreachable\n", 1)
		}, []want{
			{"knock ports", Problem, "door ssh: tcp/7000 on eth1: rejected by `-A INPUT -p tcp -m tcp --dport 7000:7999 -j REJECT"},
			{"knock ports", OK, "door spa"},
		}, 2}, // ssh and rdp (7100, 7200)
		{"policy ACCEPT", conf, func(s *fakeSys) {
			s.progs["iptables-save"] = strings.Replace(healthyIptables, ":INPUT DROP", ":INPUT ACCEPT", 1)
		}, []want{
			{"knock ports", Problem, "door ssh: tcp/7000 udp/8000 tcp/9000 on eth1: accepted by the policy accept of filter INPUT"},
		}, 3},
		{"fw4 default wan zone rejects", fw4conf, func(s *fakeSys) {
			s.progs = map[string]string{"nft list ruleset": strings.Replace(healthyFW4, `jump drop_from_wan`, `jump reject_from_wan`, 1) +
				"table inet fw4 {\n\tchain reject_from_wan {\n\t\tiifname \"eth1\" counter packets 0 bytes 0 jump handle_reject comment \"!fw4: reject wan IPv4/IPv6 traffic\"\n\t}\n}\n"}
		}, []want{
			{"knock ports", Problem, "tcp/7000 tcp/9000 on eth1: rejected by `meta l4proto tcp reject with tcp reset"},
			{"knock ports", Problem, "udp/8000 on eth1: rejected by `reject comment"},
		}, 3},
		{"fw4 without our rules", fw4conf, func(s *fakeSys) {
			var keep []string
			for _, l := range strings.Split(healthyFW4, "\n") {
				if !strings.Contains(l, "knockd-go:") {
					keep = append(keep, l)
				}
			}
			s.progs = map[string]string{"nft list ruleset": strings.Join(keep, "\n")}
		}, []want{
			{"rule order", Problem, `door ssh: tcp/22 on eth1: the rule "knockd-go: open4" is missing from inet fw4 input`},
			{"firewall", Note, "include files"},
		}, 3},
		{"fw4 not running", fw4conf, func(s *fakeSys) { s.progs = map[string]string{"nft list ruleset": ""} }, []want{
			{"firewall", Problem, "there is no table inet fw4"},
		}, 1},
		{"ip_forward off", conf, func(s *fakeSys) { s.files["/proc/sys/net/ipv4/ip_forward"] = "0\n" }, []want{
			{"forwarding", Problem, "net.ipv4.ip_forward is 0"},
		}, 1},
		{"clock not set", conf, func(s *fakeSys) { s.clock = Clock{Now: time.Date(1970, 1, 1, 0, 1, 0, 0, time.UTC), Known: true} }, []want{
			{"clock", Problem, "1970-01-01 00:01:00 UTC: not set, door spa"},
		}, 1},
		{"clock not synchronised", conf, func(s *fakeSys) { s.clock.Synced = false }, []want{
			{"clock", Note, "not synchronised"},
		}, 0},
		{"mailer missing", conf, func(s *fakeSys) { delete(s.stats, "/usr/sbin/sendmail") }, []want{
			{"mail", Problem, "the mailer /usr/sbin/sendmail is missing"},
		}, 1},
		{"mailer config unreadable", conf, func(s *fakeSys) { s.stats["/etc/msmtprc"] = File{Mode: 0o600} }, []want{
			{"mail", Problem, "/etc/msmtprc (mode 600, owner 0) is not readable by nobody"},
		}, 1},
		{"mailer config 0600 root, default mail user", rootconf, func(s *fakeSys) { s.stats["/etc/msmtprc"] = File{Mode: 0o600} }, []want{
			{"mail", OK, "/etc/msmtprc is readable by root"},
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy()
			if tc.edit != nil {
				tc.edit(s)
			}
			r := Run(Input{Set: compile(t, tc.conf), Config: "knockd.conf"}, s)
			text := r.Text()
			for _, w := range tc.want {
				found := false
				for _, f := range r.Findings {
					found = found || f.Check == w.check && f.Level == w.level && strings.Contains(f.Text, w.text)
				}
				if !found {
					t.Errorf("no %s finding %q %q in:\n%s", w.level, w.check, w.text, text)
				}
			}
			if n := r.Problems(); n != tc.probs {
				t.Errorf("%d problems, want %d:\n%s", n, tc.probs, text)
			}
			for _, f := range r.Findings {
				if f.Level != OK && f.Fix == "" {
					t.Errorf("%s %s without a fix: %s", f.Level, f.Check, f.Text)
				}
			}
		})
	}
}

func TestJSON(t *testing.T) {
	r := &Report{}
	r.add("mail", Problem, "a \"quoted\"\ttab\xff", "fix\n")
	got := string(r.JSON())
	want := `{"problems":1,"findings":[{"check":"mail","level":"problem","text":"a \"quoted\"\u0009tab\ufffd","fix":"fix\n"}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSendTestMail(t *testing.T) {
	set := compile(t, conf)
	rec := &mailtest.Recorder{}
	r := &Report{}
	SendTestMail(r, set, "admin@example.org", rec)
	if r.Problems() != 0 || len(rec.Calls()) != 1 || rec.Calls()[0].To[0].Addr != "admin@example.org" {
		t.Fatalf("%s %v", r.Text(), rec.Calls())
	}
	SendTestMail(r, set, "not an address", rec)
	if r.Problems() != 1 {
		t.Fatal(r.Text())
	}
}
