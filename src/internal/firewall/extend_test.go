package firewall

import (
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// TestRepeatedGrantBackendCalls: a knock repeated while its grant is open
// (a replayed knock storm) makes no firewall call when it would extend
// the grant by less than a second, on both backends; a later one extends
// it with one call.
func TestRepeatedGrantBackendCalls(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(clk *fakeClock) (Backend, func() int)
	}{
		{"iptables", func(*fakeClock) (Backend, func() int) {
			v4, v6 := newFakeIpt(), newFakeIpt()
			return newIptablesWith("knockd-go", v4, v6), func() int { return v4.calls + v6.calls }
		}},
		{"fw4", func(clk *fakeClock) (Backend, func() int) {
			f := &fakeNft{table: listingWithIncludes}
			b := newTestFW4(f, clk.Now(), false)
			b.now = clk.Now
			return b, func() int { return len(f.scripts) }
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newFakeClock()
			b, calls := c.make(clk)
			if err := b.Init(); err != nil {
				t.Fatal(err)
			}
			m := NewManager(b, ManagerOptions{Now: clk.Now, At: clk.At, Log: logx.Discard(), ReassertEvery: -1})
			defer m.Close()
			if _, err := m.Grant("ssh", srcA, ssh, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			n := calls()
			for i := 0; i < 9; i++ { // a knock every 100 ms: 0.9 s in all
				clk.Advance(100 * time.Millisecond)
				if _, err := m.Grant("ssh", srcA, ssh, 30*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if got := calls() - n; got != 0 {
				t.Fatalf("%d backend calls for extensions under a second, want 0", got)
			}
			clk.Advance(200 * time.Millisecond) // 1.1 s after the grant
			until, err := m.Grant("ssh", srcA, ssh, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := calls() - n; got == 0 {
				t.Fatal("an extension of over a second made no backend call")
			}
			if want := clk.Now().Add(30 * time.Second); !until.Equal(want) {
				t.Fatalf("until %v, want %v", until, want)
			}
		})
	}
}
