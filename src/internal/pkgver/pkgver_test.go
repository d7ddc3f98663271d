package pkgver

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCompareOpkg(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0-1", "1.0-1", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.0-10", "1.0-9", 1},
		{"1.0", "1.0+1", -1},
		{"0.1.0+9.gffffff-1", "0.1.0+10.g000000-1", -1},
		{"0.1.0+171.gc64c8e0-1", "0.1.0+171.gc64c8e0.dirty-1", -1},
		{"1.0~rc1-1", "1.0-1", -1},
		{"1.0a-1", "1.0+-1", -1},
		{"1:0.1-1", "2.0-1", 1},
		{"1.2.0+3.gabc-1", "1.2.1-1", -1},
	} {
		if got := CompareOpkg(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareOpkg(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareOpkg(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareOpkg(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestCompareAPK(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0-r1", "1.0-r1", 0},
		{"1.0-r1", "1.0-r2", -1},
		{"1.0", "1.0_p1", -1},
		{"1.0_rc1", "1.0", -1},
		{"0.1.0_p9-r1", "0.1.0_p10-r1", -1},
		{"1.2.0_p3-r1", "1.2.1-r1", -1},
		{"1.2", "1.2.0", -1},
		{"1.2a", "1.2b", -1},
	} {
		a, err := ParseAPK(tt.a)
		if err != nil {
			t.Fatalf("%q: %v", tt.a, err)
		}
		b, err := ParseAPK(tt.b)
		if err != nil {
			t.Fatalf("%q: %v", tt.b, err)
		}
		if got := CompareAPK(a, b); got != tt.want {
			t.Errorf("CompareAPK(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{"", "v1.0", "1.0+g123-r1", "1.0-1", "1.0_foo", "1..0", "0.1.0-gc64c8e0-r1"} {
		if _, err := ParseAPK(bad); err == nil {
			t.Errorf("ParseAPK(%q): no error", bad)
		}
	}
}

// successive are builds in commit order: untagged commits, a tag, commits
// after it, a dirty tree, the next tag. Each later build must be a newer
// version for opkg and for apk.
var successive = []string{
	"0.1.0-9-gffffff0", "0.1.0-10-g0000001", "0.1.0-171-gc64c8e0", "0.1.0-171-gc64c8e0-dirty",
	"v0.1.1", "v0.1.1-1-gabcdef0", "v0.1.1-2-g0123456", "v0.2.0", "v1.0.0", "v1.0.0-1-g1111111",
}

// PkgVersions returns the .ipk and .apk versions scripts/cross.sh
// --pkg-version gives the embedded version v.
func pkgVersions(t *testing.T, v string) (ipk, apk string) {
	t.Helper()
	root, _ := filepath.Abs("../../..")
	get := func(kind string) string {
		cmd := exec.Command("bash", filepath.Join(root, "scripts/cross.sh"), "--pkg-version", kind, "1")
		cmd.Env = append(os.Environ(), "VERSION="+v)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cross.sh --pkg-version %s (VERSION=%s): %v\n%s", kind, v, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	return get("ipk"), get("apk")
}

// TestSuccessiveBuilds: the versions of successive builds are valid and
// ordered under both tools' rules (a dirty tree is the same apk version
// as its commit: apk has no place for it).
func TestSuccessiveBuilds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("runs scripts/cross.sh")
	}
	var prevIpk, prevApk string
	for i, v := range successive {
		ipk, apk := pkgVersions(t, v)
		if err := ValidOpkg(ipk); err != nil {
			t.Errorf("%s: ipk %q: %v", v, ipk, err)
		}
		a, err := ParseAPK(apk)
		if err != nil {
			t.Errorf("%s: apk %q: %v", v, apk, err)
			continue
		}
		t.Logf("%-26s ipk %-28s apk %s", v, ipk, apk)
		if i > 0 {
			if CompareOpkg(prevIpk, ipk) >= 0 {
				t.Errorf("opkg: %s is not newer than %s", ipk, prevIpk)
			}
			p, _ := ParseAPK(prevApk)
			c := CompareAPK(p, a)
			if c > 0 || c == 0 && !strings.HasSuffix(v, "-dirty") {
				t.Errorf("apk: %s is not newer than %s", apk, prevApk)
			}
		}
		prevIpk, prevApk = ipk, apk
	}
}
