// Package pkgver holds the version rules of OpenWrt's two package managers,
// as their sources define them, so the packaging scripts' versions can be
// checked without the tools: opkg's (libopkg/pkg.c: pkg_compare_versions,
// Debian's verrevcmp over epoch:upstream-revision) and apk-tools 3's
// (src/internal/version.c: digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]).
package pkgver

import (
	"errors"
	"strconv"
	"strings"
)

// ValidOpkg reports whether v can be an .ipk version: opkg parses any
// string, but the file name NAME_VERSION_ARCH.ipk and the feed's index
// need one without '_', spaces or control bytes, starting with a digit.
func ValidOpkg(v string) error {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return errors.New("must start with a digit")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '_' || c <= ' ' || c >= 0x7f {
			return errors.New("must not hold '_', spaces or control bytes")
		}
	}
	return nil
}

// CompareOpkg compares two versions as opkg does: epoch (before ':')
// numerically, then upstream and revision (split at the last '-') with
// verrevcmp. It returns -1, 0 or 1.
func CompareOpkg(a, b string) int {
	ea, ua, ra := splitOpkg(a)
	eb, ub, rb := splitOpkg(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func splitOpkg(v string) (epoch int, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, _ = strconv.Atoi(v[:i])
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// order is verrevcmp's weight of a character: '~' before the end, the end
// before letters, letters before everything else.
func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c != 0:
		return int(c) + 256
	}
	return 0
}

func verrevcmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		first := 0
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if i < len(a) && isDigit(a[i]) {
				ac = 0
			}
			if j < len(b) && isDigit(b[j]) {
				bc = 0
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for at(a, i) == '0' {
			i++
		}
		for at(b, j) == '0' {
			j++
		}
		for isDigit(at(a, i)) && isDigit(at(b, j)) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if isDigit(at(a, i)) {
			return 1
		}
		if isDigit(at(b, j)) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// apk-tools' suffixes in order; "" (none) sits between pre-releases and
// post-releases.
var apkSuffixes = []string{"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"}

type apkVersion struct {
	nums   []uint64
	letter byte
	suf    []apkSuffix
	hash   string
	rev    uint64
}

type apkSuffix struct {
	rank int
	n    uint64
}

// ParseAPK parses v under apk-tools' rules; an error when apk would call it
// invalid.
func ParseAPK(v string) (apkVersion, error) {
	var p apkVersion
	bad := errors.New("not digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]")
	num := func() (uint64, bool) {
		i := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(v[:i], 10, 64)
		v = v[i:]
		return n, err == nil
	}
	n, ok := num()
	if !ok {
		return p, bad
	}
	p.nums = append(p.nums, n)
	for strings.HasPrefix(v, ".") {
		v = v[1:]
		if n, ok = num(); !ok {
			return p, bad
		}
		p.nums = append(p.nums, n)
	}
	if v != "" && v[0] >= 'a' && v[0] <= 'z' {
		p.letter, v = v[0], v[1:]
	}
	for strings.HasPrefix(v, "_") {
		v = v[1:]
		rank := -1
		for r, s := range apkSuffixes {
			if s != "" && strings.HasPrefix(v, s) && (rank < 0 || len(s) > len(apkSuffixes[rank])) {
				rank = r
			}
		}
		if rank < 0 {
			return p, bad
		}
		v = v[len(apkSuffixes[rank]):]
		s := apkSuffix{rank: rank}
		if v != "" && v[0] >= '0' && v[0] <= '9' {
			s.n, _ = num()
		}
		p.suf = append(p.suf, s)
	}
	if strings.HasPrefix(v, "~") {
		i := 1
		for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] >= 'a' && v[i] <= 'f') {
			i++
		}
		if i == 1 {
			return p, bad
		}
		p.hash, v = v[1:i], v[i:]
	}
	if strings.HasPrefix(v, "-r") {
		v = v[2:]
		if p.rev, ok = num(); !ok {
			return p, bad
		}
	}
	if v != "" {
		return p, bad
	}
	return p, nil
}

// CompareAPK compares two valid apk versions: the numbers, the letter, the
// suffixes (none between pre- and post-releases), the hash, the revision.
func CompareAPK(a, b apkVersion) int {
	for i := 0; i < len(a.nums) || i < len(b.nums); i++ {
		switch {
		case i >= len(a.nums):
			return -1
		case i >= len(b.nums):
			return 1
		case a.nums[i] != b.nums[i]:
			return cmpU(a.nums[i], b.nums[i])
		}
	}
	if a.letter != b.letter {
		return sign(int(a.letter) - int(b.letter))
	}
	none := apkSuffix{rank: 4}
	for i := 0; i < len(a.suf) || i < len(b.suf); i++ {
		x, y := none, none
		if i < len(a.suf) {
			x = a.suf[i]
		}
		if i < len(b.suf) {
			y = b.suf[i]
		}
		if x.rank != y.rank {
			return sign(x.rank - y.rank)
		}
		if x.n != y.n {
			return cmpU(x.n, y.n)
		}
	}
	if a.hash != b.hash {
		return strings.Compare(a.hash, b.hash)
	}
	return cmpU(a.rev, b.rev)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
