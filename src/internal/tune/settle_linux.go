package tune

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Settled gives back the program's pages that this process read while
// it started: call it once the process serves, and again after a
// reload. Until then it has run code it will not run again (the
// configuration's parser, the checks, each package's set-up), and the
// kernel maps the pages around each one it reads (64 KiB at a time):
// both knockd-go processes, the daemon and its spawner, held most of the
// 4 MB program in memory (a router's RSS of 4-5 MB each, for 1-2 MB the
// packet path and the spawner's loop run). The code and read-only data
// of the program are mapped from its file and never written: they are
// dropped from the process (madvise MADV_DONTNEED), and what the process
// runs afterwards is read back from the page cache (or the flash) when
// it first runs. Errors are ignored: the pages then stay.
func Settled() { _, _ = settle("/proc/self/maps") }

// settle drops the program's read-only mappings listed in the maps file
// and returns how many bytes it asked the kernel to drop.
func settle(maps string) (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open(maps)
	if err != nil {
		return 0, err
	}
	var drop []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := parseMapping(sc.Text()); ok && m.path == exe && !m.write && m.private {
			drop = append(drop, m)
		}
	}
	err = sc.Err()
	f.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range drop {
		if madviseDontNeed(m.start, m.end-m.start) == nil {
			n += int(m.end - m.start)
		}
	}
	return n, nil
}

// mapping is a line of /proc/PID/maps.
type mapping struct {
	start, end uintptr
	write      bool   // w
	private    bool   // p, not s
	path       string // "" for an anonymous mapping
}

// parseMapping parses a line of /proc/PID/maps:
// "START-END PERMS OFFSET DEV INODE   PATH", PATH possibly with spaces.
func parseMapping(l string) (mapping, bool) {
	var f [5]string
	rest := l
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < len(f)-1 {
				return mapping{}, false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	perms := f[1]
	if err1 != nil || err2 != nil || end <= start || uint64(uintptr(end)) != end || len(perms) != 4 {
		return mapping{}, false
	}
	return mapping{start: uintptr(start), end: uintptr(end), write: perms[1] == 'w', private: perms[3] == 'p',
		path: strings.TrimLeft(rest, " ")}, true
}
