package tune

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// programRSS returns the resident kB of this process's read-only
// mappings of its own program file (/proc/self/smaps).
func programRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kb, mine := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		fs := strings.Fields(l)
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && len(fs[1]) == 4 { // a mapping's line
			mine = len(fs) == 6 && fs[5] == exe && fs[1][1] != 'w'
			continue
		}
		if mine && len(fs) == 3 && fs[0] == "Rss:" {
			n, err := strconv.Atoi(fs[1])
			if err != nil {
				t.Fatalf("smaps: %q", l)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kb
}

// TestSettledGivesTheProgramBack: the program's code and read-only data
// that a process read leave it (the spawner's 4-5 MB of RSS on the 24Kc
// guest were mostly these), and the process runs on.
func TestSettledGivesTheProgramBack(t *testing.T) {
	if os.Getenv("KNOCKD_GO_TEST_EXEC") != "" {
		t.Skip("under qemu-user, which maps the program for the guest itself: the kernel's resident pages are not the guest's")
	}
	programRSS(t) // its own code resident, as it will be after
	before := programRSS(t)
	if before < 512 {
		t.Fatalf("only %d kB of the program resident before: nothing to measure", before)
	}
	n := settle(runtimeAuxv(), os.Getpagesize())
	after := programRSS(t)
	t.Logf("asked to drop %d kB; the program's resident pages %d kB before, %d kB after", n>>10, before, after)
	// What comes back is what the measurement itself and the runtime
	// run (the kernel maps 64 KiB around each page read): about half
	// of a test binary, where without settle all of it stays.
	if n < before<<10 || after > before*3/4 {
		t.Fatalf("asked to drop %d kB of %d kB resident; %d kB left, want less than three quarters", n>>10, before, after)
	}
}

// TestSettleIgnoresWhatItCannotUse: an auxiliary vector without the
// program headers, or with headers it cannot use, drops nothing.
func TestSettleIgnoresWhatItCannotUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		auxv []uintptr
	}{
		{"empty", nil},
		{"odd", []uintptr{atPhdr}},
		{"no AT_PHDR", []uintptr{atPhent, uintptr(phentSize), atPhnum, 3}},
		{"other headers", []uintptr{atPhdr, 4096, atPhent, 8, atPhnum, 3}},
		{"too many headers", []uintptr{atPhdr, 4096, atPhent, uintptr(phentSize), atPhnum, 1000}},
	} {
		if n := settle(tc.auxv, os.Getpagesize()); n != 0 {
			t.Errorf("%s: asked to drop %d bytes, want none", tc.name, n)
		}
	}
}
