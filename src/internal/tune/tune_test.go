package tune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TestRAMTotal: the memory the limit is taken from is MemTotal of
// /proc/meminfo.
func TestRAMTotal(t *testing.T) {
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		t.Skip("under qemu-user, whose sysinfo(2) for a 32-bit guest cuts the host's memory to 32 bits where a kernel scales mem_unit")
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var kb uint64
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			kb, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	got, ok := ramTotal()
	if !ok || kb == 0 || got != kb<<10 {
		t.Fatalf("ramTotal() = %d, %v; /proc/meminfo's MemTotal is %d kB", got, ok, kb)
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

// TestSpawner: the spawner's collector setting, unless GOGC says
// otherwise.
func TestSpawner(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	Spawner()
	if got := debug.SetGCPercent(100); got != SpawnerGC {
		t.Fatalf("GOGC %d after Spawner, want %d", got, SpawnerGC)
	}
	t.Setenv("GOGC", "100")
	Spawner()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC %d after Spawner with GOGC=100 in the environment, want 100", got)
	}
}
