package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// BenchmarkFirstKnockFlood is the packet path under a flood of first
// knocks from never-repeating sources, 1,000 and 20 a simulated second,
// each captured read of a 250 ms block's packets (50 at most) sharing a
// clock reading and the expiry loop's tick every second, logging to a file (its lines written at the
// end of each read). At 20 a second every first knock and its timeout is
// logged (the log budgets let 20 of each through a second); at 1,000 most
// are not. An op is a packet and its share of the expiries. Run it on
// the router's architecture (qemu-user) to see what a packet costs there.
func BenchmarkFirstKnockFlood(b *testing.B) {
	for _, rate := range []int{1000, 20} {
		b.Run(fmt.Sprintf("%d/s", rate), func(b *testing.B) {
			fk := newFirstKnocks(b, rate)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fk.knock()
			}
		})
	}
}

// firstKnocks sends a daemon that logs to a file first knocks from
// never-repeating sources (10.0.x.y, then 10.1.x.y …) at a simulated
// rate.
type firstKnocks struct {
	d       *Daemon
	logPath string
	clock   time.Time
	step    time.Duration
	tick    int // knocks a simulated second: the expiry loop's tick
	perRead int // knocks a captured read (a 250 ms block, 50 at most)
	frames  [][]byte
	at      time.Time // the capture time of the read under way
	n       int       // knocks sent
}

func newFirstKnocks(tb testing.TB, rate int) *firstKnocks {
	dir := tb.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n  command = /bin/true\n"), 0o600)
	fk := &firstKnocks{logPath: filepath.Join(dir, "log"), clock: time.Unix(1_000_000, 0), step: time.Second / time.Duration(rate), tick: rate,
		perRead: min(50, max(1, rate/4))}
	now := func() time.Time { return fk.clock }
	log, err := logx.New(logx.Options{LogFile: fk.logPath, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(log.Close)
	runner := command.NewRunner(command.Options{Max: 1, Log: log})
	fk.d, err = New(compile(tb, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}), Runner: runner, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	fk.frames = make([][]byte, 1<<16)
	for i := range fk.frames {
		fk.frames[i] = testsrc.Frame(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	return fk
}

// knock handles the next first knock; it ends the read every perRead knocks and
// runs the expiries once a simulated second.
func (fk *firstKnocks) knock() {
	i := fk.n
	fk.n++
	if i%fk.perRead == 0 {
		if i > 0 {
			fk.d.handle(0, nil, time.Time{}) // the end of the read
		}
		fk.at = fk.clock
	}
	f := fk.frames[i%len(fk.frames)]
	f[13] = byte(i >> 16) // a new source each time
	ihl := int(f[0]&0x0f) * 4
	f[10], f[11] = 0, 0
	c := pktbuild.Checksum(0, f[:ihl])
	f[10], f[11] = byte(c>>8), byte(c)
	fk.d.handle(0, f, fk.at)
	fk.clock = fk.clock.Add(fk.step)
	if i%fk.tick == fk.tick-1 {
		fk.d.expire()
	}
}

// TestFirstKnockLinesAllocateNothing: at 20 first knocks a second every
// one and its timeout is logged, and the packet path allocates nothing
// for them. Each line cost a formatted string, the address's text and
// boxed arguments: three allocations a packet, where on a router's CPU
// the allocator took a sixth of knockd-go's own time at that rate.
func TestFirstKnockLinesAllocateNothing(t *testing.T) {
	fk := newFirstKnocks(t, 20)
	for range 400 { // past the first timeouts
		fk.knock()
	}
	if n := testing.AllocsPerRun(1000, fk.knock); n != 0 {
		t.Errorf("%.2f allocations a first knock, want 0", n)
	}
	fk.d.handle(0, nil, time.Time{})
	b, err := os.ReadFile(fk.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Every first knock was logged, and every timeout due (the last
	// 5 s of knocks are not due yet).
	log := string(b)
	first, timeouts := strings.Count(log, ": a: Stage 1\n"), strings.Count(log, ": a: sequence timeout (stage 1)\n")
	if first != fk.n || timeouts < fk.n-6*20 || !strings.Contains(log, "] 10.0.0.0: a: sequence timeout (stage 1)\n") ||
		!strings.Contains(log, fmt.Sprintf("] 10.0.%d.%d: a: Stage 1\n", (fk.n-1)>>8, (fk.n-1)&255)) {
		t.Fatalf("%d Stage 1 and %d timeout lines for %d first knocks; the log ends:\n%s", first, timeouts, fk.n, log[max(0, len(log)-400):])
	}
}
