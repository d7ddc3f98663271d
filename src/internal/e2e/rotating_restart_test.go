package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// TestRotatingKnockBurntAcrossRestart: the owner's rotating knock opens;
// knockd restarts; the same sequence, sniffed and sent from another
// address while it is still in the window, opens nothing (the journal in
// spa_replay_file kept it burnt).
func TestRotatingKnockBurntAcrossRestart(t *testing.T) {
	r := newRouter(t, "")
	dir := t.TempDir()
	conf := fmt.Sprintf("[options]\n  spa_replay_file = %s/journal\n[rot]\n  sequence_secret = %s\n  sequence_step = 10\n  command = touch %s/opened-%%IP%%\n", dir, rotSecret, dir)
	d := knockd(t, r.router, r.rdev, conf)
	p := rotate.Default([]byte("12345678901234567890"))
	p.Step = 10 * time.Second
	time.Sleep(time.Until(p.Start(p.Counter(time.Now()) + 1).Add(100 * time.Millisecond)))
	c := p.Counter(time.Now())
	testenv.In(t, r.host, bin.knock, "--secret", rotSecret, "--step", "10", r.raddr4)
	if !fileAppears(filepath.Join(dir, "opened-"+r.a), wait) {
		t.Fatalf("the owner's rotating knock did not open:\n%s", d.out.String())
	}
	d.stop(10 * time.Second)
	d = knockd(t, r.router, r.rdev, conf)
	if p.Counter(time.Now()) > c+1 {
		t.Fatalf("the restart took past the window of step %d", c)
	}
	r.injectSYNs(t, r.b, r.raddr4, 43000, p.Sequence(c))
	time.Sleep(500 * time.Millisecond)
	if fileAppears(filepath.Join(dir, "opened-"+r.b), 0) || d.count(r.b+": rot: OPEN SESAME") != 0 {
		t.Fatalf("the sequence used before the restart opened after it:\n%s", d.out.String())
	}
}

// TestRotatingKnockAfterLostJournal: the owner's rotating knock opens;
// knockd restarts having lost its journal (deleted, replaced by a
// symbolic link, or never written on a full file system); the same
// sequence, sniffed and sent from another address while it is still in
// the window, opens nothing: without a journal it trusts, knockd burns
// every step up to the one current at its start.
func TestRotatingKnockAfterLostJournal(t *testing.T) {
	for _, c := range []struct {
		name   string
		before func(t *testing.T, dir string) // before the first start
		lose   func(t *testing.T, dir string) // between the starts
	}{
		{"deleted", nil, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "journal")); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink", nil, func(t *testing.T, dir string) {
			j := filepath.Join(dir, "journal")
			if err := os.Rename(j, j+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(j+".moved", j); err != nil {
				t.Fatal(err)
			}
		}},
		{"unwritable", func(t *testing.T, dir string) {
			// A 16 KiB tmpfs, filled up: the journal cannot be written.
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k,mode=0700"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
			f, err := os.Create(filepath.Join(dir, "filler"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for i := 0; i < 64; i++ {
				if _, err := f.Write(make([]byte, 1024)); err != nil {
					return
				}
			}
			t.Fatal("the 16 KiB tmpfs took 64 KiB")
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRouter(t, "")
			dir, out := t.TempDir(), t.TempDir()
			if c.before != nil {
				c.before(t, dir)
			}
			conf := fmt.Sprintf("[options]\n  spa_replay_file = %s/journal\n[rot]\n  sequence_secret = %s\n  sequence_step = 10\n  command = touch %s/opened-%%IP%%\n", dir, rotSecret, out)
			d := knockd(t, r.router, r.rdev, conf)
			p := rotate.Default([]byte("12345678901234567890"))
			p.Step = 10 * time.Second
			time.Sleep(time.Until(p.Start(p.Counter(time.Now()) + 1).Add(100 * time.Millisecond)))
			step := p.Counter(time.Now())
			testenv.In(t, r.host, bin.knock, "--secret", rotSecret, "--step", "10", r.raddr4)
			if !fileAppears(filepath.Join(out, "opened-"+r.a), wait) {
				t.Fatalf("the owner's rotating knock did not open:\n%s", d.out.String())
			}
			d.stop(10 * time.Second)
			if c.lose != nil {
				c.lose(t, dir)
			}
			d = knockd(t, r.router, r.rdev, conf)
			if p.Counter(time.Now()) > step+1 {
				t.Fatalf("the restart took past the window of step %d", step)
			}
			r.injectSYNs(t, r.b, r.raddr4, 43000, p.Sequence(step))
			time.Sleep(500 * time.Millisecond)
			if fileAppears(filepath.Join(out, "opened-"+r.b), 0) || d.count(r.b+": rot: OPEN SESAME") != 0 {
				t.Fatalf("the sequence used before the restart opened after it:\n%s", d.out.String())
			}
			t.Logf("%s: the sniffed sequence of step %d opened nothing after the restart; knockd said:\n%s", c.name, step, linesWith(d.out.String(), "replay file"))
		})
	}
}

// linesWith returns the lines of s holding sub.
func linesWith(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
