//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docExample is a configuration shown in the documentation.
type docExample struct {
	where string // file:line
	uci   bool
	text  string
}

var (
	sectionRe = regexp.MustCompile(`(?m)^\s*\[[^\]\s]+\]\s*$`)
	uciRe     = regexp.MustCompile(`(?m)^config (knockd|door)\b`)
)

// docExamples extracts the configuration blocks of a Markdown file: the
// indented and fenced code blocks that are knockd.conf (a [section] and a
// directive) or UCI (config knockd / config door).
func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []docExample
	add := func(start int, block []string) {
		text := strings.Join(block, "\n") + "\n"
		ex := docExample{where: path + ":" + strconv.Itoa(start+1), text: text}
		switch {
		case uciRe.MatchString(text):
			ex.uci = true
		case sectionRe.MatchString(text) && strings.Contains(text, "="):
		default:
			return
		}
		out = append(out, ex)
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			j := i + 1
			var block []string
			for ; j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), "```"); j++ {
				block = append(block, strings.TrimPrefix(lines[j], indent))
			}
			add(i+1, block)
			i = j
			continue
		}
		if strings.HasPrefix(l, "    ") && (i == 0 || strings.TrimSpace(lines[i-1]) == "") {
			j := i
			var block []string
			for ; j < len(lines) && (strings.HasPrefix(lines[j], "    ") || strings.TrimSpace(lines[j]) == ""); j++ {
				block = append(block, strings.TrimPrefix(lines[j], "    "))
			}
			add(i, block)
			i = j - 1
		}
	}
	return out
}

// TestDocsExamplesPassCheck: every configuration in README.md and docs/
// (Markdown blocks, knockd.conf and UCI alike, and the example files) is
// one a user can paste: knockd -k accepts it without an inline-comment
// warning. A program the machine lacks (a sendmail) is only a warning.
func TestDocsExamplesPassCheck(t *testing.T) {
	md, _ := filepath.Glob("../../../docs/*.md")
	md = append([]string{"../../../README.md"}, md...)
	var all []docExample
	for _, f := range md {
		all = append(all, docExamples(t, f)...)
	}
	for _, f := range []string{"../../../docs/knockd.conf.example", "../../../docs/knockd.conf.minimal"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, docExample{where: f, text: string(b)})
	}
	b, err := os.ReadFile("../../../files/etc/config/knockd")
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, docExample{where: "files/etc/config/knockd", uci: true, text: string(b)})
	if len(all) < 7 {
		t.Fatalf("found only %d examples", len(all))
	}
	dir := t.TempDir()
	for i, ex := range all {
		path := filepath.Join(dir, "example"+strconv.Itoa(i))
		if err := os.WriteFile(path, []byte(ex.text), 0o644); err != nil {
			t.Fatal(err)
		}
		flag := "-c"
		if ex.uci {
			flag = "-u"
		}
		var out, errb bytes.Buffer
		code := run([]string{"-k", flag, path}, &out, &errb, nil)
		var bad []string
		for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
			if l != "" && !regexp.MustCompile(`^knockd: warning: .*: (sendmail|(start|stop)_command(_6)?|command): program .* (does not exist|is not executable|not found in .*)$`).MatchString(l) {
				bad = append(bad, l)
			}
		}
		if code != 0 || len(bad) > 0 {
			t.Errorf("%s: knockd -k %s: exit %d\n%s\n%s", ex.where, flag, code, strings.Join(bad, "\n"), ex.text)
		} else {
			t.Logf("%s: %s", ex.where, strings.TrimSpace(out.String()))
		}
	}
}
