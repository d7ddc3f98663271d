package firewalltest

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

func TestFake(t *testing.T) {
	t.Parallel()
	f := NewFake()
	if err := f.Init(); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(1000, 0)
	a := netip.MustParseAddr("::ffff:192.0.2.2") // unmapped like the real backends
	b := netip.MustParseAddr("192.0.2.1")
	ssh := l4.Port{Proto: l4.TCP, Num: 22}
	pptp := l4.Port{Proto: l4.TCP, Num: 1723}
	fwd := firewall.Forward{Port: pptp, To: netip.MustParseAddrPort("192.168.1.51:1723")}
	if err := f.Add(firewall.Grant{Door: "d", Src: a, Spec: firewall.Spec{Open: []l4.Port{ssh}, Forward: []firewall.Forward{fwd}}, Until: until}); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(firewall.Grant{Door: "e", Src: b, Spec: firewall.Spec{Open: []l4.Port{ssh}}, Until: until}); err != nil {
		t.Fatal(err)
	}
	a4 := a.Unmap()
	want := []firewall.Grant{
		{Door: "e", Src: b, Spec: firewall.Spec{Open: []l4.Port{ssh}}, Until: until},
		{Door: "d", Src: a4, Spec: firewall.Spec{Open: []l4.Port{ssh}}, Until: until},
		{Door: "d", Src: a4, Spec: firewall.Spec{Forward: []firewall.Forward{fwd}}, Until: until},
	}
	if got := f.Installed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Installed = %+v, want %+v", got, want)
	}
	// A forward to another target replaces the old one.
	fwd2 := fwd
	fwd2.To = netip.MustParseAddrPort("192.168.1.52:1723")
	g2 := firewall.Grant{Door: "d", Src: a4, Spec: firewall.Spec{Forward: []firewall.Forward{fwd2}}, Until: until}
	if err := f.Add(g2); err != nil {
		t.Fatal(err)
	}
	if got := f.Installed(); len(got) != 3 || got[2].Spec.Forward[0].To != fwd2.To {
		t.Fatalf("after a new forward target: %+v", got)
	}
	if repaired, err := f.Reassert([]firewall.Grant{g2}); err != nil || repaired {
		t.Fatalf("Reassert of installed rules = %v, %v", repaired, err)
	}
	f.Wipe()
	if repaired, err := f.Reassert([]firewall.Grant{g2}); err != nil || !repaired || len(f.Installed()) != 1 {
		t.Fatalf("Reassert after Wipe = %v, %v, %+v", repaired, err, f.Installed())
	}
	if err := f.Remove(g2); err != nil || len(f.Installed()) != 0 {
		t.Fatalf("Remove = %v, left %+v", err, f.Installed())
	}
	boom := errors.New("boom")
	f.FailWith("Add", boom)
	if err := f.Add(g2); !errors.Is(err, boom) || len(f.Installed()) != 0 {
		t.Fatalf("failing Add = %v, installed %+v", err, f.Installed())
	}
	f.FailWith("Add", nil)
	if err := f.Close(); err != nil || !f.Closed() || f.Count("Add") != 4 || len(f.Calls()) != 9 {
		t.Fatalf("Close = %v, closed %v, %d Add, %d calls", err, f.Closed(), f.Count("Add"), len(f.Calls()))
	}
}
