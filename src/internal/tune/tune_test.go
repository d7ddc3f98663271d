package tune

import (
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestMemTotal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"MemTotal:          48280 kB\nMemFree:           30000 kB\n", 48280 << 10, true},
		{"MemFree:           30000 kB\nMemTotal:         125428 kB\n", 125428 << 10, true},
		{"MemFree:           30000 kB\n", 0, false},
		{"MemTotal:          48280 MB\n", 0, false},
		{"MemTotal:          x kB\n", 0, false},
		{"MemTotal: 99999999999999999999 kB\n", 0, false},
	} {
		got, ok := memTotal(strings.NewReader(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("memTotal(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		total uint64
		ok    bool
		want  int64
		set   bool
	}{
		{48280 << 10, true, 48280 << 10 / 4, true}, // a 64 MB MIPS router
		{125428 << 10, true, 125428 << 10 / 4, true},
		{24 << 20, true, 8 << 20, true}, // a 32 MB router: the floor
		{512 << 20, true, 128 << 20, true},
		{513 << 20, true, math.MaxInt64, false},
		{0, false, math.MaxInt64, false},
	} {
		got, set := limit(c.total, c.ok)
		if got != c.want || set != c.set {
			t.Errorf("limit(%d, %v) = %d, %v; want %d, %v", c.total, c.ok, got, set, c.want, c.set)
		}
	}
}

// TestProcs: one processor, unless GOMAXPROCS says otherwise.
func TestProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(4)
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	Procs()
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS %d, want 1", n)
	}
	runtime.GOMAXPROCS(4)
	t.Setenv("GOMAXPROCS", "4")
	Procs()
	if n := runtime.GOMAXPROCS(0); n != 4 {
		t.Fatalf("GOMAXPROCS %d with GOMAXPROCS=4 in the environment", n)
	}
}
