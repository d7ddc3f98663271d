package daemon

import (
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/knockd-go/knockd-go/src/rotate"
)

// TestRotatingBurntAcrossRestart: a rotating sequence that opened the door
// is reported through OnBurn; a daemon started again with it in Burnt (a
// restart that kept the journal) refuses the sequence, sniffed and sent
// from another address, and takes the owner's next one.
func TestRotatingBurntAcrossRestart(t *testing.T) {
	const conf = "[rot]\n  sequence_secret = GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n  sequence_step = 30\n  command = true\n"
	p := rotate.Default([]byte("12345678901234567890"))
	var mu sync.Mutex
	burnt := map[string][]uint64{}
	r := newRigWith(t, conf, func(o *Options) {
		o.OnBurn = func(door string, counter uint64) {
			mu.Lock()
			burnt[door] = append(burnt[door], counter)
			mu.Unlock()
		}
	})
	c := p.Counter(r.clk.now())
	r.knock(srcA, p.Sequence(c)...)
	r.waitLog("198.51.100.1: rot: OPEN SESAME")
	r.stop()
	mu.Lock()
	got := slices.Clone(burnt["rot"])
	mu.Unlock()
	if !slices.Equal(got, []uint64{c}) {
		t.Fatalf("burnt %v, want [%d]", got, c)
	}

	r = newRigWith(t, conf, func(o *Options) { o.Burnt = map[string][]uint64{"rot": got} })
	r.knock(srcB, p.Sequence(c)...)
	if r.log.Has("198.51.100.2: rot: OPEN SESAME") {
		t.Fatal("a sequence burnt before the restart opened after it")
	}
	r.knock(netip.MustParseAddr("198.51.100.1"), p.Sequence(c+1)...)
	r.waitLog("198.51.100.1: rot: OPEN SESAME")
}
