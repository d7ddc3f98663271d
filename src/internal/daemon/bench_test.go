package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// BenchmarkFirstKnockFlood is the packet path under a flood of first
// knocks from never-repeating sources, 1,000 a simulated second, each
// captured read of 50 packets sharing a clock reading (a 250 ms block at
// 200 a second) and the expiry loop's tick every second, logging to a
// file (its lines written at the end of each read). An op is a packet and its share of the expiries. Run it on the
// router's architecture (qemu-user) to see what a packet costs there.
func BenchmarkFirstKnockFlood(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "knockd.conf")
	os.WriteFile(path, []byte("[a]\n  sequence = 7000,8000,9000\n  seq_timeout = 5\n  command = /bin/true\n"), 0o600)
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	log, err := logx.New(logx.Options{LogFile: filepath.Join(dir, "log"), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	runner := command.NewRunner(command.Options{Max: 1, Log: log})
	d, err := New(compile(b, path, now), Options{Log: log, Source: testsrc.New([]netip.Addr{router}), Runner: runner, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, 1<<16)
	for i := range frames {
		frames[i] = testsrc.Frame(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), router, tcp(7000))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var at time.Time
	for i := 0; i < b.N; i++ {
		if i%50 == 0 {
			if i > 0 {
				d.handle(0, nil, time.Time{}) // the end of the read
			}
			at = clock
		}
		f := frames[i%len(frames)]
		f[13] = byte(i >> 16) // a new source each time (10.x.y.z)
		ihl := int(f[0]&0x0f) * 4
		f[10], f[11] = 0, 0
		c := pktbuild.Checksum(0, f[:ihl])
		f[10], f[11] = byte(c>>8), byte(c)
		d.handle(0, f, at)
		clock = clock.Add(time.Millisecond)
		if i%1000 == 999 {
			d.expire()
		}
	}
}
