package main

import (
	"bytes"
	"net"
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
