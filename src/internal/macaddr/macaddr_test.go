package macaddr

import (
	"bytes"
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
		mac, err := Parse(tt.in)
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
		if CheckPassword(p) != nil {
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
