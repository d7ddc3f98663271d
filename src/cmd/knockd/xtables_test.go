//go:build linux

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestXtablesLockReadable: iptables' lock is made readable by all (the
// daemon's user runs iptables, which opens it read-only), created when
// missing; a missing directory is no error.
func TestXtablesLockReadable(t *testing.T) {
	if !haveIptables() {
		t.Skip("SKIP: no iptables program installed: nothing is done")
	}
	dir := t.TempDir()
	lock := filepath.Join(dir, "xtables.lock")
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := xtablesLockReadable(lock); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(lock); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("existing lock: %v %v, want 0644", fi.Mode(), err)
	}
	created := filepath.Join(dir, "new.lock")
	old := mask(0o077)
	err := xtablesLockReadable(created)
	mask(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(created); err != nil || fi.Mode().Perm()&0o004 == 0 {
		t.Fatalf("created lock: %v %v, want readable by all", fi.Mode(), err)
	}
	if err := xtablesLockReadable(filepath.Join(dir, "none", "xtables.lock")); err != nil {
		t.Fatalf("no directory: %v", err)
	}
}

func mask(m int) int { return syscall.Umask(m) }
