package l4

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Port
		err  string
	}{
		{"tcp/22", Port{TCP, 22}, ""},
		{"22/TCP", Port{TCP, 22}, ""},
		{"udp:53", Port{UDP, 53}, ""},
		{"53:udp", Port{UDP, 53}, ""},
		{" 80 ", Port{TCP, 80}, ""},
		{"sctp/1", Port{}, `"sctp/1": unknown protocol "sctp" (want tcp or udp)`},
		{"tcp/0", Port{}, `"tcp/0": port 0 out of range 1-65535`},
		{"tcp/65536", Port{}, `"tcp/65536": port 65536 out of range 1-65535`},
		{"tcp/x", Port{}, `"tcp/x": port "x" is not a number`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := Parse(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v: %v, %v", got, back, err)
		}
		if back, err := Parse(got.Knock()); err != nil || back != got {
			t.Errorf("knock round trip of %v: %v, %v", got, back, err)
		}
	}
	if s := Proto(2).String() + ICMP.String() + None.String(); s != "2icmpnone" {
		t.Errorf("Proto names %q", s)
	}
}

func TestFlags(t *testing.T) {
	var f Flags
	if err := ParseFlags("syn, !ACK", &f); err != nil {
		t.Fatal(err)
	}
	if f != (Flags{Set: SYN, Clear: ACK}) || f.String() != "syn,!ack" {
		t.Fatalf("got %+v %q", f, f.String())
	}
	if !f.Match(SYN) || f.Match(SYN|ACK) || f.Match(0) {
		t.Fatal("Match")
	}
	if err := ParseFlags("ack", &f); err != nil || f != (Flags{Set: SYN | ACK}) {
		t.Fatalf("a later line overrides: %+v %v", f, err)
	}
	if err := ParseFlags("syn,bogus", &f); err == nil {
		t.Fatal("bogus flag accepted")
	}
	if !(Flags{}).Match(0xff) {
		t.Fatal("zero Flags must accept anything")
	}
}
