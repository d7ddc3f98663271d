// Package testenv holds helpers for the privileged test tier: network
// namespaces, veth pairs and checks for the real tools a test drives.
//
// Privileged tests run when the test binary is root. Outside CI they skip
// with a reason when something is missing; with KNOCKD_GO_STRICT=1 (set by
// `make test`) a missing privilege or tool fails the test instead, so a CI
// run cannot go green by skipping.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Strict reports whether missing privileges or tools fail tests instead of
// skipping them.
func Strict() bool { return os.Getenv("KNOCKD_GO_STRICT") == "1" }

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("required for this test (KNOCKD_GO_STRICT=1): "+format, args...)
	}
	t.Skipf(format, args...)
}

// NeedRoot skips (or fails in strict mode) unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		missing(t, "needs root (network namespaces, AF_PACKET)")
	}
}

// NeedBin returns the path of a program, skipping (or failing in strict
// mode) when it is not installed.
func NeedBin(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "needs %s installed: %v", name, err)
	}
	return p
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Output(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Output runs a command with a 30 s limit and returns its combined output.
func Output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return b.String(), fmt.Errorf("%s timed out after 30s", name)
	}
}

var seq atomic.Int64

// Unique returns a short name unique to this process, for namespaces and
// devices (at most 15 bytes for interface names when prefix is ≤ 6 bytes).
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%10000, seq.Add(1))
}

// NetNS creates a network namespace that is deleted when the test ends,
// with its loopback up, and returns its name.
func NetNS(t testing.TB, prefix string) string {
	t.Helper()
	NeedRoot(t)
	NeedBin(t, "ip")
	name := Unique(prefix)
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		// Kill what still runs inside, then delete.
		if out, err := Output("ip", "netns", "pids", name); err == nil {
			for _, pid := range strings.Fields(out) {
				_, _ = Output("kill", "-9", pid)
			}
		}
		_, _ = Output("ip", "netns", "del", name)
	})
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// In runs a command inside namespace ns and fails the test on error.
func In(t testing.TB, ns string, name string, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// InOutput runs a command inside namespace ns and returns output and error.
func InOutput(ns string, name string, args ...string) (string, error) {
	return Output("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Veth creates a veth pair with one end in each namespace, addresses them
// (CIDR strings, either may be empty) and brings them up. It returns the
// two device names. IPv6 addresses are added with nodad so they are usable
// at once.
func Veth(t testing.TB, nsA, addrA, nsB, addrB string) (string, string) {
	t.Helper()
	a, b := Unique("va"), Unique("vb")
	Run(t, "ip", "link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB)
	for _, x := range []struct{ ns, dev, addr string }{{nsA, a, addrA}, {nsB, b, addrB}} {
		for _, ad := range strings.Fields(x.addr) {
			args := []string{"-n", x.ns, "addr", "add", ad, "dev", x.dev}
			if strings.Contains(ad, ":") {
				args = append(args, "nodad")
			}
			Run(t, "ip", args...)
		}
		Run(t, "ip", "-n", x.ns, "link", "set", x.dev, "up")
	}
	return a, b
}

// Eventually polls cond every 20 ms until it returns true or limit passes.
func Eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SharedDir returns a new directory that every user may enter and write
// (for programs the daemon runs as nobody), removed when the test ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "knockd-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
