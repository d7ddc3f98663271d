//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoIptablesBuild builds knockd as the OpenWrt feed does (tag
// knockd_noiptables) and asks it for the iptables backend: -k and start-up
// refuse, naming the package that has it; fw4 and none are accepted.
func TestNoIptablesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds knockd; not in -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "knockd")
	out, err := exec.Command("go", "build", "-tags", "knockd_noiptables", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags knockd_noiptables: %v\n%s", err, out)
	}
	// auto looks for fw4, nft and iptables in PATH: only an iptables here.
	path := filepath.Join(dir, "path")
	os.Mkdir(path, 0o755)
	os.WriteFile(filepath.Join(path, "iptables"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	const door = "[ssh]\n  sequence = 7000,8000\n  open = tcp/22\n"
	const want = "install Entware's knockd-go package"
	tests := []struct {
		name, conf string
		args       []string
		refused    bool
	}{
		{"check iptables", "[options]\n  firewall = iptables\n" + door, []string{"-k"}, true},
		{"check iptables-nft", "[options]\n  firewall = iptables-nft\n" + door, []string{"-k"}, true},
		{"check auto finding iptables", door, []string{"-k"}, true},
		{"start iptables", "[options]\n  firewall = iptables\n" + door, nil, true},
		{"start auto finding iptables", door, []string{"-D"}, true},
		{"check fw4", "[options]\n  firewall = fw4\n" + door, []string{"-k"}, false},
		{"check none", "[options]\n  firewall = none\n" + door, []string{"-k"}, false},
		{"check auto without doors to open", "[ssh]\n  sequence = 7000,8000\n  command = true\n", []string{"-k"}, false},
	}
	for i, tt := range tests {
		conf := filepath.Join(dir, "k"+string(rune('a'+i))+".conf")
		os.WriteFile(conf, []byte(tt.conf), 0o600)
		cmd := exec.Command(bin, append([]string{"-c", conf}, tt.args...)...)
		cmd.Env = []string{"PATH=" + path}
		out, err := cmd.CombinedOutput()
		got := string(out)
		if tt.refused {
			if err == nil || !strings.Contains(got, conf+": firewall iptables") && !strings.Contains(got, conf+": firewall iptables-nft") || !strings.Contains(got, want) {
				t.Errorf("%s: err %v, output %q; want exit 1 naming %s, the firewall and %q", tt.name, err, got, conf, want)
			}
			continue
		}
		if err != nil || !strings.Contains(got, "configuration OK") {
			t.Errorf("%s: err %v, output %q; want configuration OK", tt.name, err, got)
		}
	}
}
