package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
	"github.com/knockd-go/knockd-go/src/rotate"
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
