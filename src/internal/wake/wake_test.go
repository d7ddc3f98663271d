package wake

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

func TestParseMAC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // canonical form; "" when an error is expected
		errs string // substring of the error
	}{
		{in: "00:11:22:33:44:55", want: "00:11:22:33:44:55"},
		{in: "00-11-22-33-44-5A", want: "00:11:22:33:44:5a"},
		{in: "0011.2233.44aa", want: "00:11:22:33:44:aa"},
		{in: "02:00:00:00:00:01", want: "02:00:00:00:00:01"}, // locally administered is fine
		{in: "", errs: "empty MAC"},
		{in: "00:11:22:33:44", errs: "want six hex bytes"},
		{in: "00:11:22:33:44:55:66", errs: "want six hex bytes"},
		{in: "0:11:22:33:44:55", errs: "want six hex bytes"},
		{in: " 00:11:22:33:44:55", errs: "want six hex bytes"},
		{in: "00:11:22:33:44:gg", errs: "want six hex bytes"},
		{in: "00:11:22:33:44:55:66:77", errs: "has 8 bytes, want 6"},
		{in: "ff:ff:ff:ff:ff:ff", errs: "multicast or broadcast"},
		{in: "01:00:5e:00:00:01", errs: "multicast or broadcast"},
		{in: "00:00:00:00:00:00", errs: "all zeros"},
	}
	for _, tt := range tests {
		mac, err := ParseMAC(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseMAC(%q) = %v, want error containing %q", tt.in, mac, tt.errs)
				continue
			}
			if !strings.Contains(err.Error(), tt.errs) {
				t.Errorf("ParseMAC(%q) error %q, want it to contain %q", tt.in, err, tt.errs)
			}
			if tt.in != "" && !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseMAC(%q) error %q does not name the input", tt.in, err)
			}
			t.Logf("err: %v", err)
			continue
		}
		if err != nil {
			t.Errorf("ParseMAC(%q): %v", tt.in, err)
			continue
		}
		if mac.String() != tt.want || len(mac) != 6 {
			t.Errorf("ParseMAC(%q) = %v, want %s", tt.in, mac, tt.want)
		}
	}
}

func TestParsePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{in: "", want: nil, ok: true},
		{in: "1.2.3.4", want: []byte{1, 2, 3, 4}, ok: true},
		{in: "255.0.10.001", want: []byte{255, 0, 10, 1}, ok: true},
		{in: "00:11:22:33:44:55", want: []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, ok: true},
		{in: "a:B:c:D:e:F", want: []byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf}, ok: true},
		{in: "de-ad-be-ef-00-01", want: []byte{0xde, 0xad, 0xbe, 0xef, 0, 1}, ok: true},
		{in: "1.2.3"},
		{in: "1.2.3.4.5"},
		{in: "1.2.3.256"},
		{in: "1.2.3.-4"},
		{in: "1.2.3.+4"},
		{in: "1.2..4"},
		{in: "1.2.3.0x4"},
		{in: "1.2.3.1000"},
		{in: "00:11:22:33:44"},
		{in: "00:11:22:33:44:55:66"},
		{in: "00:11:22:33:44:555"},
		{in: "00:11:22:33:44:5g"},
		{in: "00:11:22:33:44:_5"},
		{in: "00:11-22:33:44:55"},
		{in: "secret"},
		{in: "1234"},
		{in: " 1.2.3.4"},
	}
	for _, tt := range tests {
		got, err := ParsePassword(tt.in)
		if !tt.ok {
			if err == nil {
				t.Errorf("ParsePassword(%q) = %v, want error", tt.in, got)
				continue
			}
			if !strings.HasPrefix(err.Error(), "SecureOn password") {
				t.Errorf("ParsePassword(%q) error %q lacks context", tt.in, err)
			}
			t.Logf("err: %v", err)
			continue
		}
		if err != nil {
			t.Errorf("ParsePassword(%q): %v", tt.in, err)
			continue
		}
		if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("ParsePassword(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestFormatPassword(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{1, 2, 3, 4}, "1.2.3.4"},
		{[]byte{0xde, 0xad, 0xbe, 0xef, 0, 1}, "de:ad:be:ef:00:01"},
	} {
		if got := FormatPassword(tt.in); got != tt.want {
			t.Errorf("FormatPassword(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

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
		mac, err := ParseMAC(s)
		if err != nil {
			if mac != nil {
				t.Fatalf("ParseMAC(%q) returned %v with error %v", s, mac, err)
			}
			return
		}
		if err := checkMAC(mac); err != nil {
			t.Fatalf("ParseMAC(%q) = %v, which is invalid: %v", s, mac, err)
		}
		again, err := ParseMAC(mac.String())
		if err != nil || !bytes.Equal(again, mac) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
		if _, err := Frame(Broadcast, mac, mac, nil); err != nil {
			t.Fatalf("Frame for parsed MAC %v: %v", mac, err)
		}
	})
}

func FuzzParsePassword(f *testing.F) {
	for _, s := range []string{"", "1.2.3.4", "00:11:22:33:44:55", "de-ad-be-ef-00-01", "1.2.3.256", "a:b:c:d:e:f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePassword(s)
		if err != nil {
			if p != nil {
				t.Fatalf("ParsePassword(%q) returned %v with error %v", s, p, err)
			}
			return
		}
		if checkPassword(p) != nil {
			t.Fatalf("ParsePassword(%q) = %v, invalid length %d", s, p, len(p))
		}
		if (s == "") != (p == nil) {
			t.Fatalf("ParsePassword(%q) = %#v: nil exactly for the empty string", s, p)
		}
		again, err := ParsePassword(FormatPassword(p))
		if err != nil || !bytes.Equal(again, p) {
			t.Fatalf("round trip of %q via %q: %v, %v", s, FormatPassword(p), again, err)
		}
	})
}
