package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

// The keys of the fwknop research vectors, as `fwknop --key-gen` prints them.
const (
	keyB64  = "ihYz29nkucFo4S3DlxwF5pb9PIAEGg0EpxV5ohqIBl4="
	hmacB64 = "WYukQ7wb/UPON1qEWA+63gL1cNw0RCeHR01VWn8S6H+EZ6XV6I+Ykwygi81c1CUVG0OOICdmrW4SaGFavib1vA=="
	keyGen  = "KEY_BASE64: " + keyB64 + "\nHMAC_KEY_BASE64: " + hmacB64 + "\n"
)

// testRC has a [default] stanza, the stanza "router" in fwknop's
// --save-rc-stanza shape, and stanzas with problems.
const testRC = `# ~/.fwknoprc
[default]
HMAC_DIGEST_TYPE    sha512
SPA_SERVER_PORT     62202
VERBOSE             Y

[router]
SPA_SERVER          router.example.net
ACCESS              tcp/22,udp/1194
KEY_BASE64          ` + keyB64 + `
HMAC_KEY_BASE64     ` + hmacB64 + `
ALLOW_IP            source
NAT_ACCESS          192.168.1.55,88
FW_TIMEOUT          45
SPOOF_USER          alice smith
DIGEST_TYPE         sha384
USE_HMAC            Y
RAND_PORT           N
MY_OWN_THING        1

[passphrases]
KEY                 fwknoptest
HMAC_KEY            hmactestkey
ALLOW_IP            198.51.100.7
NAT_ACCESS          [2001:db8::5]:22
SPA_SERVER          2001:db8::1

[resolve]
ALLOW_IP            resolve
[nohmac]
USE_HMAC            N

[gpg]
USE_GPG             Y
[legacy]
ENCRYPTION_MODE     legacy
[tcp]
SPA_SERVER_PROTO    tcp
[natlocal]
NAT_LOCAL           y
[badport]
SPA_SERVER_PORT     0
[badnat]
NAT_ACCESS          host.example:22
[badtimeout]
FW_TIMEOUT          70000
[baddigest]
HMAC_DIGEST_TYPE    sha999
[badaccess]
ACCESS              tcp/0
[badkey]
KEY_BASE64          !!!
[badip]
ALLOW_IP            fe80::1%eth0
`

// show prints the settings in one line for comparisons.
func (s *spaSettings) show() string {
	return fmt.Sprintf("key=%q hmac=%q hd=%s d=%s access=%v server=%s port=%d source=%v ip=%v nat=%v timeout=%d user=%s",
		trunc(s.keys.Rijndael), trunc(s.keys.HMAC), s.keys.HMACDigest, s.digest, s.access, s.server, s.port,
		s.allowSource, s.allowIP, s.nat, s.timeout, s.user)
}

func trunc(b []byte) string {
	if len(b) > 16 {
		return string(b[:3]) + "…"
	}
	return string(b)
}

// at returns "rc:N", N the line of testRC where marker first appears.
func at(rc, marker string) string {
	i := strings.Index(testRC, marker)
	if i < 0 {
		panic(marker)
	}
	return fmt.Sprintf("%s:%d", rc, strings.Count(testRC[:i], "\n")+1)
}

func TestSPASettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := writeFile(t, home, ".fwknoprc", testRC, 0o600)
	other := writeFile(t, dir, "other-rc", "[default]\nSPA_SERVER elsewhere\nKEY k\n[x]\nKEY_BASE64 "+keyB64+"\n", 0o600)
	keys := writeFile(t, dir, "keys", keyGen, 0o600)
	passKeys := writeFile(t, dir, "passkeys", "KEY: filekey\nHMAC_KEY: filehmac\nHMAC_DIGEST_TYPE: sha1\n", 0o600)
	badKeys := writeFile(t, dir, "badkeys", keyGen+"ACCESS tcp/22\n", 0o600)
	keyWords := writeFile(t, dir, "keywords", "KEY my pass\n", 0o600)
	keyBad64 := writeFile(t, dir, "keybad64", "HMAC_KEY_BASE64 %%%\n", 0o600)
	kd, _ := spa.DecodeKey(keyB64)
	hd, _ := spa.DecodeKey(hmacB64)
	kq, hq := trunc(kd), trunc(hd)
	tests := []struct {
		args []string
		want string // settings, or an error
		warn string // in stderr ("" = nothing)
	}{
		{[]string{"-n", "router"},
			fmt.Sprintf("key=%q hmac=%q hd=sha512 d=sha384 access=[tcp/22 udp/1194] server=router.example.net port=62202 source=true ip=invalid IP nat=192.168.1.55:88 timeout=45 user=alice", kq, hq), ""},
		{[]string{"-v", "-n", "ROUTER"}, "", at(rc, "VERBOSE") + ": ignoring VERBOSE Y (not used by knock)\n" +
			"knock: warning: " + at(rc, "SPOOF_USER") + ": SPOOF_USER: ignoring \"smith\" after the value, as fwknop does\n" +
			"knock: warning: " + at(rc, "RAND_PORT") + ": ignoring RAND_PORT N (not used by knock)\n" +
			"knock: warning: " + at(rc, "MY_OWN_THING") + ": ignoring MY_OWN_THING 1 (unknown variable)"},
		{[]string{"-v", "-n", "nohmac"}, "", at(rc, "USE_HMAC            N") + ": ignoring USE_HMAC N (knock always sends an HMAC)"},
		// The command line wins.
		{[]string{"-n", "router", "-A", "tcp/80", "-a", "192.0.2.7", "--user", "bob", "--key", "k2", "--hmac-digest", "sha256",
			"-p", "1000", "--nat", "10.0.0.1:2", "--timeout", "0", "otherhost"},
			fmt.Sprintf("key=\"k2\" hmac=%q hd=sha256 d=sha384 access=[tcp/80] server=otherhost port=1000 source=false ip=192.0.2.7 nat=10.0.0.1:2 timeout=0 user=bob", hq), ""},
		{[]string{"-n", "router", "-s", "-a", "192.0.2.7"}, "source=true ip=192.0.2.7", ""},
		{[]string{"-n", "passphrases"},
			`key="fwknoptest" hmac="hmactestkey" hd=sha512 d= access=[] server=2001:db8::1 port=62202 source=false ip=198.51.100.7 nat=[2001:db8::5]:22 timeout=0 user=`, ""},
		// [default] only, from another file.
		{[]string{"--fwknoprc", other}, `key="k" hmac="" hd= d= access=[] server=elsewhere port=62201`, ""},
		{[]string{"--fwknoprc", other, "-n", "x"}, fmt.Sprintf("key=%q hmac=\"\"", kq), ""},
		// Key files, over the rc file, under the command line.
		{[]string{"--key-file", keys}, fmt.Sprintf("key=%q hmac=%q hd= d= access=[] server= port=62201", kq, hq), ""},
		{[]string{"--key-file", passKeys, "-n", "router"}, `key="filekey" hmac="filehmac" hd=sha1 d=sha384 access=[tcp/22 udp/1194]`, ""},
		{[]string{"--key-file", passKeys, "--key-base64", keyB64, "--hmac-key", "flaghmac"}, fmt.Sprintf("key=%q hmac=\"flaghmac\" hd=sha1", kq), ""},
		// ALLOW_IP resolve needs the command line to say otherwise.
		{[]string{"-n", "resolve"}, "error: " + at(rc, "ALLOW_IP            resolve") + ": ALLOW_IP resolve (asking a web service", ""},
		{[]string{"-n", "resolve", "-s"}, "source=true ip=invalid IP", ""},
		{[]string{"-n", "resolve", "-a", "192.0.2.1"}, "source=false ip=192.0.2.1", ""},
		{[]string{"-n", "router", "-a", "resolve"}, "error: -a resolve (asking", ""},
		// Settings knock cannot honour.
		{[]string{"-n", "gpg"}, "error: " + at(rc, "USE_GPG") + ": USE_GPG Y: GPG encryption is not supported", ""},
		{[]string{"-n", "legacy"}, "error: " + at(rc, "ENCRYPTION_MODE") + ": ENCRYPTION_MODE legacy: only the cbc mode", ""},
		{[]string{"-n", "tcp"}, "error: " + at(rc, "SPA_SERVER_PROTO") + ": SPA_SERVER_PROTO tcp: knock sends SPA packets over UDP only", ""},
		{[]string{"-n", "natlocal"}, "error: " + at(rc, "NAT_LOCAL") + ": NAT_LOCAL y: local NAT", ""},
		// Bad values name file and line.
		{[]string{"-n", "badport"}, "error: " + at(rc, "SPA_SERVER_PORT     0") + `: SPA_SERVER_PORT: "0" is not a port`, ""},
		{[]string{"-n", "badnat"}, "error: " + at(rc, "NAT_ACCESS          host") + `: NAT_ACCESS: "host.example:22": want ip:port or ip,port`, ""},
		{[]string{"-n", "badtimeout"}, "error: " + at(rc, "FW_TIMEOUT          7") + `: FW_TIMEOUT: "70000" is not a number of seconds (0-65536)`, ""},
		{[]string{"-n", "baddigest"}, "error: " + at(rc, "HMAC_DIGEST_TYPE    sha9") + `: HMAC_DIGEST_TYPE: "sha999": want one of md5 sha1`, ""},
		{[]string{"-n", "badaccess"}, "error: " + at(rc, "ACCESS              tcp/0") + `: ACCESS: port "tcp/0": out of range`, ""},
		{[]string{"-n", "badkey"}, "error: " + at(rc, "KEY_BASE64          !") + `: KEY_BASE64: decode base64 key`, ""},
		{[]string{"-n", "badip"}, "error: " + at(rc, "ALLOW_IP            fe80") + `: ALLOW_IP: "fe80::1%eth0" is not an IP address, source or resolve`, ""},
		{[]string{"-n", "missing"}, "error: " + rc + ": no stanza [missing]", ""},
		{[]string{"--fwknoprc", filepath.Join(dir, "nope"), "-n", "x"}, "error: open " + filepath.Join(dir, "nope") + ":", ""},
		{[]string{"--key-file", badKeys}, "error: " + badKeys + `:3: "ACCESS": want one of KEY`, ""},
		{[]string{"--key-file", keyWords}, "error: " + keyWords + `:1: KEY: unexpected "pass" after the value`, ""},
		{[]string{"--key-file", keyBad64}, "error: " + keyBad64 + `:1: HMAC_KEY_BASE64: decode base64 key`, ""},
		{[]string{"--key-file", filepath.Join(dir, "nope")}, "error: open " + filepath.Join(dir, "nope"), ""},
		// Flag errors name the flag.
		{[]string{"--hmac-digest", "x"}, `error: --hmac-digest: "x": want one of`, ""},
		{[]string{"-p", "65536"}, `error: -p: "65536" is not a port`, ""},
		{[]string{"-A", "tcp/22,icmp"}, `error: -A: port "icmp": want proto/port`, ""},
		{[]string{"--nat", "10.0.0.1"}, `error: --nat: "10.0.0.1": want ip:port or ip,port`, ""},
		{[]string{"--timeout", "-1"}, `error: --timeout: "-1" is not a number of seconds`, ""},
		{[]string{"--key-base64", "%%"}, `error: --key-base64: decode base64 key`, ""},
		{[]string{"-a", "nonsense"}, `error: -a: "nonsense" is not an IP address`, ""},
		{[]string{"--user", ""}, `error: --user: empty user name`, ""},
		{[]string{"a b"}, `error: "a b" is not a host`, ""},
	}
	for _, tt := range tests {
		c, _, errb := testClient(time.Unix(1700000000, 0), home)
		r, err := getopt.Parse(allOptions(), append([]string{"-S"}, tt.args...))
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.spaSettingsOf(r)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = s.show()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("knock -S %q:\n got %s\nwant %s", tt.args, got, tt.want)
		}
		if tt.warn == "" && errb.Len() > 0 || !strings.Contains(errb.String(), tt.warn) {
			t.Errorf("knock -S %q: stderr %q, want %q", tt.args, errb.String(), tt.warn)
		}
	}
}

func TestSPARCFileChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		home string
		err  error
		args []string
		want string
	}{
		{"", fmt.Errorf("$HOME is not defined"), []string{"-S", "-n", "x"}, "no home directory for ~/.fwknoprc (use --fwknoprc): $HOME is not defined"},
		{dir, nil, []string{"-S", "-n", "x"}, "open " + filepath.Join(dir, ".fwknoprc")},
		{dir, nil, []string{"-S", "-n", "x", "a", "b"}, "knock -S [options] <host>"},
		{dir, nil, []string{"-S"}, "knock -S [options] <host>"},
	}
	if runtime.GOOS != "windows" {
		open := writeFile(t, dir, "open-rc", "[x]\nKEY k\n", 0o644)
		tests = append(tests, struct {
			home string
			err  error
			args []string
			want string
		}{dir, nil, []string{"-S", "--fwknoprc", open, "-n", "x"}, open + ": mode 0644 lets other users read or change it: chmod 600 " + open})
	}
	for _, tt := range tests {
		var c *client
		c, _, errb := testClient(time.Now(), tt.home)
		c.home = func() (string, error) { return tt.home, tt.err }
		if code := c.run(tt.args); code != 1 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("knock %q: exit %d, %q; want %q", tt.args, code, errb.String(), tt.want)
		}
	}
}

// TestSPAFromFiles: a packet built from an rc stanza and a key file, and
// the verifier the daemon uses accepts it with the stanza's values.
func TestSPAFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	rc := writeFile(t, dir, "rc", fmt.Sprintf(`[default]
SPA_SERVER_PORT %d
[door]
SPA_SERVER 127.0.0.1
ACCESS tcp/22
ALLOW_IP 198.51.100.7
FW_TIMEOUT 60
SPOOF_USER alice
HMAC_DIGEST_TYPE sha384
`, port), 0o600)
	keys := writeFile(t, dir, "keys", keyGen, 0o600)
	now := time.Unix(1795544500, 0)
	c, out, errb := testClient(now, dir)
	if code := c.run([]string{"-v", "-S", "--fwknoprc", rc, "-n", "door", "--key-file", keys}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("to udp 127.0.0.1:%d for 198.51.100.7", port)) {
		t.Errorf("output %q", out.String())
	}
	_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 2048)
	n, _, err := pc.ReadFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := spa.DecodeKey(keyB64)
	hd, _ := spa.DecodeKey(hmacB64)
	v, err := spa.NewVerifier(spa.Policy{Keys: spa.Keys{Rijndael: kd, HMAC: hd, HMACDigest: "sha384"}},
		func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Verify(b[:n], netip.MustParseAddr("198.51.100.7"))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if m.User != "alice" || m.Addr != netip.MustParseAddr("198.51.100.7") || len(m.Ports) != 1 ||
		m.Ports[0] != (l4.Port{Proto: l4.TCP, Num: 22}) || m.ClientTimeout != 60 || !m.Timestamp.Equal(now) {
		t.Errorf("message %+v", m)
	}
}
