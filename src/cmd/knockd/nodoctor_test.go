//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoDoctorBuild builds knockd with the tag knockd_nodoctor (the
// smallest builds, docs/size.md): `knockd doctor` and rpcd's `call doctor`
// say that this build has none; the daemon's other commands are there.
func TestNoDoctorBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds knockd; not in -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "knockd")
	out, err := exec.Command("go", "build", "-tags", "knockd_nodoctor", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags knockd_nodoctor: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte("[options]\n  firewall = none\n[ssh]\n  sequence = 7000,8000\n  command = true\n"), 0o600)
	const want = "doctor: not in this build (built with the tag knockd_nodoctor)"
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"-c", conf, "doctor"}, 2},
		{[]string{"-c", conf, "call", "doctor"}, 0},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.args...)
		cmd.Stdin = strings.NewReader("{}")
		out, err := cmd.CombinedOutput()
		code := 0
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(string(out), want) {
			t.Errorf("knockd %s: exit %d, output %q; want exit %d and %q", strings.Join(tt.args, " "), code, out, tt.code, want)
		}
	}
	out, err = exec.Command(bin, "-c", conf, "-k").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("knockd -k: %v, %q; want configuration OK", err, out)
	}
}
