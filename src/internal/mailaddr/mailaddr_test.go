package mailaddr

import (
	netmail "net/mail"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		addr, name string
		ok         bool
	}{
		{in: "admin@example.org", addr: "admin@example.org", ok: true},
		{in: "Ann <ann@example.org>", addr: "ann@example.org", name: "Ann", ok: true},
		{in: `"Admin, Ann" <ann@example.org>`, addr: "ann@example.org", name: "Admin, Ann", ok: true},
		{in: "Élodie   Ünal <e@example.org>", addr: "e@example.org", name: "Élodie Ünal", ok: true},
		{in: ` "J. \"Jay\" Doe"  <j@example.org> `, addr: "j@example.org", name: `J. "Jay" Doe`, ok: true},
		{in: "<j@example.org>", addr: "j@example.org", ok: true},
		{in: "x@localhost", addr: "x@localhost", ok: true},
		{in: "=?utf-8?q?=C3=89lodie?= <e@example.org>"},
		{in: "J. Doe, Jr <j@example.org>"},
		{in: `"unterminated <j@example.org>`},
		{in: "Ann <ann@example.org"},
		{in: "ann@example.org>"},
		{in: "a..b@example.org"},
		{in: ".a@example.org"},
		{in: "a@ex_ample.org"},
		{in: "a@-example.org"},
		{in: "a@example..org"},
		{in: "é@example.org"},
		{in: "a@exämple.org"},
		{in: "a@b@example.org"},
		{in: "a(comment)@example.org"},
		{in: "root", addr: "root", ok: true},
		{in: "a.b+c_d-e", addr: "a.b+c_d-e", ok: true},
		{in: ""},
		{in: "admin@example.org\r\nBcc: victim@example.com"},
		{in: "admin@example.org\nBcc: victim@example.com"},
		{in: "Ann\r\n <ann@example.org>"},
		{in: "admin@example.org\x00"},
		{in: "admin@exa\x7fmple.org"},
		{in: "-oQ/tmp/x@example.org"},
		{in: "-t"},
		{in: "Evil <-f@example.org>"},
		{in: "a@example.org, b@example.org"},
		{in: `"a b"@example.org`},
		{in: `"a;b"@example.org`},
		{in: "a@[192.0.2.1]"},
		{in: "no at sign here"},
		{in: "admin@"},
		{in: "\xff@example.org"},
		{in: strings.Repeat("a", 400) + "@example.org"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if !tt.ok {
			if err == nil {
				t.Errorf("Parse(%q) = %+v, want error", tt.in, a)
			} else {
				t.Logf("err: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if a.Addr != tt.addr || a.Name != tt.name {
			t.Errorf("Parse(%q) = %+v, want address %q name %q", tt.in, a, tt.addr, tt.name)
		}
	}
}

func TestAddressString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a    Address
		want string
	}{
		{Address{Addr: "a@example.org"}, "a@example.org"},
		{Address{Addr: "root"}, "root"},
		{Address{Name: "Ann Admin", Addr: "a@example.org"}, "Ann Admin <a@example.org>"},
		{Address{Name: "Admin, Ann", Addr: "a@example.org"}, `"Admin, Ann" <a@example.org>`},
		{Address{Name: `J. "Jay" Doe`, Addr: "j@example.org"}, `"J. \"Jay\" Doe" <j@example.org>`},
		{Address{Name: "two  spaces", Addr: "j@example.org"}, `"two  spaces" <j@example.org>`},
		{Address{Name: "Élodie", Addr: "e@example.org"}, "=?utf-8?q?=C3=89lodie?= <e@example.org>"},
		{Address{Name: "=?x?q?y?=", Addr: "e@example.org"}, "=?utf-8?q?=3D=3Fx=3Fq=3Fy=3F=3D?= <e@example.org>"},
	} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.a, got, tt.want)
		}
		if got, err := netmail.ParseAddress(tt.want); tt.a.Addr != "root" && (err != nil || got.Name != tt.a.Name || got.Address != tt.a.Addr) {
			t.Errorf("net/mail reads %q as %+v, %v", tt.want, got, err)
		}
	}
}
