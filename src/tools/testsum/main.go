// Command testsum counts the tests of every tier of `make test` and
// prints the totals line that ends it.
//
//	testsum go FILE -- go test -json ...   run go test, print its output as
//	                                       go test prints it without -json,
//	                                       count every test and subtest
//	testsum script FILE -- bash t.sh      run a script test, print its
//	                                       output, count its checks
//	testsum step FILE NAME -- CMD...       run a command, one check
//	testsum total DIR                      print "N passed, N failed, N skipped"
//
// Each run writes its counts to FILE ("passed failed skipped") and exits
// with the command's status (1 when a test failed though it exited 0).
// A script's counts are its own: its summary line ("N checks, M failed"
// of scripts/test/lib/checks.bash, "SUITE: N passed, M failed" of
// failfast.bash), else its "ok"/"FAIL" lines; a script that printed only
// "SKIP: reason" is one skipped check, one that printed none of these one
// check passed or failed by its exit status.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// counts are a tier's results.
type counts struct{ passed, failed, skipped int }

func (c *counts) add(o counts) {
	c.passed += o.passed
	c.failed += o.failed
	c.skipped += o.skipped
}

func (c counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.passed, c.failed, c.skipped)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintln(stderr, "usage: testsum go|script FILE -- CMD... | testsum step FILE NAME -- CMD... | testsum total DIR")
		return 2
	}
	if len(args) == 2 && args[0] == "total" {
		c, err := total(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "testsum: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, c)
		return 0
	}
	if len(args) < 4 {
		return usage()
	}
	mode, file, rest := args[0], args[1], args[2:]
	name := ""
	if mode == "step" {
		name, rest = rest[0], rest[1:]
	}
	if len(rest) < 2 || rest[0] != "--" {
		return usage()
	}
	cmd := exec.Command(rest[1], rest[2:]...)
	cmd.Stdin = os.Stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	if mode == "go" {
		cmd.Stderr = stderr
	} else {
		cmd.Stderr = cmd.Stdout // one stream, in order
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	var c counts
	own := true // the command reported its tests itself
	switch mode {
	case "go":
		c = goTests(out, stdout)
	case "script":
		c, own = scriptChecks(out, stdout)
	case "step":
		_, _ = io.Copy(stdout, out)
	default:
		return usage()
	}
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	switch {
	case mode == "step" && code == 0, !own && code == 0:
		c = counts{passed: 1}
	case mode == "step", !own:
		c = counts{failed: 1}
		if name == "" {
			name = strings.Join(rest[1:], " ")
		}
		fmt.Fprintf(stdout, "FAIL %s (exit status %d)\n", name, code)
	case code != 0 && c.failed == 0:
		c.failed++ // it failed in a way no test reported
	case code == 0 && c.failed > 0:
		code = 1
	}
	if err := os.WriteFile(file, []byte(fmt.Sprintf("%d %d %d\n", c.passed, c.failed, c.skipped)), 0o644); err != nil {
		fmt.Fprintf(stderr, "testsum: %v\n", err)
		return 1
	}
	return code
}

// event is one line of go test -json.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// goTests reads go test -json, prints what go test prints without it
// (the package lines, and the output of failed tests and packages) and
// counts the tests: every test and subtest that passed, failed or was
// skipped, and a package that failed with no test failed (a build error,
// a timeout) as one failure.
func goTests(r io.Reader, w io.Writer) counts {
	var c counts
	type pkg struct {
		out     map[string][]string // per test ("" the package's own lines)
		failed  bool                // a test of it failed
		skipped int
		started bool // go test began to run it
	}
	pkgs := map[string]*pkg{}
	get := func(name string) *pkg {
		p := pkgs[name]
		if p == nil {
			p = &pkg{out: map[string][]string{}}
			pkgs[name] = p
		}
		return p
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line) // not an event: a build error
			continue
		}
		p := get(e.Package)
		switch e.Action {
		case "start", "run":
			p.started = true
		case "build-output": // go 1.24+: a build error, before the package's fail
			io.WriteString(w, e.Output)
		case "output":
			p.out[e.Test] = append(p.out[e.Test], e.Output)
		case "pass", "fail", "skip":
			if e.Test != "" {
				switch e.Action {
				case "pass":
					c.passed++
				case "fail":
					c.failed++
					p.failed = true
					for _, l := range p.out[e.Test] {
						io.WriteString(w, l)
					}
				case "skip":
					c.skipped++
					p.skipped++
				}
				delete(p.out, e.Test)
				continue
			}
			if e.Action == "fail" && !p.failed {
				c.failed++ // a build error, a panic, a timeout
				for t, ls := range p.out {
					if t != "" {
						for _, l := range ls {
							io.WriteString(w, l)
						}
					}
				}
			}
			for _, l := range p.out[""] {
				if l == "PASS\n" || l == "testing: warning: no tests to run\n" {
					continue
				}
				if strings.HasPrefix(l, "ok ") && p.skipped > 0 {
					l = strings.TrimSuffix(l, "\n") + fmt.Sprintf(" (%d skipped)\n", p.skipped)
				}
				io.WriteString(w, l)
			}
			delete(pkgs, e.Package)
		}
	}
	// A package whose end never came (go test killed).
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !pkgs[n].started {
			continue
		}
		c.failed++
		fmt.Fprintf(w, "FAIL\t%s (no result)\n", n)
	}
	return c
}

var (
	checksLine   = regexp.MustCompile(`^(\d+) checks, (\d+) failed$`)
	failfastLine = regexp.MustCompile(`^[\w.-]+: (\d+) passed, (\d+) failed$`)
	okLine       = regexp.MustCompile(`^ok(:|   )`)
	failLine     = regexp.MustCompile(`^FAIL(:| )`)
	skipLine     = regexp.MustCompile(`^(SKIP|skip): `)
)

// scriptChecks copies a script's output and counts its checks; own is
// false when it reported none (nor a skip).
func scriptChecks(r io.Reader, w io.Writer) (c counts, own bool) {
	var lines, summary counts
	haveSummary, skips := false, 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		fmt.Fprintln(w, l)
		if m := checksLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			f, _ := strconv.Atoi(m[2])
			summary.add(counts{passed: n - f, failed: f})
			haveSummary = true
			continue
		}
		if m := failfastLine.FindStringSubmatch(l); m != nil {
			p, _ := strconv.Atoi(m[1])
			f, _ := strconv.Atoi(m[2])
			summary.add(counts{passed: p, failed: f})
			haveSummary = true
			continue
		}
		switch {
		case okLine.MatchString(l):
			lines.passed++
		case failLine.MatchString(l):
			lines.failed++
		case skipLine.MatchString(l):
			skips++
		}
	}
	c = lines
	if haveSummary {
		c = summary
	}
	if c.passed+c.failed == 0 {
		if skips == 0 {
			return c, false // no checks of its own: the exit status is the check
		}
		c.skipped = 1
	}
	return c, true
}

// total sums the count files of dir.
func total(dir string) (counts, error) {
	var c counts
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return c, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return c, err
		}
		var t counts
		if _, err := fmt.Sscanf(string(b), "%d %d %d", &t.passed, &t.failed, &t.skipped); err != nil {
			return c, fmt.Errorf("%s: %v", f, err)
		}
		c.add(t)
	}
	return c, nil
}
