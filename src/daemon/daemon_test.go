package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
)

type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) Printf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}
func (l *memLog) Debugf(string, ...any) {}
func (l *memLog) Debugging() bool       { return false }
func (l *memLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
func (l *memLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			n++
		}
	}
	return n
}

type recActions struct{ n atomic.Int64 }

func (r *recActions) Do(context.Context, *config.Door, netip.Addr, time.Time, *Grant) { r.n.Add(1) }

func eventually(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPlainCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd   string
		plain bool
	}{
		{"touch /tmp/x-1.2.3.4", true},
		{"/usr/sbin/iptables -I INPUT -s 1.2.3.4 -p tcp --dport 22 -j ACCEPT", true},
		{"echo a > /tmp/x", false},
		{"echo $HOME", false},
		{"a; b", false},
		{"FOO=1 cmd", false},
		{"echo 'quoted'", false},
		{"echo a # comment", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := plain(tt.cmd); got != tt.plain {
			t.Errorf("plain(%q) = %v, want %v", tt.cmd, got, tt.plain)
		}
	}
}

func TestRunnerStartStopAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := &memLog{}
	r := NewRunner(4, log.Printf, log.Debugf)
	if !r.Start("d", "1.2.3.4", "touch "+dir+"/start-%IP%", "touch "+dir+"/stop-%IP%", 50*time.Millisecond, nil) {
		t.Fatal("Start refused")
	}
	eventually(t, 5*time.Second, func() bool { _, err := os.Stat(dir + "/stop-1.2.3.4"); return err == nil })
	if !log.has("1.2.3.4: d: command timeout") || !log.has("d: running command: touch "+dir+"/start-1.2.3.4") {
		t.Fatalf("log lines missing: %q", log.lines)
	}
	// A long cmd_timeout: Shutdown runs the stop at once.
	r.Start("d", "5.6.7.8", "true", "touch "+dir+"/stop-%IP%", time.Hour, nil)
	eventually(t, 5*time.Second, func() bool { return r.Pending() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Shutdown(ctx)
	if _, err := os.Stat(dir + "/stop-5.6.7.8"); err != nil {
		t.Fatalf("pending stop did not run on shutdown: %v", err)
	}
	if r.Start("d", "9.9.9.9", "true", "", 0, nil) {
		t.Fatal("Start accepted after Shutdown")
	}
}

func TestRunnerCapsChildren(t *testing.T) {
	t.Parallel()
	log := &memLog{}
	r := NewRunner(4, log.Printf, log.Debugf)
	ok := map[string]int{}
	for i := 0; i < 50; i++ {
		for _, door := range []string{"a", "b", "c"} {
			if r.Start(door, "1.2.3.4", "sleep 1", "", 0, nil) {
				ok[door]++
			}
		}
	}
	// One door holds at most half the slots; all doors the cap.
	if ok["a"]+ok["b"]+ok["c"] != 4 || ok["a"] > 2 || ok["b"] > 2 || ok["c"] > 2 {
		t.Fatalf("started %v, want 4 in all and at most 2 per door", ok)
	}
	if !log.has("too many running commands") {
		t.Fatal("refusal not logged")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Shutdown(ctx)
}

func TestNonZeroExitLogged(t *testing.T) {
	t.Parallel()
	log := &memLog{}
	r := NewRunner(2, log.Printf, log.Debugf)
	r.Start("d", "1.2.3.4", "exit 3", "", 0, nil)
	eventually(t, 5*time.Second, func() bool { return log.has("d: command returned non-zero status code (3)") })
}

func newTestDaemon(t *testing.T, conf string, acts Actions) (*Daemon, *memLog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "knockd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := &memLog{}
	d, err := New(cfg, Options{ConfigPath: path, Load: func() (*config.Config, error) { return config.Load(path) },
		Interface: "lo", Log: log, Actions: acts})
	if err != nil {
		t.Fatal(err)
	}
	return d, log, path
}

// TestConcurrentKnockLoad drives the packet handler from several
// goroutines (as captures before and after a re-open can), with reloads,
// stats and the expiry loop running at the same time: run under -race.
func TestConcurrentKnockLoad(t *testing.T) {
	acts := &recActions{}
	conf := "[d]\n  sequence = 7000,8000:udp,9000\n  seq_timeout = 1\n  open = tcp/22\n"
	d, log, path := newTestDaemon(t, conf, acts)
	// The device address check needs the capture's address set: knock to
	// a Target instead.
	dst := netip.MustParseAddr("192.0.2.1")
	os.WriteFile(path, []byte(conf+"  target = 192.0.2.1\n"), 0o644)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.ctx = ctx
	go d.expiryLoop(ctx)
	const workers, per = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				src := netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)})
				d.handle(pktbuild.TCP4(src, dst, 40000, 7000, 0x02))
				d.handle(pktbuild.UDP4(src, dst, 40000, 8000, []byte{0}))
				d.handle(pktbuild.TCP4(src, dst, 40000, 9000, 0x02))
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			_ = d.Reload()
			_ = d.Stats()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	d.Shutdown(sctx)
	// Reloads reset attempts in flight, so not every sequence completes;
	// most must, and each OPEN SESAME produced exactly one action.
	opens := log.count("OPEN SESAME")
	if opens < workers*per/2 {
		t.Fatalf("only %d of %d sequences opened", opens, workers*per)
	}
	if int(acts.n.Load()) != opens {
		t.Fatalf("%d actions for %d successes", acts.n.Load(), opens)
	}
}

// TestFloodLogBounded: spoofed first knocks and their timeouts reach the
// log at most logPerSecond times a second each; the rest are counted and
// reported in one line once the flood subsides.
func TestFloodLogBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "knockd.conf")
	conf := "[d]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n  target = 192.0.2.1\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	log := &memLog{}
	d, err := New(cfg, Options{ConfigPath: path, Interface: "lo", Log: log, Actions: &recActions{}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("192.0.2.1")
	const flood = 1000
	for i := 0; i < flood; i++ {
		d.handle(pktbuild.TCP4(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), dst, 40000, 7000, 0x02))
	}
	if n := log.count(": d: Stage 1"); n != logPerSecond {
		t.Fatalf("%d first-knock lines for %d spoofed knocks, want %d", n, flood, logPerSecond)
	}
	advance(6 * time.Second)
	d.mu.Lock()
	d.m.Expire()
	d.mu.Unlock()
	if n := log.count("sequence timeout (stage 1)"); n != logPerSecond {
		t.Fatalf("%d timeout lines for %d spoofed knocks, want %d", n, flood, logPerSecond)
	}
	// The flood is over: the next first knock and timeout, a second later,
	// report what was left out.
	advance(time.Second)
	d.handle(pktbuild.TCP4(netip.MustParseAddr("10.1.0.1"), dst, 40000, 7000, 0x02))
	advance(6 * time.Second)
	d.mu.Lock()
	d.m.Expire()
	d.mu.Unlock()
	want1 := fmt.Sprintf("%d first knocks not logged", flood-logPerSecond)
	want2 := fmt.Sprintf("%d first-knock timeouts not logged", flood-logPerSecond)
	if !log.has(want1) || !log.has(want2) {
		t.Fatalf("summary lines %q and %q missing: %q", want1, want2, log.lines[len(log.lines)-4:])
	}
	if !log.has("10.1.0.1: d: sequence timeout (stage 1)") {
		t.Fatal("the first timeout after the flood was not logged")
	}
}
