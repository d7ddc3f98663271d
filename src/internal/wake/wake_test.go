package wake

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/macaddr"
)

// wantFrame builds the expected frame by hand, independently of wol.
func wantFrame(dst, src, mac net.HardwareAddr, pw []byte) []byte {
	var b []byte
	b = append(b, dst...)
	b = append(b, src...)
	b = append(b, 0x08, 0x42)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	for i := 0; i < 16; i++ {
		b = append(b, mac...)
	}
	return append(b, pw...)
}

func TestFrame(t *testing.T) {
	t.Parallel()
	src := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	mac := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	for _, pw := range [][]byte{nil, {1, 2, 3, 4}, {9, 8, 7, 6, 5, 4}} {
		for _, dst := range []net.HardwareAddr{Broadcast, mac} {
			got, err := Frame(dst, src, mac, pw)
			if err != nil {
				t.Fatalf("Frame(pw %v): %v", pw, err)
			}
			want := wantFrame(dst, src, mac, pw)
			if !bytes.Equal(got, want) {
				t.Errorf("Frame(dst %v, pw %v) =\n%x\nwant\n%x", dst, pw, got, want)
			}
			if len(got) != 14+102+len(pw) {
				t.Errorf("frame length %d, want %d", len(got), 14+102+len(pw))
			}
		}
	}
	for _, bad := range []struct {
		dst, src, mac net.HardwareAddr
		pw            []byte
	}{
		{Broadcast, src, mac, []byte{1, 2, 3}},
		{Broadcast, src, mac[:5], nil},
		{Broadcast, src[:4], mac, nil},
		{Broadcast[:5], src, mac, nil},
		{Broadcast, src, Broadcast, nil},
	} {
		if b, err := Frame(bad.dst, bad.src, bad.mac, bad.pw); err == nil {
			t.Errorf("Frame(%v, %v, %v, %v) = %x, want error", bad.dst, bad.src, bad.mac, bad.pw, b)
		} else {
			t.Logf("err: %v", err)
		}
	}
}

func TestRawErrors(t *testing.T) {
	t.Parallel()
	mac := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	var r Raw
	tests := []struct {
		ifname string
		mac    net.HardwareAddr
		pw     []byte
		errs   string
	}{
		{"", mac, nil, "no network device"},
		{"lo", mac[:4], nil, "has 4 bytes"},
		{"lo", mac, []byte{1, 2}, "has 2 bytes, want 0, 4 or 6"},
		{"knockd-nodev0", mac, nil, `device "knockd-nodev0"`},
		{"lo", mac, nil, `device "lo" has no Ethernet address`},
	}
	for _, tt := range tests {
		err := r.Wake(tt.ifname, tt.mac, tt.pw)
		if err == nil || !strings.Contains(err.Error(), tt.errs) {
			t.Errorf("Wake(%q, %v, %v) = %v, want error containing %q", tt.ifname, tt.mac, tt.pw, err, tt.errs)
			continue
		}
		t.Logf("err: %v", err)
	}
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"00:11:22:33:44:55", "0011.2233.4455", "00-11-22-33-44-55", "ff:ff:ff:ff:ff:ff", "00:11:22:33:44:55:66:77", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := macaddr.Parse(s)
		if err != nil {
			if mac != nil {
				t.Fatalf("ParseMAC(%q) returned %v with error %v", s, mac, err)
			}
			return
		}
		if err := macaddr.Check(mac); err != nil {
			t.Fatalf("ParseMAC(%q) = %v, which is invalid: %v", s, mac, err)
		}
		again, err := macaddr.Parse(mac.String())
		if err != nil || !bytes.Equal(again, mac) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
		if _, err := Frame(Broadcast, mac, mac, nil); err != nil {
			t.Fatalf("Frame for parsed MAC %v: %v", mac, err)
		}
	})
}
