package daemon

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/command"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// FuzzPacketPath interleaves knocks from several sources with one-time
// sequence advances (lines of different lengths), reloads that change one
// door and keep another, and time passing. Whatever the order, nothing
// may panic (the packet path recovers panics, and counts them: the count
// must stay 0) and the table stays bounded.
func FuzzPacketPath(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2, 1, 3, 0, 3, 0, 4, 0, 5})
	f.Add([]byte{0, 0, 0, 1, 5, 0, 0, 2, 6, 0, 7, 0, 0, 3})
	f.Add([]byte{1, 0, 1, 1, 1, 2, 1, 3, 0, 0, 0, 1, 0, 2, 5, 1, 0, 3, 1, 4, 1, 5})
	confs := []string{
		"[otp]\n  one_time_sequences = DIR/otp\n  command = true\n[keep]\n  sequence = 1000,2000,6000\n[spa]\n  spa = yes\n  spa_key = k\n  spa_hmac_key = h\n  open = tcp/22\n",
		"[keep]\n  sequence = 1000,2000,6000\n[otp]\n  one_time_sequences = DIR/otp\n  command = true\n[new]\n  sequence = 5000,1000\n  cooldown = 3\n",
	}
	ports := []uint16{1000, 2000, 3000, 4000, 5000, 6000, 7000, 62201}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "otp"), []byte("1000,2000,3000,4000\n5000,6000\n3000\n1000,2000,3000,4000,5000,6000\n"), 0o600)
		path := filepath.Join(dir, "knockd.conf")
		write := func(i int) {
			os.WriteFile(path, []byte(strings.ReplaceAll(confs[i%len(confs)], "DIR", dir)), 0o600)
		}
		write(0)
		clk := &clock{t: time.Unix(1800000000, 0)}
		src := testsrc.New([]netip.Addr{router})
		log := logx.Discard()
		runner := command.NewRunner(command.Options{Max: 2, Log: log})
		d, err := New(compile(t, path, clk.now), Options{Log: log, Source: src, Runner: runner, Now: clk.now, MaxAttempts: 16})
		if err != nil {
			t.Fatal(err)
		}
		srcs := []netip.Addr{srcA, srcB, netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("2001:db8::9")}
		conf := 0
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, ops[i+1]
			switch {
			case op <= 4:
				s := srcs[int(op)%len(srcs)]
				dst := router
				if s.Is6() {
					dst = router6
				}
				p := tcp(ports[int(arg)%len(ports)])
				if arg&0x80 != 0 {
					p = udp(p.Num)
				}
				d.handle(0, testsrc.Frame(s, dst, p), time.Time{})
			case op == 5:
				d.Settle()
				conf++
				write(conf)
				if err := d.Reload(compile(t, path, clk.now), nil); err != nil {
					t.Fatal(err)
				}
			case op == 6:
				clk.add(time.Duration(arg) * 100 * time.Millisecond)
			case op == 7:
				d.Settle()
				d.expire()
			}
			d.mu.Lock()
			panics, n := d.stats.panics, d.m.Len()
			d.mu.Unlock()
			if panics != 0 {
				t.Fatalf("panicked after op %d", i/2)
			}
			if n > 16 {
				t.Fatalf("%d attempts in a table of 16", n)
			}
		}
		d.Settle()
		runner.Shutdown(context.Background())
	})
}
