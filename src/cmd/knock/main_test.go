package main

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseHit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		udp   bool
		port  string
		proto string
		ok    bool
	}{
		{"7000", false, "7000", "tcp", true},
		{"7000", true, "7000", "udp", true},
		{"7000:udp", false, "7000", "udp", true},
		{"7000:UDP", false, "7000", "udp", true}, // knock 0.8 sent TCP here
		{"7000:Tcp", true, "7000", "tcp", true},
		{"ssh", false, "ssh", "tcp", true},
		{"7000:icmp", false, "", "", false},
		{"0", false, "", "", false},
		{"65536", false, "", "", false},
		{":udp", false, "", "", false},
	}
	for _, tt := range tests {
		h, err := parseHit(tt.in, tt.udp)
		if (err == nil) != tt.ok {
			t.Errorf("parseHit(%q): err %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			t.Logf("parseHit(%q): %v", tt.in, err)
			continue
		}
		if h.port != tt.port || h.proto != tt.proto {
			t.Errorf("parseHit(%q) = %+v, want %s/%s", tt.in, h, tt.port, tt.proto)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"-V"}, 0, "knock "},
		{[]string{"-h"}, 1, "usage: knock"},
		{[]string{}, 1, "usage: knock"},
		{[]string{"host"}, 1, "usage: knock"},
		{[]string{"-d", "-5", "host", "1"}, 1, "error: delay cannot be negative"},
		{[]string{"-d", "x", "host", "1"}, 1, "not a number"},
		{[]string{"-x", "host", "1"}, 1, "unknown option -x"},
		{[]string{"-4", "-6", "host", "1"}, 1, "exclude each other"},
		{[]string{"host", "1:icmp"}, 1, "unknown protocol"},
		{[]string{"-A", "tcp/22", "host"}, 1, "SPA option"},
		{[]string{"-S", "host"}, 1, "needs --key"},
		{[]string{"-S", "--key", "k", "--hmac-key", "h", "host"}, 1, "needs -A"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		all := out.String() + errb.String()
		if code != tt.code || !strings.Contains(all, tt.out) {
			t.Errorf("knock %v: exit %d, output %q; want exit %d and %q", tt.args, code, all, tt.code, tt.out)
		}
	}
}

// TestKnockSendsHits checks, without privileges, that each hit reaches
// the host: UDP datagrams of one NUL byte and TCP connection attempts.
func TestKnockSendsHits(t *testing.T) {
	t.Parallel()
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := tl.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	up := uc.LocalAddr().(*net.UDPAddr).Port
	tp := tl.Addr().(*net.TCPAddr).Port
	var out, errb bytes.Buffer
	if code := run([]string{"-v", "127.0.0.1", itoa(up) + ":udp", itoa(tp)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "hitting udp 127.0.0.1:"+itoa(up)) {
		t.Errorf("verbose output: %q", out.String())
	}
	_ = uc.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 16)
	n, _, err := uc.ReadFrom(b)
	if err != nil || n != 1 || b[0] != 0 {
		t.Fatalf("UDP hit: %d bytes %x, %v; want one NUL byte", n, b[:n], err)
	}
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("TCP hit never reached the listener")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestKnockTCPSendsLateHit: the SYN goes out even when the client is
// scheduled so late that the hit's wait is already over before the
// connection attempt (a loaded machine): that wait only bounds how long
// the attempt is kept after the SYN.
func TestKnockTCPSendsLateHit(t *testing.T) {
	t.Parallel()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := tl.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	knockTCP(tl.Addr().String(), time.Nanosecond)
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("TCP hit with an expired wait never reached the listener")
	}
}

// TestKnockChecksWholeSequenceFirst: a sequence with a bad item sends
// nothing, and the error names the item, not the host.
func TestKnockChecksWholeSequenceFirst(t *testing.T) {
	t.Parallel()
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	up := itoa(uc.LocalAddr().(*net.UDPAddr).Port)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"127.0.0.1", up + ":udp", "abc"}, `item 2 of the sequence ("abc"): not a port number or a known tcp service name (nothing sent)`},
		{[]string{"-u", "127.0.0.1", up, up, "no-such-service-x"}, `item 3 of the sequence ("no-such-service-x"): not a port number or a known udp service name`},
		{[]string{"127.0.0.1", up + ":udp", "7002:xyz"}, `item 2 of the sequence: "7002:xyz": unknown protocol`},
		{[]string{"127.0.0.1", up + ":udp", "70000"}, `item 2 of the sequence: "70000": port 70000 out of range`},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), tt.want) || strings.Contains(errb.String(), "hostname") {
			t.Errorf("knock %v: exit %d, %q; want exit 1 and %q", tt.args, code, errb.String(), tt.want)
		}
	}
	_ = uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b := make([]byte, 16)
	if n, _, err := uc.ReadFrom(b); err == nil {
		t.Fatalf("a hit of %d bytes was sent before the bad item was found", n)
	}
	// A service name of /etc/services is a port, as in knock 0.8.
	if _, err := os.Stat("/etc/services"); err == nil {
		if n, err := lookupPort(hit{port: "ssh", proto: "tcp"}); err != nil || n != 22 {
			t.Errorf("lookupPort(ssh) = %d, %v", n, err)
		}
	}
}

// TestHelp: --help prints the usage on standard output and exits 0; -h
// keeps knock 0.8's standard error and exit 1.
func TestHelp(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "usage: knock") || errb.Len() != 0 {
		t.Errorf("knock --help: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"-h"}, &out, &errb); code != 1 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "usage: knock") {
		t.Errorf("knock -h: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
