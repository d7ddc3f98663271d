package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// testSecret is rotate's vector secret, "12345678901234567890".
const testSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// testClient is a client with a fixed clock and a home directory.
func testClient(now time.Time, home string) (*client, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &client{stdout: &out, stderr: &errb, now: func() time.Time { return now },
		home: func() (string, error) { return home, nil }}, &out, &errb
}

// writeFile writes a private file in dir.
func writeFile(t *testing.T, dir, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func TestOptionsUnique(t *testing.T) {
	t.Parallel()
	short, long := map[byte]bool{}, map[string]bool{}
	for _, o := range allOptions() {
		if short[o.Short] || long[o.Long] {
			t.Errorf("option %c/--%s defined twice", o.Short, o.Long)
		}
		short[o.Short], long[o.Long] = true, true
	}
}

func TestRotatingFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	uri := rotate.URI(rotate.Default([]byte("12345678901234567890")), "ssh", "")
	tests := []struct {
		args []string
		out  string // in stderr
	}{
		{[]string{"--secret", "bad!", "host"}, "--secret: secret is not base32: bad character '!'"},
		{[]string{"--secret", "AAAA", "host"}, "--secret: secret of 2 bytes"},
		{[]string{"--secret", testSecret, "--length", "1", "host"}, "length 1 out of range 2-16"},
		{[]string{"--secret", testSecret, "--length", "x", "host"}, `--length: "x" is not a number`},
		{[]string{"--secret", testSecret, "--step", "4", "host"}, "step 4s"},
		{[]string{"--secret", testSecret, "--step", "99999", "host"}, `--step: "99999" is not a number of seconds`},
		{[]string{"--secret", testSecret, "--ports", "1-2", "host"}, "--ports: port range 1-2 has 2 ports"},
		{[]string{"--secret", testSecret, "--protocol", "icmp", "host"}, `--protocol: unknown protocol "icmp"`},
		{[]string{"--secret", testSecret, "-u", "--protocol", "tcp", "host"}, "-u and --protocol tcp exclude each other"},
		{[]string{"--secret", testSecret}, "no host"},
		{[]string{"--uri", uri}, "no host"},
		{[]string{"--secret", testSecret, "host", "1", "2"}, `takes a host and no ports ("1 2")`},
		{[]string{"--secret", testSecret, "--uri", uri, "host"}, "use one of --secret, --secret-file and --uri"},
		{[]string{"-S", "--secret", testSecret, "host"}, "-S and a rotating knock"},
		{[]string{"--length", "4", "host", "1"}, "--length is a rotating knock option"},
		{[]string{"--protocol", "udp", "host", "1"}, "--protocol is a rotating knock option"},
		{[]string{"--uri", "otpauth://totp/x?secret=" + testSecret, "host"}, "--uri: knock URI: want otpauth://knock/"},
		{[]string{"--secret-file", filepath.Join(dir, "missing"), "host"}, "missing: "},
		{[]string{"--key", "k", "host", "1"}, "--key is an SPA option: add -S"},
		{[]string{"-n", "x", "host", "1"}, "-n is an SPA option: add -S"},
		{[]string{"--key-file", "k", "host", "1"}, "--key-file is an SPA option"},
		{[]string{"--fwknoprc", "k", "host", "1"}, "--fwknoprc is an SPA option"},
	}
	for _, tt := range tests {
		c, _, errb := testClient(time.Unix(1111111109, 0), dir)
		if code := c.run(tt.args); code != 1 || !strings.Contains(errb.String(), tt.out) {
			t.Errorf("knock %q: exit %d, stderr %q; want exit 1 and %q", tt.args, code, errb.String(), tt.out)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := []byte("12345678901234567890")
	udp := rotate.Params{Secret: secret, Length: 5, Step: time.Minute, Lo: 2000, Hi: 3000, Proto: l4.UDP}
	tests := []struct {
		data string
		want rotate.Params
		host string
		err  string // after the file name
	}{
		{testSecret + "\n", rotate.Default(secret), "", ""},
		{"# door ssh\n\n  " + strings.ToLower(testSecret) + "  \r\n", rotate.Default(secret), "", ""},
		{rotate.URI(udp, "ssh", "router.example.net") + "\n", udp, "router.example.net", ""},
		{"# only a comment\n", rotate.Params{}, "", ": no secret"},
		{"", rotate.Params{}, "", ": no secret"},
		{testSecret + "\n" + testSecret + "\n", rotate.Params{}, "", ":2: a second secret (the first is on line 1)"},
		{"\nnot-base32!\n", rotate.Params{}, "", ":2: secret is not base32"},
		{"OTPAUTH://knock/knockd-go:x?secret=AA\n", rotate.Params{}, "", ":1: knock URI: secret of 1 bytes"},
	}
	for i, tt := range tests {
		path := writeFile(t, dir, fmt.Sprintf("s%d", i), tt.data, 0o600)
		p, host, err := readSecretFile(path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), path+tt.err) {
				t.Errorf("%q: %v, want error %q", tt.data, err, path+tt.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(p.Secret, tt.want.Secret) || p.Length != tt.want.Length || p.Step != tt.want.Step ||
			p.Lo != tt.want.Lo || p.Hi != tt.want.Hi || p.Proto != tt.want.Proto || host != tt.host {
			t.Errorf("%q: %+v %q %v; want %+v %q", tt.data, p, host, err, tt.want, tt.host)
		}
	}
}

func TestPrivateFiles(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("mode bits say nothing about access on Windows")
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o700, true}, {0o640, false}, {0o604, false}, {0o620, false}, {0o666, false}} {
		path := writeFile(t, dir, fmt.Sprintf("f%o", tt.mode), testSecret+"\n", tt.mode)
		_, err := readPrivate(path)
		if (err == nil) != tt.ok {
			t.Errorf("mode %04o: %v, want ok=%v", tt.mode, err, tt.ok)
		} else if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%s: mode %04o lets other users read or change it: chmod 600 %s", path, tt.mode, path)) {
			t.Errorf("mode %04o: %v", tt.mode, err)
		}
	}
	big := writeFile(t, dir, "big", strings.Repeat("#", maxFileSize+1), 0o600)
	if _, err := readPrivate(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// listenSequence binds a UDP socket on 127.0.0.1 to every port of a
// sequence of p near now, and returns the time whose sequence it is.
func listenSequence(t *testing.T, p rotate.Params, now time.Time) (time.Time, []l4.Port, []net.PacketConn) {
	t.Helper()
	for try := 0; try < 20; try++ {
		at := now.Add(time.Duration(try) * p.Step)
		seq := p.Sequence(p.Counter(at))
		var conns []net.PacketConn
		for _, port := range seq {
			pc, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port.Num))
			if err != nil {
				break
			}
			conns = append(conns, pc)
		}
		if len(conns) == len(seq) {
			t.Cleanup(func() {
				for _, pc := range conns {
					pc.Close()
				}
			})
			return at, seq, conns
		}
		for _, pc := range conns {
			pc.Close()
		}
	}
	t.Skip("cannot bind the ports of 20 sequences on 127.0.0.1")
	return time.Time{}, nil, nil
}

// TestRotatingSends: --secret, --uri and --secret-file send exactly
// Sequence(Counter(now)), in order, one datagram a port.
func TestRotatingSends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := []byte("12345678901234567890")
	p := rotate.Params{Secret: secret, Length: 6, Step: 45 * time.Second, Lo: 20000, Hi: 29999, Proto: l4.UDP}
	at, seq, conns := listenSequence(t, p, time.Unix(1700000000, 0))
	file := writeFile(t, dir, "secret", "# the door\n"+rotate.URI(p, "door", "127.0.0.1")+"\n", 0o600)
	for _, args := range [][]string{
		{"-v", "--secret", testSecret, "--length", "6", "--step", "45", "--ports", "20000-29999", "--protocol", "udp", "127.0.0.1"},
		{"-v", "-u", "--secret", testSecret, "--length=6", "--step=45", "--ports=20000-29999", "127.0.0.1"},
		{"-v", "--uri", rotate.URI(p, "door", "127.0.0.1")},
		{"-v", "--uri", rotate.URI(p, "door", "elsewhere.invalid"), "127.0.0.1"},
		{"-v", "--secret-file", file},
		{"-v", "--uri", rotate.URI(rotate.Default(secret), "door", "127.0.0.1"),
			"--length", "6", "--step", "45", "--ports", "20000-29999", "--protocol", "UDP"},
	} {
		c, out, errb := testClient(at, dir)
		if code := c.run(args); code != 0 {
			t.Fatalf("knock %q: exit %d: %s", args, code, errb.String())
		}
		var want []string
		var knocks []string
		for _, port := range seq {
			want = append(want, fmt.Sprintf("hitting udp 127.0.0.1:%d", port.Num))
			knocks = append(knocks, port.Knock())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != len(seq)+1 || !strings.HasSuffix(lines[0], ": "+strings.Join(knocks, " ")) ||
			!strings.HasPrefix(lines[0], fmt.Sprintf("sequence %d (", p.Counter(at))) ||
			strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
			t.Errorf("knock %q: output\n%s\nwant the sequence %v in order", args, out.String(), knocks)
		}
		for i, pc := range conns {
			_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 16)
			n, _, err := pc.ReadFrom(b)
			if err != nil || n != 1 {
				t.Fatalf("knock %q: port %d (%v): %d bytes, %v", args, i, seq[i], n, err)
			}
		}
	}
	// Nothing else arrived.
	for i, pc := range conns {
		_ = pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		b := make([]byte, 16)
		if n, _, err := pc.ReadFrom(b); err == nil {
			t.Errorf("port %d: an extra datagram of %d bytes", i, n)
		}
	}
}
