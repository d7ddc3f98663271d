package door

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

func compile(t *testing.T, conf string, env Env) (*Set, error) {
	t.Helper()
	c, err := config.Parse("test.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	return Compile(c, env)
}

func mustCompile(t *testing.T, conf string, env Env) *Set {
	t.Helper()
	s, err := compile(t, conf, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileActions(t *testing.T) {
	s := mustCompile(t, `[vpn]
  sequence = 1,2:udp
  tcpflags = syn
  open = tcp/22
  forward = tcp/1723->192.168.1.51:1723
  duration = 20
  wake = 00:11:22:33:44:55, 00:11:22:33:44:66
  wake_interface = lan1
  wake_password = 1.2.3.4
  notify = admin@example.com
  start_command = up %IP%
  stop_command = down %IP%
  start_command_6 = up6 %IP%
  cooldown = 5
`, Env{})
	d := s.Doors[0]
	if d.Kind != Knock || d.Kind.String() != "knock" || len(d.Knock.Steps) != 2 || d.Knock.Flags.Set != l4.SYN || d.Knock.Cooldown != 5*time.Second {
		t.Fatalf("knock: %+v", d.Knock)
	}
	a := d.Actions
	if a.Grant.String() != "tcp/22, forward tcp/1723->192.168.1.51:1723" || a.Duration != 20*time.Second || !a.Any() {
		t.Fatalf("grant %q %v", a.Grant, a.Duration)
	}
	if len(a.Wake) != 2 || a.Wake[1].Device != "lan1" || a.Wake[1].MAC.String() != "00:11:22:33:44:66" || len(a.Wake[0].Password) != 4 {
		t.Fatalf("wake %+v", a.Wake)
	}
	if len(a.Notify) != 1 || a.Notify[0].Addr != "admin@example.com" {
		t.Fatalf("notify %+v", a.Notify)
	}
	if st, sp := a.Commands(false); st != "up %IP%" || sp != "down %IP%" {
		t.Fatalf("commands %q %q", st, sp)
	}
	if st, sp := a.Commands(true); st != "up6 %IP%" || sp != "down %IP%" { // knockd's fallback
		t.Fatalf("commands6 %q %q", st, sp)
	}
	if d.Where() != "test.conf:1" || s.Devices[0] != config.DefaultInterface {
		t.Fatalf("where %q devices %v", d.Where(), s.Devices)
	}
}

func TestDevices(t *testing.T) {
	conf := "[options]\n  interface = eth0\n[a]\n  sequence = 1\n  interface = wan6\n[b]\n  sequence = 2\n"
	s := mustCompile(t, conf, Env{Interfaces: []string{"wan=pppoe-wan", "wan6=6in4-wan6", "wg0", "lan=pppoe-wan"}})
	if strings.Join(s.Devices, " ") != "pppoe-wan 6in4-wan6 wg0" {
		t.Fatalf("devices %v", s.Devices)
	}
	if s.Doors[0].Knock.Devices != 1<<1 || s.Doors[1].Knock.Devices != 0 || s.Doors[0].Devices[0] != "wan6" {
		t.Fatalf("door devices %b %b", s.Doors[0].Knock.Devices, s.Doors[1].Knock.Devices)
	}
	// From the configuration when -i is not given.
	if _, err := compile(t, conf, Env{}); err == nil || !strings.Contains(err.Error(), `test.conf:5: door "a": interface: wan6 is not a device the daemon listens on (eth0)`) {
		t.Fatalf("unknown device: %v", err)
	}
	for _, bad := range []string{"a/b", "=eth0", "x=", "toolongdevicename0"} {
		if _, err := compile(t, "[b]\n  sequence = 2\n", Env{Interfaces: []string{bad}}); err == nil {
			t.Errorf("-i %q accepted", bad)
		}
	}
	var many []string
	for i := 0; i <= MaxDevices; i++ {
		many = append(many, "eth"+strings.Repeat("x", i%10)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if _, err := compile(t, "[b]\n  sequence = 2\n", Env{Interfaces: many}); err == nil || !strings.Contains(err.Error(), "more than 63 devices") {
		t.Fatalf("64 devices: %v", err)
	}
}

// TestDevicesDown: the init script leaves out of -i the configured
// networks that are not up; a door naming one waits for it instead of
// keeping the daemon from starting, and matches nothing there meanwhile.
func TestDevicesDown(t *testing.T) {
	conf := "[options]\n  interface = wan wan6 wg0\n" +
		"[v6]\n  sequence = 1\n  interface = wan6\n" +
		"[both]\n  sequence = 2\n  interface = wan6, wan\n" +
		"[all]\n  sequence = 3\n" +
		"[spa]\n  spa = 1\n  spa_key = secret\n  spa_hmac_key = hmacsecret\n  start_command = true\n  interface = wan6\n"
	s := mustCompile(t, conf, Env{Interfaces: []string{"wan=pppoe-wan", "wg0"}})
	if strings.Join(s.Devices, " ") != "pppoe-wan wg0" {
		t.Fatalf("devices %v", s.Devices)
	}
	v6, both, all, spaDoor := s.Doors[0], s.Doors[1], s.Doors[2], s.Doors[3]
	for _, d := range []*Door{v6, spaDoor} {
		if d.Knock.Devices == 0 || d.Knock.Devices&(1<<MaxDevices-1) != 0 {
			t.Errorf("%s: device mask %b, want none of the %d devices", d.Name, d.Knock.Devices, MaxDevices)
		}
		if strings.Join(d.Down, " ") != "wan6" || strings.Join(d.Devices, " ") != "wan6" {
			t.Errorf("%s: down %v devices %v", d.Name, d.Down, d.Devices)
		}
	}
	if both.Knock.Devices != 1<<0 || strings.Join(both.Down, " ") != "wan6" || strings.Join(both.Devices, " ") != "wan6 wan" {
		t.Errorf("both: mask %b down %v devices %v", both.Knock.Devices, both.Down, both.Devices)
	}
	if all.Knock.Devices != 0 || all.Down != nil {
		t.Errorf("all: mask %b down %v", all.Knock.Devices, all.Down)
	}
	// A name that is neither a device nor a configured network is still a
	// mistake, and so is a down network without -i (nothing resolved it).
	if _, err := compile(t, conf+"[typo]\n  sequence = 4\n  interface = wna\n", Env{Interfaces: []string{"wan=pppoe-wan"}}); err == nil ||
		!strings.Contains(err.Error(), "wna is not a device the daemon listens on") {
		t.Errorf("typo: %v", err)
	}
	if s := mustCompile(t, conf, Env{}); s.Doors[0].Knock.Devices != 1<<1 || s.Doors[0].Down != nil {
		t.Errorf("without -i: mask %b down %v", s.Doors[0].Knock.Devices, s.Doors[0].Down)
	}
}

func TestOneTime(t *testing.T) {
	dir := t.TempDir()
	otp := filepath.Join(dir, "otp")
	os.WriteFile(otp, []byte("# used below\n 5000:udp,6000\n 7000\n"), 0o600)
	s := mustCompile(t, "[d]\n  sequence = 1,2\n  One_Time_Sequences = "+otp+"\n", Env{})
	d := s.Doors[0]
	if got := d.Knock.Steps; len(got) != 2 || got[0] != (l4.Port{Proto: l4.UDP, Num: 5000}) || d.OneTime.Seq.Line != 2 {
		t.Fatalf("first sequence %v", got)
	}
	n, err := d.NextOneTime()
	if err != nil || len(n.Knock.Steps) != 1 || n.Knock.Steps[0].Num != 7000 || d.Knock.Steps[0].Num != 5000 {
		t.Fatalf("next: %v %v (old door %v)", n.Knock.Steps, err, d.Knock.Steps)
	}
	last, err := n.NextOneTime()
	if err == nil || !strings.Contains(err.Error(), "no more sequences left") || len(last.Knock.Steps) != 0 {
		t.Fatalf("exhausted: %v %v", last.Knock.Steps, err)
	}
	b, _ := os.ReadFile(otp)
	if string(b) != "# used below\n#5000:udp,6000\n#7000\n" {
		t.Fatalf("file %q", b)
	}
	if _, err := compile(t, "[d]\n  sequence = 1\n  one_time_sequences = "+otp+"\n", Env{}); err == nil ||
		!strings.Contains(err.Error(), `test.conf:3: door "d": one_time_sequences: no more sequences left in `+otp) {
		t.Fatalf("exhausted file: %v", err)
	}
	missing := filepath.Join(dir, "nope")
	if _, err := compile(t, "[d]\n  one_time_sequences = "+missing+"\n", Env{}); err == nil ||
		!strings.Contains(err.Error(), `test.conf:2: door "d": one_time_sequences: one-time sequences: open `+missing) {
		t.Fatalf("missing file: %v", err)
	}
	// The door's file lost its line (edited meanwhile): closed, not reopened.
	os.WriteFile(otp, []byte("8000\n"), 0o600)
	s = mustCompile(t, "[d]\n  one_time_sequences = "+otp+"\n", Env{})
	os.WriteFile(otp, []byte("9000\n"), 0o600)
	n, err = s.Doors[0].NextOneTime()
	if err != nil || n.Knock.Steps[0].Num != 9000 {
		t.Fatalf("edited file: %v %v", n.Knock.Steps, err)
	}
	if _, err := (&Door{Name: "x"}).NextOneTime(); err == nil {
		t.Fatal("NextOneTime of a door without one-time sequences")
	}
}

const (
	key  = "wo9bKGW3PtdizvMVQw9xe4Zz5Oh8c2hyUbbvO3U1h4o="
	hmac = "BIq5YrYa1kQmGqYiuD2rJSdXRDpGeyoRBwbODowKKf6mJ0VUK1UY8G1gIlEn84V7f8uQLhVE7uEZQ9GfxxyHtw=="
)

func seal(t *testing.T, m *spa.Message) []byte {
	t.Helper()
	k, _ := spa.DecodeKey(key)
	h, _ := spa.DecodeKey(hmac)
	b, err := spa.Encode(m, spa.Keys{Rijndael: k, HMAC: h}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSPA(t *testing.T) {
	now := time.Unix(1800000000, 0)
	conf := "[s]\n  spa = yes\n  spa_key_base64 = " + key + "\n  spa_hmac_key_base64 = " + hmac +
		"\n  open = tcp/22, udp/1194\n  forward = tcp/3389->192.168.1.10:3389\n  spa_allow_nat = yes\n  duration = 30\n  spa_allow_commands = yes\n"
	s := mustCompile(t, conf, Env{Now: func() time.Time { return now }})
	d := s.Doors[0]
	if d.Kind != SPA || d.SPA.Port != 62201 || len(d.Knock.Steps) != 0 {
		t.Fatalf("door %+v", d)
	}
	src := netip.MustParseAddr("198.51.100.7")
	tcp22 := l4.Port{Proto: l4.TCP, Num: 22}
	tests := []struct {
		name string
		m    spa.Message
		want string // grant, or the error
		dur  time.Duration
	}{
		{"access", spa.Message{Ports: []l4.Port{tcp22}}, "tcp/22", 0},
		{"client timeout capped at the door's duration", spa.Message{Ports: []l4.Port{tcp22}, ClientTimeout: 65535}, "tcp/22", 30 * time.Second},
		{"nat", spa.Message{Type: spa.TypeNATAccess, Ports: []l4.Port{{Proto: l4.TCP, Num: 3389}}, NATTo: netip.MustParseAddrPort("192.168.1.10:3389")},
			"forward tcp/3389->192.168.1.10:3389", 0},
		{"port not allowed", spa.Message{Ports: []l4.Port{{Proto: l4.TCP, Num: 23}}}, "port tcp/23 not allowed", 0},
		{"command", spa.Message{Command: "echo hi"}, "command echo hi", 0},
		{"command with a newline", spa.Message{Command: "echo hi\n1.2.3.4: x: OPEN SESAME"}, "command message with control character 0x0a refused", 0},
		{"command with escape", spa.Message{Command: "echo \x1b[2J"}, "command message with control character 0x1b refused", 0},
	}
	for i, tt := range tests {
		m := tt.m
		m.User, m.Timestamp, m.Addr = "u", now, src
		m.Random = strings.Repeat(string(rune('1'+i)), 16)
		r, err := d.SPA.Check(seal(t, &m), src)
		got := r.Grant.String()
		if r.Command != "" {
			got = "command " + r.Command
		}
		if err != nil {
			got = err.Error()
		}
		if got != tt.want || r.Duration != tt.dur {
			t.Errorf("%s: %q %v, want %q %v", tt.name, got, r.Duration, tt.want, tt.dur)
		}
	}
}

func TestSPAKeyErrorsNameTheirDirective(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{"spa_key = same\n  spa_hmac_key = same\n", `test.conf:4: door "s": spa_hmac_key: Rijndael and HMAC keys must differ`},
		{"spa_key = " + strings.Repeat("k", 40) + "\n  spa_hmac_key = h\n", `test.conf:3: door "s": spa_key: Rijndael key must be 1 to 32 bytes, got 40`},
		{"spa_key = k\n  spa_hmac_key_base64 = " + strings.Repeat("QUFB", 50) + "\n", `test.conf:4: door "s": spa_hmac_key_base64: HMAC key must be 1 to 136 bytes, got 150`},
	} {
		_, err := compile(t, "[s]\n  spa = yes\n  "+tt.conf+"  open = tcp/22\n", Env{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("got %v\nwant %s", err, tt.want)
		}
	}
}

func TestNoIPv6(t *testing.T) {
	for _, conf := range []string{"[d]\n  sequence = 1\n  target = 2001:db8::1\n", "[d]\n  sequence = 1\n  forward = tcp/80->[fd00::5]:80\n"} {
		if _, err := compile(t, conf, Env{NoIPv6: true}); err == nil || !strings.Contains(err.Error(), "-4") {
			t.Errorf("%q with -4: %v", conf, err)
		}
		if _, err := compile(t, conf, Env{}); err != nil {
			t.Errorf("%q: %v", conf, err)
		}
	}
}

// dd wraps door directives into a door with a sequence.
func dd(lines ...string) string {
	return "[d]\nsequence = 7000,8000\n" + strings.Join(lines, "\n") + "\n"
}

func TestCommandsFallback(t *testing.T) {
	for _, c := range []struct {
		conf                  string
		start4, stop4         string
		start6, stop6         string
		hasStart6, hasStopped bool
	}{
		{dd("start_command = a", "stop_command = b"), "a", "b", "a", "b", false, false},
		{dd("start_command = a", "stop_command = b", "start_command_6 = c", "stop_command_6 = e"), "a", "b", "c", "e", true, true},
		{dd("start_command = a", "stop_command = b", "start_command_6 ="), "a", "b", "", "b", true, false},
		{dd("start_command = a", "stop_command = b", "stop_command_6 ="), "a", "b", "a", "", false, true},
		{dd("command_6 = c"), "", "", "c", "", true, false},
	} {
		dr := mustCompile(t, c.conf, Env{}).Doors[0]
		s4, p4 := dr.Actions.Commands(false)
		s6, p6 := dr.Actions.Commands(true)
		got := fmt.Sprintf("%q %q %q %q", s4, p4, s6, p6)
		want := fmt.Sprintf("%q %q %q %q", c.start4, c.stop4, c.start6, c.stop6)
		if got != want {
			t.Errorf("%q: Commands = %s, want %s", c.conf, got, want)
		}
	}
}
