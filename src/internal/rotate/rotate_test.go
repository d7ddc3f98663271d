package rotate

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// vectorSecret is RFC 6238's test secret, "12345678901234567890".
const vectorSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// vectors are the known-answer tests of the derivation, also printed in
// docs/rotating-knocks.md; they were computed by an independent
// implementation written from the package documentation.
var vectors = []struct {
	unix    int64 // a time in the counter's step (0: none given)
	step    int   // seconds
	length  int
	lo, hi  uint16
	proto   l4.Proto
	counter uint64
	ports   []uint16
}{
	{59, 30, 4, 10000, 60000, l4.TCP, 1, []uint16{18738, 44903, 40774, 14842}},
	{1111111109, 30, 4, 10000, 60000, l4.TCP, 37037036, []uint16{22224, 55893, 45000, 49029}},
	{1234567890, 30, 4, 10000, 60000, l4.TCP, 41152263, []uint16{22231, 15484, 43162, 11915}},
	{2000000000, 30, 4, 10000, 60000, l4.TCP, 66666666, []uint16{45025, 57664, 38502, 51221}},
	{20000000000, 30, 4, 10000, 60000, l4.TCP, 666666666, []uint16{35218, 36104, 21357, 57989}},
	// 16 ports from 256: two HMAC blocks.
	{0, 60, 16, 1000, 1255, l4.UDP, 0, []uint16{1246, 1182, 1150, 1163, 1007, 1044, 1130, 1146,
		1056, 1147, 1158, 1090, 1034, 1196, 1174, 1035}},
	// v8 gives 1207 again after port 8 (v7, 1207) and is skipped: 17
	// values for 16 ports, the last from the third block.
	{0, 60, 16, 1000, 1255, l4.UDP, 8, []uint16{1196, 1225, 1213, 1248, 1174, 1198, 1135, 1207,
		1142, 1061, 1020, 1021, 1024, 1111, 1058, 1008}},
}

func TestVectors(t *testing.T) {
	t.Parallel()
	secret, err := ParseSecret(vectorSecret)
	if err != nil || string(secret) != "12345678901234567890" {
		t.Fatalf("ParseSecret(%s) = %q, %v", vectorSecret, secret, err)
	}
	for _, v := range vectors {
		p := Params{Secret: secret, Length: v.length, Step: time.Duration(v.step) * time.Second, Lo: v.lo, Hi: v.hi, Proto: v.proto}
		if v.unix != 0 {
			if c := p.Counter(time.Unix(v.unix, 0)); c != v.counter {
				t.Errorf("Counter(%d) with step %d = %d, want %d", v.unix, v.step, c, v.counter)
			}
		}
		got := p.Sequence(v.counter)
		want := make([]l4.Port, len(v.ports))
		for i, n := range v.ports {
			want[i] = l4.Port{Proto: v.proto, Num: n}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Sequence(%d) of %+v =\n%v\nwant\n%v", v.counter, p, got, want)
		}
	}
}

// TestSkipVector: the second 16-port vector really exercises the skip rule.
func TestSkipVector(t *testing.T) {
	t.Parallel()
	secret, _ := ParseSecret(vectorSecret)
	s := newStream(secret, 8)
	var vals []uint16
	for i := 0; i < 17; i++ {
		vals = append(vals, 1000+uint16(s.next()%256))
	}
	if vals[7] != vals[8] || vals[7] != 1207 {
		t.Fatalf("values of counter 8: %v; want v7 == v8 == 1207", vals)
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vals []uint32
		lo   uint16
		want []uint16
	}{
		// Every value is 5: after 8 draws, the port after the previous one.
		{[]uint32{5}, 100, []uint16{105, 106, 105}},
		// At the top of the range the fallback wraps to lo.
		{[]uint32{255}, 100, []uint16{355, 100, 355}},
		// A repeat, then a different value: skipped once.
		{[]uint32{1, 1, 2, 2, 2, 3}, 0, []uint16{1, 2, 3}},
		// Non-consecutive repeats are kept.
		{[]uint32{1, 2, 1}, 0, []uint16{1, 2, 1}},
	}
	for _, tt := range tests {
		i := 0
		next := func() uint32 {
			v := tt.vals[min(i, len(tt.vals)-1)]
			i++
			return v
		}
		got := ports(next, len(tt.want), tt.lo, tt.lo+255, l4.TCP)
		var nums []uint16
		for _, p := range got {
			nums = append(nums, p.Num)
		}
		if !slices.Equal(nums, tt.want) {
			t.Errorf("values %v: ports %v, want %v", tt.vals, nums, tt.want)
		}
	}
}

func TestCounter(t *testing.T) {
	t.Parallel()
	p := Default(make([]byte, 16))
	tests := []struct {
		t    time.Time
		step time.Duration
		want uint64
	}{
		{time.Unix(0, 0), 30 * time.Second, 0},
		{time.Unix(29, 999999999), 30 * time.Second, 0},
		{time.Unix(30, 0), 30 * time.Second, 1},
		{time.Unix(-1, 0), 30 * time.Second, 0},
		{time.Unix(3600, 0).In(time.FixedZone("x", 5*3600)), time.Hour, 1},
		{time.Unix(100, 0), 0, 0},
	}
	for _, tt := range tests {
		p.Step = tt.step
		if got := p.Counter(tt.t); got != tt.want {
			t.Errorf("Counter(%v) step %v = %d, want %d", tt.t, tt.step, got, tt.want)
		}
	}
	p.Step = 30 * time.Second
	if s := p.Start(2); !s.Equal(time.Unix(60, 0)) {
		t.Errorf("Start(2) = %v", s)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Default(make([]byte, 20))
	tests := []struct {
		name string
		mod  func(*Params)
		err  string
	}{
		{"default", func(*Params) {}, ""},
		{"short secret", func(p *Params) { p.Secret = make([]byte, 15) }, "secret of 15 bytes"},
		{"long secret", func(p *Params) { p.Secret = make([]byte, 65) }, "secret of 65 bytes"},
		{"max secret", func(p *Params) { p.Secret = make([]byte, 64) }, ""},
		{"length 1", func(p *Params) { p.Length = 1 }, "length 1 out of range 2-16"},
		{"length 17", func(p *Params) { p.Length = 17 }, "length 17"},
		{"length 16", func(p *Params) { p.Length = 16 }, ""},
		{"step 4", func(p *Params) { p.Step = 4 * time.Second }, "step 4s"},
		{"step 3601", func(p *Params) { p.Step = 3601 * time.Second }, "step 1h0m1s"},
		{"step fraction", func(p *Params) { p.Step = 5500 * time.Millisecond }, "whole seconds"},
		{"step 5", func(p *Params) { p.Step = 5 * time.Second }, ""},
		{"narrow", func(p *Params) { p.Lo, p.Hi = 1000, 1254 }, "has 255 ports"},
		{"width 256", func(p *Params) { p.Lo, p.Hi = 1, 256 }, ""},
		{"lo 0", func(p *Params) { p.Lo, p.Hi = 0, 1000 }, "within 1-65535"},
		{"reversed", func(p *Params) { p.Lo, p.Hi = 60000, 10000 }, "within 1-65535"},
		{"full", func(p *Params) { p.Lo, p.Hi = 1, 65535 }, ""},
		{"proto", func(p *Params) { p.Proto = 2 }, "protocol 2"},
		{"udp", func(p *Params) { p.Proto = l4.UDP }, ""},
	}
	for _, tt := range tests {
		p := ok
		tt.mod(&p)
		err := p.Validate()
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.err)
		}
		if err != nil {
			t.Logf("%s: %v", tt.name, err)
			if p.Sequence(1) != nil || p.Window(time.Unix(100, 0)) != nil {
				t.Errorf("%s: Sequence or Window of invalid params", tt.name)
			}
		}
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	want := []byte("12345678901234567890")
	tests := []struct {
		in   string
		want []byte
		err  string
	}{
		{vectorSecret, want, ""},
		{strings.ToLower(vectorSecret), want, ""},
		{"GEZD GNBV-GY3T qojq gezd-gnbv gy3t qojq", want, ""},
		{" GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\t", want, ""},
		// 16 bytes: 26 characters, padding optional.
		{"AAAAAAAAAAAAAAAAAAAAAAAAAA", make([]byte, 16), ""},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAA======", make([]byte, 16), ""},
		{"AAAAAAAAAAAAAAAAAAAAAAAA", nil, "secret of 15 bytes"},
		{strings.Repeat("A", 104), nil, "secret of 65 bytes"},
		{strings.Repeat("A", 103), make([]byte, 64), ""},
		{"", nil, "empty secret"},
		{"====", nil, "empty secret"},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", nil, `bad character '1'`},
		{"GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ", nil, `bad character '='`},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA", nil, "cannot end"},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAAA", nil, "cannot end"},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ_", nil, `bad character '_'`},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAB", nil, "stray bits"},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\u00e9", nil, `bad character 'é'`},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAB", nil, "stray bits"},
		{"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAA", append(append([]byte{}, want...), 0), ""},
	}
	for _, tt := range tests {
		got, err := ParseSecret(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSecret(%q) = %x, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("ParseSecret(%q) = %x, %v; want %x", tt.in, got, err, tt.want)
		}
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := NewSecret()
	if err != nil || len(a) != NewSecretLen {
		t.Fatalf("NewSecret() = %x, %v", a, err)
	}
	b, _ := NewSecret()
	if bytes.Equal(a, b) {
		t.Fatal("two equal secrets")
	}
	s := FormatSecret(a)
	if len(s) != 32 || strings.ContainsAny(s, "= -") || strings.ToUpper(s) != s {
		t.Errorf("FormatSecret = %q", s)
	}
	back, err := ParseSecret(s)
	if err != nil || !bytes.Equal(back, a) {
		t.Errorf("ParseSecret(FormatSecret(x)) = %x, %v; want %x", back, err, a)
	}
	if err := Default(a).Validate(); err != nil {
		t.Errorf("a new secret with defaults: %v", err)
	}
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		lo, hi uint16
		err    string
	}{
		{"10000-60000", 10000, 60000, ""},
		{" 1 - 256 ", 1, 256, ""},
		{"1-65535", 1, 65535, ""},
		{"1-255", 0, 0, "has 255 ports"},
		{"0-1000", 0, 0, "within 1-65535"},
		{"1000-70000", 0, 0, "within 1-65535"},
		{"2000-1000", 0, 0, "within 1-65535"},
		{"10000", 0, 0, "want lo-hi"},
		{"a-b", 0, 0, "two numbers"},
		{"-1-1000", 0, 0, "two numbers"},
		{"", 0, 0, "want lo-hi"},
	}
	for _, tt := range tests {
		lo, hi, err := ParseRange(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRange(%q) = %d, %d, %v; want error %q", tt.in, lo, hi, err, tt.err)
			}
			continue
		}
		if err != nil || lo != tt.lo || hi != tt.hi {
			t.Errorf("ParseRange(%q) = %d, %d, %v; want %d-%d", tt.in, lo, hi, err, tt.lo, tt.hi)
		}
	}
}

// TestSequenceProperties: many counters, every port in range, never two
// equal consecutive ports, deterministic, and different secrets or
// counters give different sequences.
func TestSequenceProperties(t *testing.T) {
	t.Parallel()
	p := Params{Secret: []byte("0123456789abcdef"), Length: 16, Step: 30 * time.Second, Lo: 40000, Hi: 40255, Proto: l4.UDP}
	q := p
	q.Secret = []byte("0123456789abcdeF")
	seen := map[string]bool{}
	for c := uint64(0); c < 2000; c++ {
		s := p.Sequence(c)
		checkSeq(t, p, s)
		if !slices.Equal(s, p.Sequence(c)) {
			t.Fatalf("counter %d: not deterministic", c)
		}
		if slices.Equal(s, q.Sequence(c)) {
			t.Fatalf("counter %d: same sequence for another secret", c)
		}
		k := portsKey(s)
		if seen[k] {
			t.Fatalf("counter %d: sequence seen before", c)
		}
		seen[k] = true
	}
}

func checkSeq(t *testing.T, p Params, s []l4.Port) {
	t.Helper()
	if len(s) != p.Length {
		t.Fatalf("%d ports, want %d", len(s), p.Length)
	}
	for i, x := range s {
		if x.Proto != p.Proto || x.Num < p.Lo || x.Num > p.Hi {
			t.Fatalf("port %d: %v outside %v %d-%d", i, x, p.Proto, p.Lo, p.Hi)
		}
		if i > 0 && x == s[i-1] {
			t.Fatalf("ports %d and %d equal: %v", i-1, i, s)
		}
	}
}

func portsKey(s []l4.Port) string {
	var b strings.Builder
	for _, p := range s {
		b.WriteString(p.Knock() + ",")
	}
	return b.String()
}

func TestWindow(t *testing.T) {
	t.Parallel()
	p := Default([]byte("0123456789abcdef"))
	w := p.Window(time.Unix(95, 0)) // counter 3
	if len(w) != 3 || w[0].Counter != 2 || w[1].Counter != 3 || w[2].Counter != 4 {
		t.Fatalf("Window at 95 s: %+v", w)
	}
	for _, e := range w {
		if !slices.Equal(e.Ports, p.Sequence(e.Counter)) {
			t.Errorf("entry %d: %v, want Sequence", e.Counter, e.Ports)
		}
	}
	w = p.Window(time.Unix(10, 0)) // counter 0
	if len(w) != 2 || w[0].Counter != 0 || w[1].Counter != 1 {
		t.Fatalf("Window at 10 s: %+v", w)
	}
}

func BenchmarkSequence(b *testing.B) {
	p := Default([]byte("0123456789abcdef0123"))
	for i := 0; i < b.N; i++ {
		p.Sequence(uint64(i))
	}
}
