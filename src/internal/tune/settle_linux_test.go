package tune

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// programRSS returns how much of this program's code and read-only data
// (its file's mappings that are not writable) is resident in this
// process, from /proc/self/smaps.
func programRSS(t *testing.T) (kb int) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("SKIP: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if m, ok := parseMapping(l); ok {
			in = m.path == exe && !m.write
			continue
		}
		if v, ok := strings.CutPrefix(l, "Rss:"); ok && in {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			kb += n
		}
	}
	return kb
}

// TestSettledGivesTheProgramBack: once started, a process keeps in
// memory only the parts of the program it runs again.
func TestSettledGivesTheProgramBack(t *testing.T) {
	before := programRSS(t)
	if before < 64 {
		t.Skipf("SKIP: /proc/self/smaps shows %d kB of the program resident (an emulator's)", before)
	}
	n, err := settle("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	after := programRSS(t)
	t.Logf("the program's read-only pages resident: %d kB before, %d kB after (%d kB advised)", before, after, n>>10)
	if n == 0 || after > before*3/4 {
		t.Fatalf("the program's read-only pages resident: %d kB before, %d kB after (%d kB advised)", before, after, n>>10)
	}
	// What was given back is read again from the file when it runs.
	if got, _ := memTotal(strings.NewReader("MemTotal: 1 kB\n")); got != 1024 {
		t.Fatalf("memTotal after settle: %d", got)
	}
}

func TestParseMapping(t *testing.T) {
	for _, c := range []struct {
		in   string
		want mapping
		ok   bool
	}{
		{"00400000-00452000 r-xp 00000000 08:02 173521      /usr/sbin/knockd", mapping{0x400000, 0x452000, false, true, "/usr/sbin/knockd"}, true},
		{"00651000-00652000 rw-p 00051000 08:02 173521      /usr/sbin/knockd", mapping{0x651000, 0x652000, true, true, "/usr/sbin/knockd"}, true},
		{"7f00-8000 r--s 00000000 00:05 4 /dev/shm/a b (deleted)", mapping{0x7f00, 0x8000, false, false, "/dev/shm/a b (deleted)"}, true},
		{"7fd5b000-7fd7c000 rw-p 00000000 00:00 0                          [stack]", mapping{0x7fd5b000, 0x7fd7c000, true, true, "[stack]"}, true},
		{"c0000000-c4000000 rw-p 00000000 00:00 0 ", mapping{0xc0000000, 0xc4000000, true, true, ""}, true},
		{"Rss:                 120 kB", mapping{}, false},
		{"8000-7000 r-xp 00000000 08:02 1 /x", mapping{}, false},
		{"zz-8000 r-xp 00000000 08:02 1 /x", mapping{}, false},
		{"7000-8000 r-x 00000000 08:02 1 /x", mapping{}, false},
		{"", mapping{}, false},
	} {
		got, ok := parseMapping(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseMapping(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseMapping(f *testing.F) {
	f.Add("00400000-00452000 r-xp 00000000 08:02 173521      /usr/sbin/knockd")
	f.Add("7f00-8000 r--s 00000000 00:05 4 /dev/shm/a b (deleted)")
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseMapping(s)
		if ok && m.end <= m.start {
			t.Fatalf("parseMapping(%q) = %+v: empty range accepted", s, m)
		}
	})
}
