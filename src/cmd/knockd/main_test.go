//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagsAndConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte("[ssh]\n  sequence = 7000,8000\n  command = true\n"), 0o644)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("[ssh]\n  sequence = 7000,0\n"), 0o644)
	uci := filepath.Join(dir, "knockd")
	os.WriteFile(uci, []byte("config knockd 'global'\n\toption enabled '1'\n\nconfig door 'vpn'\n\toption sequence '2,1,2010'\n\tlist forward 'tcp/1723->192.168.1.51:1723'\n"), 0o644)
	rot := filepath.Join(dir, "rot.conf")
	os.WriteFile(rot, []byte("[rot]\n  sequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"), 0o644)
	off := filepath.Join(dir, "off")
	os.WriteFile(off, []byte("config knockd 'global'\n\toption enabled '0'\n"), 0o644)
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-V"}, 0, "knockd "},
		{[]string{"--version"}, 0, "knockd "},
		{[]string{"-h"}, 0, "usage: knockd"},
		{[]string{"-x"}, 1, "unknown option -x"},
		{[]string{"--interface"}, 1, "needs an argument"},
		{[]string{"-c", good, "extra"}, 1, "unexpected argument"},
		{[]string{"-c", good, "-k"}, 0, "1 door(s), configuration OK"},
		{[]string{"-kc", good}, 0, "configuration OK"},
		{[]string{"-c", bad, "-k"}, 1, bad + ":2: door \"ssh\": sequence: item 2 (\"0\"): port 0 out of range 1-65535"},
		{[]string{"-c", filepath.Join(dir, "missing"), "-k"}, 1, "no such file"},
		{[]string{"-u", uci, "-k"}, 0, "1 door(s), configuration OK"},
		{[]string{"-u", off}, 0, "disabled"},
		{[]string{"-c", rot, "--show-secret-uri", "rot", "router.example.net"}, 0,
			"otpauth://knock/knockd-go:rot?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA256&digits=4&period=30&ports=10000-60000&protocol=tcp&host=router.example.net&issuer=knockd-go"},
		{[]string{"-c", rot, "--show-secret-uri", "nope"}, 1, `no door "nope"`},
		{[]string{"-c", good, "--show-secret-uri", "ssh"}, 1, `door "ssh" is not a rotating knock`},
		{[]string{"-c", good, "a", "b"}, 1, "unexpected argument"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb, nil)
		all := out.String() + errb.String()
		if code != tt.code || !strings.Contains(all, tt.out) {
			t.Errorf("knockd %v: exit %d, output %q; want exit %d and %q", tt.args, code, all, tt.code, tt.out)
		}
	}
}
