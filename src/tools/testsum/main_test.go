package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goJSON = `{"Action":"start","Package":"x/a"}
{"Action":"run","Package":"x/a","Test":"TestOK"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"x/a","Test":"TestOK"}
{"Action":"run","Package":"x/a","Test":"TestSub"}
{"Action":"run","Package":"x/a","Test":"TestSub/one"}
{"Action":"pass","Package":"x/a","Test":"TestSub/one"}
{"Action":"pass","Package":"x/a","Test":"TestSub"}
{"Action":"run","Package":"x/a","Test":"TestRoot"}
{"Action":"output","Package":"x/a","Test":"TestRoot","Output":"    t.go:1: needs root\n"}
{"Action":"skip","Package":"x/a","Test":"TestRoot"}
{"Action":"output","Package":"x/a","Output":"PASS\n"}
{"Action":"output","Package":"x/a","Output":"ok  \tx/a\t0.1s\n"}
{"Action":"pass","Package":"x/a"}
{"Action":"run","Package":"x/b","Test":"TestBad"}
{"Action":"output","Package":"x/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"output","Package":"x/b","Test":"TestBad","Output":"    b.go:9: wrong\n"}
{"Action":"fail","Package":"x/b","Test":"TestBad"}
{"Action":"output","Package":"x/b","Output":"FAIL\n"}
{"Action":"output","Package":"x/b","Output":"FAIL\tx/b\t0.2s\n"}
{"Action":"fail","Package":"x/b"}
{"Action":"run","Package":"x/c","Test":"TestHang"}
{"Action":"output","Package":"x/c","Test":"TestHang","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"x/c","Output":"FAIL\tx/c\t1.0s\n"}
{"Action":"fail","Package":"x/c"}
{"Action":"output","Package":"x/d","Output":"?   \tx/d\t[no test files]\n"}
{"Action":"skip","Package":"x/d"}
{"Action":"start","Package":"x/f"}
`

func TestGoTests(t *testing.T) {
	var out bytes.Buffer
	c := goTests(strings.NewReader(goJSON+"# x/e\ne.go:1:1: syntax error\n"), &out)
	if c != (counts{passed: 3, failed: 3, skipped: 1}) {
		t.Errorf("counts %v", c)
	}
	want := "ok  \tx/a\t0.1s (1 skipped)\n--- FAIL: TestBad (0.00s)\n    b.go:9: wrong\nFAIL\nFAIL\tx/b\t0.2s\npanic: test timed out after 1s\nFAIL\tx/c\t1.0s\n?   \tx/d\t[no test files]\n# x/e\ne.go:1:1: syntax error\nFAIL\tx/f (no result)\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant\n%s", out.String(), want)
	}
}

func TestScriptChecks(t *testing.T) {
	tests := []struct {
		name, out string
		want      counts
		own       bool
	}{
		{"checks.bash", "ok   a\nFAIL b\nok   c\n3 checks, 1 failed\n", counts{passed: 2, failed: 1}, true},
		{"failfast.bash", "ok: a\nok: b\nFAIL: c\nsuite: 2 passed, 1 failed\n", counts{passed: 2, failed: 1}, true},
		{"lines only", "-- x\nok   a\nok   b\nFAIL c\n", counts{passed: 2, failed: 1}, true},
		{"skip", "SKIP: node is not installed\n", counts{skipped: 1}, true},
		{"nothing", "building\n", counts{}, false},
		{"a hung package retried", "FAIL\tx/c\t180s\nnote: again\nok  \tx/c\t1s\nok: mips: 3 packages pass\nqemu-cross: 1 passed, 0 failed\n", counts{passed: 1}, true},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c, own := scriptChecks(strings.NewReader(tt.out), &out)
		if c != tt.want || own != tt.own || out.String() != tt.out {
			t.Errorf("%s: %v %v, want %v %v", tt.name, c, own, tt.want, tt.own)
		}
	}
}

// TestRunAndTotal: the counts files of a run of each mode add up to the
// totals line; a command that fails with no test failed counts one.
func TestRunAndTotal(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	script := filepath.Join(t.TempDir(), "t.sh")
	os.WriteFile(script, []byte("echo 'ok   one'\necho 'FAIL two' >&2\necho '2 checks, 1 failed'\nexit 1\n"), 0o755)
	if code := run([]string{"script", filepath.Join(dir, "s1"), "--", "sh", script}, &out, &errb); code != 1 {
		t.Errorf("script: exit %d", code)
	}
	if code := run([]string{"script", filepath.Join(dir, "s2"), "--", "sh", "-c", "echo building; exit 3"}, &out, &errb); code != 3 {
		t.Errorf("script without checks: exit %d", code)
	}
	if code := run([]string{"step", filepath.Join(dir, "s3"), "gofmt", "--", "true"}, &out, &errb); code != 0 {
		t.Errorf("step: exit %d", code)
	}
	if code := run([]string{"go", filepath.Join(dir, "s4"), "--", "sh", "-c", "exit 1"}, &out, &errb); code != 1 {
		t.Errorf("go: exit %d", code)
	}
	_ = out
	out.Reset()
	if code := run([]string{"total", dir}, &out, &errb); code != 0 || out.String() != "2 passed, 3 failed, 0 skipped\n" {
		t.Errorf("total: exit %d, %q (%s)", code, out.String(), errb.String())
	}
}
