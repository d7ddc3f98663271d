package grant

import (
	"net/netip"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

func TestSpecValidate(t *testing.T) {
	lan := netip.MustParseAddrPort("192.168.1.10:22")
	tests := []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"open tcp", Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 22}}}, true},
		{"open udp", Spec{Open: []l4.Port{{Proto: l4.UDP, Num: 53}}}, true},
		{"forward", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 2222}, To: lan}}}, true},
		{"empty", Spec{}, false},
		{"bad proto", Spec{Open: []l4.Port{{Proto: 1, Num: 1}}}, false},
		{"upper proto", Spec{Open: []l4.Port{{Proto: l4.Proto(0), Num: 22}}}, false},
		{"port 0", Spec{Open: []l4.Port{{Proto: l4.TCP, Num: 0}}}, false},
		{"forward port 0", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 0}, To: lan}}}, false},
		{"forward no target", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}}}}, false},
		{"forward target port 0", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("192.168.1.10:0")}}}, false},
		{"forward unspecified", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("0.0.0.0:22")}}}, false},
		{"forward zone", Spec{Forward: []Forward{{Port: l4.Port{Proto: l4.TCP, Num: 1}, To: netip.MustParseAddrPort("[fe80::1%eth0]:22")}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseForward(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"tcp/1723->192.168.1.51:1723", "tcp/1723->192.168.1.51:1723"},
		{"tcp/8080->192.168.1.5:80 masquerade", "tcp/8080->192.168.1.5:80 masquerade"},
		{"tcp/8080->192.168.1.5:80 MASQUERADE", "tcp/8080->192.168.1.5:80 masquerade"},
		{"udp/51820->192.168.1.9", "udp/51820->192.168.1.9:51820"},
		{"3389 -> 192.168.1.9", "tcp/3389->192.168.1.9:3389"},
		{"tcp/80->[fd00::5]:8080", "tcp/80->[fd00::5]:8080"},
		{"tcp/80->fd00::5", "tcp/80->[fd00::5]:80"},
		{"tcp/80->[fd00::5]", "tcp/80->[fd00::5]:80"},
		{"tcp/80->::ffff:192.168.1.5", "tcp/80->192.168.1.5:80"},
		{"80/udp->10.0.0.1:53", "udp/80->10.0.0.1:53"},
		{"tcp/80->192.168.1.5:0", ""},
		{"tcp/80->192.168.1.5:65536", ""},
		{"tcp/80->0.0.0.0", ""},
		{"tcp/80->::", ""},
		{"tcp/80->224.0.0.1", ""},
		{"tcp/80->fe80::1%br-lan", ""},
		{"tcp/80->host.lan", ""},
		{"tcp/80", ""},
		{"tcp/80->", ""},
		{"->1.2.3.4", ""},
		{"tcp/0->1.2.3.4", ""},
		{"tcp/80->1.2.3.4 snat", ""},
		{"tcp/80->1.2.3.4 masquerade extra", ""},
		{"tcp/80->1.2.3.4->5.6.7.8", ""},
	} {
		f, err := ParseForward(c.in)
		got := ""
		if err == nil {
			got = f.String()
		}
		if got != c.want {
			t.Errorf("ParseForward(%q) = %q (%v), want %q", c.in, got, err, c.want)
		}
	}
}
