package firewall_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/firewall/firewalltest"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/logx/logxtest"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newTestManager(t *testing.T) (*firewall.Manager, *firewalltest.Fake, *firewall.FakeClock, *logxtest.Recorder) {
	t.Helper()
	clk := firewall.NewFakeClock()
	f := firewalltest.NewFake()
	log, rec := logxtest.NewRecorder(false)
	m := firewall.NewManager(f, firewall.ManagerOptions{
		Now:           clk.Now,
		At:            clk.At,
		Log:           log,
		ReassertEvery: 5 * time.Second,
	})
	t.Cleanup(func() { _ = m.Close() })
	return m, f, clk, rec
}

func TestManagerGrantAndExtend(t *testing.T) {
	m, f, clk, _ := newTestManager(t)
	t0 := clk.Now()
	until, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !until.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("until = %v, want %v", until, t0.Add(10*time.Second))
	}
	if n := f.Count("Add"); n != 1 {
		t.Fatalf("Add calls = %d, want 1", n)
	}
	// The same grant at the same instant changes nothing.
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := f.Count("Add"); n != 1 {
		t.Fatalf("Add calls after identical grant = %d, want 1", n)
	}
	// Later, the grant is extended: the backend refreshes, no duplicate.
	clk.Advance(4 * time.Second)
	until2, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !until2.Equal(t0.Add(14 * time.Second)) {
		t.Fatalf("extended until = %v, want %v", until2, t0.Add(14*time.Second))
	}
	inst := f.Installed()
	if len(inst) != 1 || !inst[0].Until.Equal(until2) {
		t.Fatalf("installed = %+v, want one rule until %v", inst, until2)
	}
	act := m.Active()
	if len(act) != 1 || act[0].Door != "ssh" || act[0].Src != firewall.SrcA || !act[0].Until.Equal(until2) {
		t.Fatalf("Active = %+v", act)
	}
	// A shorter grant does not shorten the longer one.
	if until3, _ := m.Grant("ssh", firewall.SrcA, firewall.SSH, time.Second); !until3.Equal(until2) {
		t.Fatalf("shorter grant moved until to %v", until3)
	}
}

func TestManagerExpiry(t *testing.T) {
	m, f, clk, _ := newTestManager(t)
	var expiredMu sync.Mutex
	var expired []firewall.Grant
	m.SetOnExpire(func(g firewall.Grant) {
		expiredMu.Lock()
		expired = append(expired, g)
		expiredMu.Unlock()
	})
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant("web", firewall.SrcB, firewall.Web, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	clk.WaitFor(t, clk.Now().Add(2*time.Second))
	clk.Advance(2 * time.Second)
	eventually(t, "first expiry", func() bool { return f.Count("Remove") == 1 })
	if inst := f.Installed(); len(inst) != 1 || inst[0].Src != firewall.SrcB {
		t.Fatalf("after first expiry installed = %+v", inst)
	}
	if act := m.Active(); len(act) != 1 || act[0].Door != "web" {
		t.Fatalf("after first expiry Active = %+v", act)
	}
	clk.WaitFor(t, clk.Now().Add(time.Second))
	clk.Advance(time.Second)
	eventually(t, "second expiry", func() bool { return f.Count("Remove") == 2 })
	if inst := f.Installed(); len(inst) != 0 {
		t.Fatalf("after expiry installed = %+v", inst)
	}
	if act := m.Active(); len(act) != 0 {
		t.Fatalf("after expiry Active = %+v", act)
	}
	expiredMu.Lock()
	if len(expired) != 2 || expired[0].Door != "ssh" || expired[1].Door != "web" {
		t.Errorf("OnExpire got %+v", expired)
	}
	expiredMu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestManagerSharedPortTwoDoors(t *testing.T) {
	m, f, clk, _ := newTestManager(t)
	if _, err := m.Grant("short", firewall.SrcA, firewall.SSH, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant("long", firewall.SrcA, firewall.SSH, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if inst := f.Installed(); len(inst) != 1 {
		t.Fatalf("installed %d rules for one port, want 1: %+v", len(inst), inst)
	}
	clk.Advance(3 * time.Second)
	m.Tick()
	if n := f.Count("Remove"); n != 0 {
		t.Fatalf("the port was removed while door long still holds it (%d removes)", n)
	}
	if act := m.Active(); len(act) != 1 || act[0].Door != "long" {
		t.Fatalf("Active = %+v", act)
	}
	clk.Advance(7 * time.Second)
	m.Tick()
	if inst := f.Installed(); len(inst) != 0 || f.Count("Remove") != 1 {
		t.Fatalf("after both expired: installed %+v, removes %d", inst, f.Count("Remove"))
	}
}

func TestManagerForwardTargetChange(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	if _, err := m.Grant("web", firewall.SrcA, firewall.Web, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	other := firewall.Spec{Forward: []firewall.Forward{{Port: l4.Port{Proto: l4.TCP, Num: 8080}, To: netip.MustParseAddrPort("192.168.1.11:80")}}}
	if _, err := m.Grant("web2", firewall.SrcA, other, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	inst := f.Installed()
	if len(inst) != 1 || inst[0].Spec.Forward[0].To != other.Forward[0].To {
		t.Fatalf("installed = %+v, want the new target only", inst)
	}
	if f.Count("Remove") != 1 {
		t.Fatalf("old forward not removed first (%d removes)", f.Count("Remove"))
	}
}

func TestManagerFamily(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	mixed := firewall.Spec{Open: firewall.SSH.Open, Forward: firewall.Web.Forward}
	until, err := m.Grant("mixed", firewall.SrcC, mixed, 10*time.Second)
	if !errors.Is(err, firewall.ErrFamily) {
		t.Fatalf("err = %v, want ErrFamily for the IPv4 forward", err)
	}
	if until.IsZero() {
		t.Fatal("the open part was not granted")
	}
	inst := f.Installed()
	if len(inst) != 1 || len(inst[0].Spec.Open) != 1 || inst[0].Src != firewall.SrcC {
		t.Fatalf("installed = %+v, want the open port only", inst)
	}
	// Nothing grantable at all.
	if u, err := m.Grant("web", firewall.SrcC, firewall.Web, time.Second); !errors.Is(err, firewall.ErrFamily) || !u.IsZero() {
		t.Fatalf("forward-only v6 grant: until %v err %v", u, err)
	}
	// A backend refusing the family records nothing.
	f.FailWith("Add", firewall.ErrFamily)
	if _, err := m.Grant("ssh", firewall.SrcC, firewall.Spec{Open: []l4.Port{{Proto: l4.UDP, Num: 53}}}, time.Second); !errors.Is(err, firewall.ErrFamily) {
		t.Fatalf("err = %v", err)
	}
	for _, g := range m.ActiveLocked() {
		if len(g.Spec.Open) == 1 && g.Spec.Open[0].Proto == l4.UDP {
			t.Fatal("a grant the backend refused was recorded")
		}
	}
}

func TestManagerValidation(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	cases := []struct {
		src  netip.Addr
		spec firewall.Spec
		d    time.Duration
	}{
		{firewall.SrcA, firewall.SSH, 0},
		{firewall.SrcA, firewall.Spec{}, time.Second},
		{netip.Addr{}, firewall.SSH, time.Second},
		{netip.MustParseAddr("fe80::1%eth0"), firewall.SSH, time.Second},
	}
	for _, c := range cases {
		if _, err := m.Grant("x", c.src, c.spec, c.d); err == nil {
			t.Errorf("Grant(%v, %+v, %v) did not fail", c.src, c.spec, c.d)
		}
	}
	if f.Count("Add") != 0 {
		t.Fatal("invalid grants reached the backend")
	}
	// 4in6 sources are unmapped.
	if _, err := m.Grant("x", netip.MustParseAddr("::ffff:198.51.100.2"), firewall.SSH, time.Second); err != nil {
		t.Fatal(err)
	}
	if inst := f.Installed(); len(inst) != 1 || inst[0].Src != firewall.SrcA {
		t.Fatalf("installed = %+v", inst)
	}
}

func TestManagerMaxGrants(t *testing.T) {
	clk := firewall.NewFakeClock()
	f := firewalltest.NewFake()
	m := firewall.NewManager(f, firewall.ManagerOptions{Now: clk.Now, At: clk.At, MaxGrants: 2})
	defer m.Close()
	for i, src := range []netip.Addr{firewall.SrcA, firewall.SrcB} {
		if _, err := m.Grant("d", src, firewall.SSH, time.Second); err != nil {
			t.Fatalf("grant %d: %v", i, err)
		}
	}
	if _, err := m.Grant("d", firewall.SrcC, firewall.SSH, time.Second); !errors.Is(err, firewall.ErrTooMany) {
		t.Fatalf("third grant: %v, want ErrTooMany", err)
	}
	// Extending an existing grant is still allowed.
	if _, err := m.Grant("d", firewall.SrcA, firewall.SSH, 5*time.Second); err != nil {
		t.Fatalf("extension at the limit: %v", err)
	}
}

func TestManagerReassert(t *testing.T) {
	m, f, clk, logs := newTestManager(t)
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant("web", firewall.SrcB, firewall.Web, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	f.Wipe() // firewall reload
	clk.Advance(4 * time.Second)
	m.Tick()
	if f.Count("Reassert") != 0 {
		t.Fatal("reassert before its period")
	}
	clk.Advance(time.Second)
	m.Tick()
	if f.Count("Reassert") != 1 {
		t.Fatalf("Reassert calls = %d, want 1", f.Count("Reassert"))
	}
	inst := f.Installed()
	if len(inst) != 2 {
		t.Fatalf("after reassert installed = %+v", inst)
	}
	calls := f.Calls()
	last := calls[len(calls)-1]
	if len(last.Active) != 2 || !last.Active[0].Until.Equal(clk.Now().Add(55*time.Second)) {
		t.Fatalf("Reassert got %+v", last.Active)
	}
	if !logs.Has("restored") {
		t.Errorf("repair not logged: %q", logs.Lines())
	}
	// Errors are logged once, not on every period.
	f.FailWith("Reassert", errors.New("xtables lock"))
	for i := 0; i < 3; i++ {
		clk.Advance(5 * time.Second)
		m.Tick()
	}
	n := 0
	for _, l := range logs.Lines() {
		if strings.Contains(l, "xtables lock") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error logged %d times: %q", n, logs.Lines())
	}
}

func TestManagerNoReassertWhenIdle(t *testing.T) {
	m, f, clk, _ := newTestManager(t)
	for i := 0; i < 3; i++ {
		clk.Advance(5 * time.Second)
		m.Tick()
	}
	if f.Count("Reassert") != 0 {
		t.Fatal("reassert with no grants")
	}
}

func TestManagerRemoveRetry(t *testing.T) {
	m, f, clk, logs := newTestManager(t)
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, time.Second); err != nil {
		t.Fatal(err)
	}
	f.FailWith("Remove", errors.New("busy"))
	clk.Advance(time.Second)
	m.Tick()
	if len(f.Installed()) != 1 || len(logs.Lines()) == 0 {
		t.Fatalf("failed removal: installed %+v, logs %q", f.Installed(), logs.Lines())
	}
	if len(m.Active()) != 0 {
		t.Fatal("an expired grant is still reported active")
	}
	f.FailWith("Remove", nil)
	// The removal is retried after its backoff.
	clk.Advance(time.Second)
	m.Tick()
	if len(f.Installed()) != 0 {
		t.Fatalf("removal not retried: %+v", f.Installed())
	}
	if w := m.NextWake(clk.Now()); w != firewall.IdleWait {
		t.Fatalf("idle manager wakes in %v", w)
	}
}

func TestManagerAddErrorKept(t *testing.T) {
	m, f, clk, _ := newTestManager(t)
	f.FailWith("Add", errors.New("lock timeout"))
	until, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, 60*time.Second)
	if err == nil || until.IsZero() {
		t.Fatalf("Grant = %v, %v; want until and the error", until, err)
	}
	f.FailWith("Add", nil)
	clk.Advance(5 * time.Second)
	m.Tick()
	if inst := f.Installed(); len(inst) != 1 {
		t.Fatalf("reassert did not heal the failed add: %+v", inst)
	}
}

func TestManagerClose(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, time.Minute); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if !f.Closed() || len(f.Installed()) != 0 {
		t.Fatal("backend not closed")
	}
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, time.Minute); !errors.Is(err, firewall.ErrClosed) {
		t.Fatalf("Grant after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if f.Count("Close") != 1 {
		t.Fatalf("backend closed %d times", f.Count("Close"))
	}
}

// slowBackend blocks in Close.
type slowBackend struct {
	*firewalltest.Fake
	release chan struct{}
}

func (s slowBackend) Close() error { <-s.release; return nil }

func TestManagerCloseTimeout(t *testing.T) {
	s := slowBackend{Fake: firewalltest.NewFake(), release: make(chan struct{})}
	defer close(s.release)
	m := firewall.NewManager(s, firewall.ManagerOptions{CloseTimeout: 50 * time.Millisecond})
	start := time.Now()
	err := m.Close()
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Close = %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Close took %v", el)
	}
}

func TestManagerConcurrent(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				src := netip.AddrFrom4([4]byte{198, 51, 100, byte(i*5 + j%5)})
				_, _ = m.Grant("d", src, firewall.SSH, time.Minute)
				_ = m.Active()
			}
		}(i)
	}
	wg.Wait()
	if n := len(f.Installed()); n != 40 {
		t.Fatalf("installed %d rules, want 40 (8 goroutines × 5 sources)", n)
	}
}

func TestManagerRevoke(t *testing.T) {
	m, f, _, _ := newTestManager(t)
	if _, err := m.Grant("ssh", firewall.SrcA, firewall.SSH, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant("web", firewall.SrcA, firewall.Web, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Revoke("ssh", netip.MustParseAddr("::ffff:"+firewall.SrcA.String())); n != 1 || err != nil {
		t.Fatalf("Revoke = %d, %v", n, err)
	}
	if len(m.Active()) != 1 || len(f.Installed()) != 1 || m.Active()[0].Door != "web" {
		t.Fatalf("after revoke: active %v, installed %v", m.Active(), f.Installed())
	}
	if n, err := m.Revoke("ssh", firewall.SrcA); n != 0 || err != nil {
		t.Fatalf("second Revoke = %d, %v", n, err)
	}
	f.FailWith("Remove", errors.New("busy"))
	if n, err := m.Revoke("web", firewall.SrcA); n != 1 || err == nil {
		t.Fatalf("failing Revoke = %d, %v", n, err)
	}
	f.FailWith("Remove", nil)
	m.Tick() // the removal is retried
}

// TestManagerReassertSkipsEnded: a reassert between a grant's end and its
// removal (e.g. SIGUSR2 right then) does not make it again and does not
// count it as restored.
func TestManagerReassertSkipsEnded(t *testing.T) {
	m, f, clk, rec := newTestManager(t)
	if _, err := m.Grant("short", firewall.SrcA, firewall.SSH, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Grant("long", firewall.SrcB, firewall.SSH, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second) // no Run: nothing removed the short one
	f.Wipe()
	m.Reassert()
	if inst := f.Installed(); len(inst) != 1 || inst[0].Src != firewall.SrcB {
		t.Fatalf("installed after reassert: %+v, want the long grant only", inst)
	}
	if !rec.Has("restored 1 active grant(s)") {
		t.Fatalf("log:\n%s", rec.String())
	}
}
