// Command manpage writes a man page (roff, man macros) from a program's
// --help text, so that the page and the help never differ:
//
//	knockd --help | manpage -name knockd -section 8 -title "port-knock daemon" \
//	    -version V -desc TEXT -see "knock(1)" > knockd.8
//
// The help text is read as the programs print it: the "usage:" lines
// become the SYNOPSIS; a line "heading:" at the start becomes a section;
// "label: text" at the start a section with that paragraph; an indented
// "tag  description" line (two spaces or more between them), with the
// lines indented further that follow it, a tagged paragraph; any other
// line is kept as it is.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

func main() {
	var o page
	flag.StringVar(&o.name, "name", "", "program name")
	flag.StringVar(&o.section, "section", "1", "manual section")
	flag.StringVar(&o.title, "title", "", "one-line description (NAME)")
	flag.StringVar(&o.version, "version", "", "version (footer)")
	flag.StringVar(&o.desc, "desc", "", "DESCRIPTION paragraphs (blank line between)")
	flag.StringVar(&o.files, "files", "", "FILES entries, \"path: text\" separated by ';'")
	flag.StringVar(&o.see, "see", "", "SEE ALSO")
	flag.Parse()
	if o.name == "" || o.title == "" {
		fmt.Fprintln(os.Stderr, "usage: manpage -name NAME -title TEXT [-section N] [-version V] [-desc TEXT] [-files LIST] [-see LIST] < help")
		os.Exit(2)
	}
	help, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manpage:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	o.write(w, string(help))
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "manpage:", err)
		os.Exit(1)
	}
}

type page struct {
	name, section, title, version, desc, files, see string
}

var (
	headingRe = regexp.MustCompile(`^([A-Za-z][^:]*):$`)
	labelRe   = regexp.MustCompile(`^([a-z]+):\s+(\S.*)$`)
	entryRe   = regexp.MustCompile(`^ {1,8}(\S.*?)(?: {2,}(\S.*))?$`)
)

// indent is a line's count of leading spaces.
func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// esc makes text safe for roff: backslashes, hyphens (so that options
// are typed as minus signs), and a control character at a line's start.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func (o page) write(w io.Writer, help string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(`.\" Generated from %s --help by src/tools/manpage: edit the help text, not this file.`, o.name)
	p(`.TH %s %s "" "knockd-go %s" "knockd-go"`, strings.ToUpper(o.name), o.section, o.version)
	p(".SH NAME")
	p(`%s \- %s`, esc(o.name), esc(o.title))
	lines := strings.Split(strings.TrimRight(help, "\n"), "\n")
	i := 0
	p(".SH SYNOPSIS")
	p(".nf")
	for ; i < len(lines) && (i == 0 || indent(lines[i]) > 0 && !headingRe.MatchString(lines[i])); i++ {
		p("%s", esc(strings.TrimSpace(strings.TrimPrefix(lines[i], "usage:"))))
	}
	p(".fi")
	if o.desc != "" {
		p(".SH DESCRIPTION")
		for _, para := range strings.Split(o.desc, "\n\n") {
			p(".PP")
			p("%s", esc(strings.TrimSpace(para)))
		}
	}
	verbatim := false
	setVerbatim := func(on bool) {
		if on != verbatim {
			if on {
				p(".PP")
				p(".nf")
			} else {
				p(".fi")
			}
			verbatim = on
		}
	}
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " ")
		switch {
		case l == "":
			setVerbatim(false)
		case headingRe.MatchString(l):
			setVerbatim(false)
			p(".SH %s", esc(strings.ToUpper(headingRe.FindStringSubmatch(l)[1])))
		case indent(l) == 0 && labelRe.MatchString(l):
			setVerbatim(false)
			m := labelRe.FindStringSubmatch(l)
			p(".SH %s", strings.ToUpper(m[1]))
			text := m[2]
			for i+1 < len(lines) && indent(lines[i+1]) == 0 && strings.TrimSpace(lines[i+1]) != "" && !headingRe.MatchString(lines[i+1]) && !labelRe.MatchString(lines[i+1]) {
				i++
				text += " " + strings.TrimSpace(lines[i])
			}
			p(".PP")
			p("%s", esc(text))
		default:
			m := entryRe.FindStringSubmatch(l)
			cont := i+1 < len(lines) && indent(lines[i+1]) >= 16 && indent(lines[i+1]) > indent(l)+2
			if m == nil || m[2] == "" && !cont {
				setVerbatim(true)
				p("%s", esc(strings.TrimSpace(l)))
				continue
			}
			setVerbatim(false)
			desc := m[2]
			for i+1 < len(lines) && indent(lines[i+1]) >= 16 && indent(lines[i+1]) > indent(l)+2 {
				i++
				desc = strings.TrimSpace(desc + " " + strings.TrimSpace(lines[i]))
			}
			p(".TP")
			p(`\fB%s\fR`, esc(m[1]))
			p("%s", esc(desc))
		}
	}
	setVerbatim(false)
	if o.files != "" {
		p(".SH FILES")
		for _, f := range strings.Split(o.files, ";") {
			path, text, _ := strings.Cut(strings.TrimSpace(f), ": ")
			p(".TP")
			p(`\fI%s\fR`, esc(path))
			p("%s", esc(text))
		}
	}
	if o.see != "" {
		p(".SH SEE ALSO")
		p("%s", esc(o.see))
	}
}
