package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

func sample() Status {
	t0 := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("198.51.100.7")
	return Status{
		Running: true, Version: "0.2.0", Started: t0, Now: t0.Add(90 * time.Second),
		Devices: []Device{{Name: "pppoe-wan", Present: true, Addresses: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}, {Name: "wg0"}},
		Doors: []Door{{Name: "ssh", Kind: "knock", Actions: []string{"open tcp/22", "command"}, Attempts: 2},
			{Name: "vpn \"x\"\n", Kind: "spa", Devices: []string{"wg0"}}},
		Grants:   []Grant{{Door: "ssh", Source: src, What: "tcp/22", Until: t0.Add(2 * time.Minute)}},
		Counters: []Counter{{Name: "packets", Value: 12}, {Name: "kernel_drops"}},
		Opened:   []Event{{Time: t0.Add(time.Minute), Door: "ssh", Source: src, What: "started: true"}},
	}
}

// TestStatusJSON: the status is valid JSON with the documented shape.
func TestStatusJSON(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal(sample().JSON(), &v); err != nil {
		t.Fatalf("%v: %s", err, sample().JSON())
	}
	g := v["grants"].([]any)[0].(map[string]any)
	if g["source"] != "198.51.100.7" || g["expires_in"].(float64) != 30 || g["until"].(float64) != float64(sample().Grants[0].Until.Unix()) {
		t.Fatalf("grant %v", g)
	}
	d := v["doors"].([]any)[1].(map[string]any)
	if d["name"] != "vpn \"x\"\n" || d["kind"] != "spa" || d["devices"].([]any)[0] != "wg0" {
		t.Fatalf("door %v", d)
	}
	if v["counters"].(map[string]any)["packets"].(float64) != 12 || v["running"] != true {
		t.Fatalf("status %v", v)
	}
	if r := v["recent"].(map[string]any); len(r["opened"].([]any)) != 1 || len(r["rejected"].([]any)) != 0 {
		t.Fatalf("recent %v", r)
	}
	var ds map[string]any
	if err := json.Unmarshal(sample().DoorsJSON(), &ds); err != nil || len(ds["doors"].([]any)) != 2 {
		t.Fatalf("doors %v %v", ds, err)
	}
	if txt := sample().Text(); !strings.Contains(txt, "ssh              198.51.100.7") || !strings.Contains(txt, "tcp/22, until 22:02:00 (30s)") {
		t.Fatalf("text:\n%s", txt)
	}
	if (Status{}).Text() != "knockd is not running\n" {
		t.Fatal("not running text")
	}
}

// TestWriterQuotes: strings of any bytes come out as JSON that decodes
// to the same text (invalid UTF-8 as U+FFFD).
func TestWriterQuotes(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x1f\x7f", "é 門", "bad\xff\xfe", "\u2028"} {
		var w jsonWriter
		w.Str(s)
		var got string
		if err := json.Unmarshal(w.Bytes(), &got); err != nil {
			t.Fatalf("%q: %v (%s)", s, err, w.Bytes())
		}
		if want := string([]rune(s)); got != want { // each invalid byte a U+FFFD
			t.Fatalf("%q came back as %q", s, got)
		}
	}
}

func TestParseObject(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]string
	}{
		{`{}`, map[string]string{}},
		{` {"door":"ssh", "source" : "198.51.100.7"} `, map[string]string{"door": "ssh", "source": "198.51.100.7"}},
		{`{"n":-1.5e3,"t":true,"f":false,"z":null,"o":{"a":[1,{"b":2}]},"s":"\u00e9\ud83d\ude00\n"}`,
			map[string]string{"n": "-1.5e3", "t": "true", "f": "false", "s": "é😀\n"}},
	} {
		got, err := parseObject([]byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}",
		`{"a":1} x`, `{"a":tru}`, `{"a":[1,]}`, strings.Repeat("[", 40), `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
		`{"a":"` + strings.Repeat("x", maxRequest) + `"}`} {
		if _, err := parseObject([]byte(bad)); err == nil {
			t.Errorf("%.40q accepted", bad)
		}
	}
}

// FuzzParseObject: the reader agrees with encoding/json on what is an
// object and on its scalar members.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"b"}`, `{"n":1.5,"o":{"x":[true,null]}}`, `{"s":"\ud83d\ude00"}`, `{"a":1}{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseObject(b)
		var ref map[string]any
		refErr := json.Unmarshal(b, &ref)
		if refErr == nil && ref == nil {
			refErr = errors.New("null")
		}
		if !json.Valid(b) || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) || len(b) > maxRequest {
			refErr = errors.New("invalid")
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("%q: ours %v, encoding/json %v", b, err, refErr)
		}
		if err != nil {
			return
		}
		for k, v := range ref {
			switch v := v.(type) {
			case string:
				if got[k] != v && !strings.ContainsRune(v, '\ufffd') {
					t.Fatalf("%q: %q = %q, want %q", b, k, got[k], v)
				}
			case bool:
				if _, ok := got[k]; !ok {
					t.Fatalf("%q: %q missing", b, k)
				}
			}
		}
	})
}

type fakeHandler struct {
	mu      sync.Mutex
	revoked []string
}

func (f *fakeHandler) Status() Status { return sample() }
func (f *fakeHandler) Revoke(door string, src netip.Addr) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if door == "nope" {
		return 0, nil
	}
	f.revoked = append(f.revoked, door+" "+src.String())
	return 1, nil
}

// TestServer: requests over the socket, the socket's mode and its
// removal.
func TestServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the server answers root only")
	}
	path := filepath.Join(t.TempDir(), "knockd.sock")
	h := &fakeHandler{}
	s, err := Listen(path, h, logx.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	call := func(req []byte) []byte {
		t.Helper()
		b, err := Call(path, req)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var st map[string]any
	if err := json.Unmarshal(call(Request("status")), &st); err != nil || st["version"] != "0.2.0" {
		t.Fatalf("status: %v %v", st, err)
	}
	if txt, ok := Field(call(Request("status", "format", "text")), "text"); !ok || !strings.HasPrefix(txt, "knockd 0.2.0, running since") {
		t.Fatalf("text: %q", txt)
	}
	if n, _ := Field(call(Request("revoke", "door", "ssh", "source", "::ffff:198.51.100.7")), "revoked"); n != "1" || h.revoked[0] != "ssh 198.51.100.7" {
		t.Fatalf("revoke: %q %v", n, h.revoked)
	}
	for _, req := range [][]byte{Request("revoke", "door", "ssh", "source", "bogus"), Request("frobnicate"), []byte("not json")} {
		if e, ok := Field(call(req), "error"); !ok || e == "" {
			t.Fatalf("%s: no error", req)
		}
	}
	if n, _ := Field(call(Request("revoke", "door", "nope", "source", "1.2.3.4")), "revoked"); n != "0" {
		t.Fatalf("revoke of nothing: %q", n)
	}
	cancel()
	<-done
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
	if _, err := Call(path, Request("status")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no daemon: %v", err)
	}
	// A file that is not a socket is not replaced.
	os.WriteFile(path, nil, 0o600)
	if _, err := Listen(path, h, logx.Discard()); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
}

func TestRPCD(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	files := HostFiles{Leases: filepath.Join(dir, "leases"), ARP: filepath.Join(dir, "arp")}
	os.WriteFile(files.Leases, []byte("1764626000 aa:bb:cc:dd:ee:01 192.168.1.10 nas 01:aa:bb:cc:dd:ee:01\n1764626000 aa:bb:cc:dd:ee:02 192.168.1.11 * *\n"), 0o644)
	os.WriteFile(files.ARP, []byte("IP address       HW type     Flags       HW address            Mask     Device\n192.168.1.10     0x1         0x2         aa:bb:cc:dd:ee:01     *        br-lan\n192.168.1.12     0x1         0x2         AA:BB:CC:DD:EE:03     *        br-lan\n192.168.1.13     0x1         0x0         00:00:00:00:00:00     *        br-lan\n"), 0o644)
	run := func(args []string, in string) map[string]any {
		t.Helper()
		var out bytes.Buffer
		if code := RPCD(args, strings.NewReader(in), &out, sock, files); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		var v map[string]any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out.Bytes())
		}
		return v
	}
	if l := run([]string{"list"}, ""); l["revoke"].(map[string]any)["door"] != "str" || l["features"] == nil || len(l) != 7 {
		t.Fatalf("list %v", l)
	}
	// What LuCI shows depends on it: this build (the tests') has every
	// feature (the feature tags' builds: TestFeatureTags).
	if f := run([]string{"call", "features"}, ""); f["spa"] != true || f["rotating"] != true || f["mail"] != true ||
		f["control"] != true || f["doctor"] != true || f["full_package"] != "" {
		t.Fatalf("features %v", f)
	}
	if st := run([]string{"call", "status"}, ""); st["running"] != false || len(st["grants"].([]any)) != 0 {
		t.Fatalf("status without a daemon: %v", st)
	}
	if r := run([]string{"call", "revoke"}, `{"door":"ssh","source":"1.2.3.4"}`); !strings.Contains(r["error"].(string), "not running") {
		t.Fatalf("revoke without a daemon: %v", r)
	}
	k := run([]string{"call", "keygen"}, `{"kind":"spa"}`)
	key, err1 := base64.StdEncoding.DecodeString(k["key_base64"].(string))
	hmac, err2 := base64.StdEncoding.DecodeString(k["hmac_key_base64"].(string))
	if err1 != nil || err2 != nil || len(key) != 32 || len(hmac) != 64 {
		t.Fatalf("spa keys %v", k)
	}
	r := run([]string{"call", "keygen"}, `{"kind":"rotating"}`)
	if s, err := rotate.ParseSecret(r["secret"].(string)); err != nil || len(s) != rotate.NewSecretLen {
		t.Fatalf("rotating secret %v: %v", r, err)
	}
	if e := run([]string{"call", "keygen"}, `{"kind":"x"}`); e["error"] == nil {
		t.Fatal("unknown kind")
	}
	h := run([]string{"call", "hosts"}, "")["hosts"].([]any)
	if len(h) != 3 || h[0].(map[string]any)["name"] != "nas" || h[1].(map[string]any)["name"] != "" || h[2].(map[string]any)["mac"] != "aa:bb:cc:dd:ee:03" {
		t.Fatalf("hosts %v", h)
	}
	if e := run([]string{"call", "status"}, "{bad"); e["error"] == nil {
		t.Fatal("bad arguments")
	}
	if code := RPCD([]string{"frob"}, strings.NewReader(""), &bytes.Buffer{}, sock, files); code != 2 {
		t.Fatal("usage")
	}
}

// TestRPCDBoundedInput: `call` finishes within a few seconds with standard
// input left open, and hosts skips a FIFO in the leases' place (anyone
// may create /tmp/dhcp.leases before dnsmasq does) instead of blocking.
func TestRPCDBoundedInput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "dhcp.leases")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe() // never written, never closed: a terminal left open
	defer pw.Close()
	done := make(chan string, 1)
	start := time.Now()
	go func() {
		var out bytes.Buffer
		RPCD([]string{"call", "hosts"}, pr, &out, filepath.Join(dir, "sock"), HostFiles{Leases: fifo, ARP: "/dev/zero"})
		done <- out.String()
	}()
	select {
	case out := <-done:
		if out != `{"hosts":[]}`+"\n" {
			t.Errorf("hosts: %q", out)
		}
		if d := time.Since(start); d > argsTimeout+time.Second {
			t.Errorf("took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call hosts blocks on a FIFO or on standard input")
	}
}
