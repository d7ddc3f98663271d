package control

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"golang.org/x/sys/unix"
)

// rpcdCall runs `knockd call method` with in on standard input and
// returns the reply.
func rpcdCall(t *testing.T, files HostFiles, method, in string) map[string]any {
	t.Helper()
	var out bytes.Buffer
	sock := filepath.Join(t.TempDir(), "none.sock")
	if code := RPCD([]string{"call", method}, strings.NewReader(in), &out, sock, files); code != 0 {
		t.Fatalf("%s: exit %d", method, code)
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%s: %v: %s", method, err, out.Bytes())
	}
	return v
}

// TestRPCDRefusesWrongTypes: an argument that is not a string (rpcd's
// "str") is refused with an error naming it, not read as "" (which made
// keygen {"kind":["spa"]} make SPA keys).
func TestRPCDRefusesWrongTypes(t *testing.T) {
	for _, c := range []struct{ method, in, name string }{
		{"keygen", `{"kind":["spa"]}`, "kind"},
		{"keygen", `{"kind":{"a":"spa"}}`, "kind"},
		{"keygen", `{"kind":null}`, "kind"},
		{"keygen", `{"kind":1}`, "kind"},
		{"revoke", `{"door":"ssh","source":["1.2.3.4"]}`, "source"},
		{"revoke", `{"door":true,"source":"1.2.3.4"}`, "door"},
	} {
		r := rpcdCall(t, HostFiles{}, c.method, c.in)
		e, _ := r["error"].(string)
		if !strings.Contains(e, `"`+c.name+`"`) || !strings.Contains(e, "string") || r["key_base64"] != nil {
			t.Errorf("%s %s: %v", c.method, c.in, r)
		}
	}
	if r := rpcdCall(t, HostFiles{}, "keygen", `{"kind":"spa","ubus_rpc_session":"x"}`); r["key_base64"] == nil {
		t.Errorf("a string kind: %v", r)
	}
}

// TestRPCDRefusesLongInput: arguments over 4 KiB are refused, even when
// they are all white space (they counted as no arguments).
func TestRPCDRefusesLongInput(t *testing.T) {
	for _, in := range []string{strings.Repeat(" ", maxRequest+1), strings.Repeat("\n", 1<<20), `{"kind":"spa"}` + strings.Repeat(" ", maxRequest)} {
		r := rpcdCall(t, HostFiles{}, "keygen", in)
		if e, _ := r["error"].(string); !strings.Contains(e, "too long") || r["key_base64"] != nil {
			t.Errorf("%d bytes of input: %v", len(in), r)
		}
	}
	if r := rpcdCall(t, HostFiles{}, "keygen", strings.Repeat(" ", maxRequest)); r["key_base64"] == nil {
		t.Errorf("4 KiB of white space: %v", r)
	}
}

// TestHostsValidatesLeases: the LuCI page shows the hosts' fields as
// HTML, and any local user can write the lease file before dnsmasq does:
// a host whose MAC is not a MAC is left out, an address that is not an
// address or a name that is not a host name is left empty.
func TestHostsValidatesLeases(t *testing.T) {
	dir := t.TempDir()
	files := HostFiles{Leases: filepath.Join(dir, "leases"), ARP: filepath.Join(dir, "arp")}
	leases := "1764626000 aa:bb:cc:dd:ee:01 192.168.1.10 <img/src=x/onerror=alert(1)> *\n" +
		"1764626000 aa:bb:cc:dd:ee:02 <b>x</b> nas *\n" +
		"1764626000 <script>alert(1)</script> 192.168.1.12 evil *\n" +
		"1764626000 aa:bb:cc:dd:ee:g4 192.168.1.13 evil2 *\n" +
		"1764626000 aa:bb:cc:dd:ee:05 192.168.1.14 good-host.lan *\n"
	if err := os.WriteFile(files.Leases, []byte(leases), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.ARP, []byte("IP address HW type Flags HW address Mask Device\n<i>1</i> 0x1 0x2 aa:bb:cc:dd:ee:06 * br-lan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := rpcdCall(t, files, "hosts", "")["hosts"].([]any)
	var got []string
	for _, x := range h {
		m := x.(map[string]any)
		got = append(got, m["mac"].(string)+"|"+m["ip"].(string)+"|"+m["name"].(string))
	}
	want := []string{"aa:bb:cc:dd:ee:01|192.168.1.10|", "aa:bb:cc:dd:ee:02||nas", "aa:bb:cc:dd:ee:05|192.168.1.14|good-host.lan", "aa:bb:cc:dd:ee:06||"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hosts\n%v\nwant\n%v", got, want)
	}
}

// TestServerIdleConnections: 70 root connections that send nothing do
// not shut `knockd status` out: the server keeps accepting, closes the
// oldest idle ones beyond maxOpen, and every idle one after idleTimeout.
func TestServerIdleConnections(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the server answers root only")
	}
	path := filepath.Join(t.TempDir(), "knockd.sock")
	s, err := Listen(path, &fakeHandler{}, logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var idle []int
	defer func() {
		for _, fd := range idle {
			unix.Close(fd)
		}
	}()
	for i := 0; i < 70; i++ {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, fd)
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
	}
	start := time.Now()
	b, err := Call(path, Request("status"))
	if err != nil || !bytes.Contains(b, []byte(`"version":"0.2.0"`)) {
		t.Fatalf("status with 70 idle connections: %v %s", err, b)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("status took %v behind idle connections", d)
	}
	// Every idle connection is closed by the server within idleTimeout.
	deadline := time.Now().Add(idleTimeout + 2*time.Second)
	for _, fd := range idle {
		for {
			n, err := unix.Read(fd, make([]byte, 64))
			if n == 0 && err == nil {
				break // closed by the server
			}
			if err != unix.EAGAIN {
				break // reset (closed with unread data) counts too
			}
			if time.Now().After(deadline) {
				t.Fatalf("an idle connection is still open after %v", idleTimeout+2*time.Second)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
