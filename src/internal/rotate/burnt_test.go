package rotate

import (
	"slices"
	"testing"
)

func TestBurnt(t *testing.T) {
	t.Parallel()
	type op struct {
		do      byte // 'b' Burn, 'u' Use (want ok), 'p' Prune
		counter uint64
		ok      bool // for 'u'
	}
	tests := []struct {
		name string
		ops  []op
		want []uint64 // remembered afterwards
	}{
		{"zero value", nil, nil},
		{"burn twice", []op{{'b', 5, false}, {'b', 5, false}}, []uint64{5}},
		{"use once", []op{{'u', 5, true}, {'u', 5, false}, {'u', 4, true}, {'u', 6, true}}, []uint64{5, 4, 6}},
		// Burning 10 forgets counters below 8; 8 and 9 may still be in a window.
		{"burn prunes", []op{{'b', 6, false}, {'b', 7, false}, {'b', 8, false}, {'b', 9, false}, {'b', 10, false}}, []uint64{8, 9, 10}},
		{"prune", []op{{'b', 6, false}, {'b', 7, false}, {'b', 8, false}, {'p', 8, false}}, []uint64{7, 8}},
		{"prune 0", []op{{'b', 0, false}, {'p', 0, false}, {'p', 1, false}}, []uint64{0}},
		{"prune all", []op{{'b', 0, false}, {'b', 1, false}, {'p', 100, false}}, []uint64{}},
		// The clock jumps back: the future counters stay burnt.
		{"clock back", []op{{'u', 100, true}, {'u', 50, true}, {'u', 100, false}, {'u', 51, true}}, []uint64{100, 50, 51}},
		// Bounded: the smallest goes first, but never the one just burnt
		// (it is the one in the current window).
		{"bounded", []op{{'b', 1000, false}, {'b', 900, false}, {'b', 800, false}, {'b', 700, false},
			{'b', 600, false}, {'b', 500, false}, {'b', 400, false}, {'b', 300, false}, {'b', 200, false}},
			[]uint64{1000, 900, 800, 700, 600, 500, 400, 200}},
	}
	for _, tt := range tests {
		var b Burnt
		for _, o := range tt.ops {
			switch o.do {
			case 'b':
				b.Burn(o.counter)
			case 'u':
				if got := b.Use(o.counter); got != o.ok {
					t.Errorf("%s: Use(%d) = %v, want %v", tt.name, o.counter, got, o.ok)
				}
			case 'p':
				b.Prune(o.counter)
			}
		}
		if b.Len() != len(tt.want) || !slices.Equal(b.c, tt.want) && len(tt.want) > 0 {
			t.Errorf("%s: remembers %v, want %v", tt.name, b.c, tt.want)
		}
		for _, c := range tt.want {
			if !b.IsBurnt(c) {
				t.Errorf("%s: %d not burnt", tt.name, c)
			}
		}
	}
}

// TestBurntBounded: a long run of knocks keeps at most three counters.
func TestBurntBounded(t *testing.T) {
	t.Parallel()
	var b Burnt
	for c := uint64(1); c < 10000; c++ {
		b.Use(c + 1)
		b.Use(c)
		b.Use(c - 1)
		if b.Len() > 3 {
			t.Fatalf("at %d: %d counters", c, b.Len())
		}
	}
}
