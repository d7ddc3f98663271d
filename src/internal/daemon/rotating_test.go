package daemon

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/rotate"
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
	// Sniffed and sent again from elsewhere, in the same run: refused.
	r.knock(srcB, p.Sequence(c)...)
	r.waitLog("198.51.100.2: rot: rotating sequence replayed")
	if r.log.Has("198.51.100.2: rot: OPEN SESAME") {
		t.Fatal("a replayed rotating sequence opened the door")
	}
	r.stop()
	mu.Lock()
	got := slices.Clone(burnt["rot"])
	mu.Unlock()
	if !slices.Equal(got, []uint64{c}) {
		t.Fatalf("burnt %v, want [%d]", got, c)
	}

	r = newRigWith(t, conf, func(o *Options) { o.Burnt = map[string][]uint64{"rot": got} })
	r.knock(srcB, p.Sequence(c)...)
	// The replay leaves a trace: a log line, the counter, the status.
	r.waitLog("198.51.100.2: rot: rotating sequence replayed (step " + strconv.FormatUint(c, 10) + " already opened the door): refused")
	if r.log.Has("198.51.100.2: rot: OPEN SESAME") {
		t.Fatal("a sequence burnt before the restart opened after it")
	}
	st := r.d.Status()
	if st.Counters.RotatingReplays != 1 || st.Counters.Successes != 0 || len(st.Rejected) != 1 || st.Rejected[0].Src != srcB || !strings.Contains(st.Rejected[0].What, "replayed") {
		t.Errorf("status after a replay: counters %+v, rejected %+v", st.Counters, st.Rejected)
	}
	if !strings.Contains(r.d.Stats(), "rotating replays 1,") {
		t.Errorf("stats: %s", r.d.Stats())
	}
	r.knock(netip.MustParseAddr("198.51.100.1"), p.Sequence(c+1)...)
	r.waitLog("198.51.100.1: rot: OPEN SESAME")
}
