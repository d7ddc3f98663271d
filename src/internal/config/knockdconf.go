package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Error is a configuration error at a place in a file.
type Error struct {
	_     [0]func() // not comparable: no equality function in the binary
	File  string
	Line  int    // 0 when the error concerns the whole file
	Door  string // empty for [options] or file-level errors
	Field string // directive name as written, if any
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Door != "" {
		fmt.Fprintf(&b, "door %q: ", e.Door)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "%s: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// MaxLineLength bounds one line of knockd.conf. knockd 0.8 split longer
// lines silently at 4095 bytes; we accept up to 64 KiB and reject more.
const MaxLineLength = 64 << 10

// Load reads and validates a knockd.conf file.
func Load(path string) (*Config, error) { return load(path, Parse) }

// Parse reads knockd.conf syntax from r; name is used in errors. It reads
// the whole file and returns every error found (an Errors when there are
// several), each with its line and field.
func Parse(name string, r io.Reader) (*Config, error) {
	p := &confParser{c: &Config{File: name, Options: newOptions()}, name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLineLength)
	for sc.Scan() {
		p.line++
		raw := sc.Bytes()
		if bytes.IndexByte(raw, 0) >= 0 {
			p.fail("", errors.New("NUL byte in line"))
			continue
		}
		s := strings.TrimSpace(string(raw))
		switch {
		case s == "" || s[0] == '#':
		case s[0] == '[':
			if !p.section(s) {
				return nil, Join(p.errs...)
			}
		default:
			p.directive(s)
		}
	}
	if err := sc.Err(); err != nil {
		p.line++
		if errors.Is(err, bufio.ErrTooLong) {
			p.fail("", fmt.Errorf("line longer than %d bytes", MaxLineLength))
		} else {
			p.errs = append(p.errs, &Error{File: name, Err: err})
		}
		return nil, Join(p.errs...)
	}
	p.endDoor()
	if len(p.errs) > 0 {
		return nil, Join(p.errs...)
	}
	if len(p.c.Doors) == 0 {
		return nil, &Error{File: name, Err: errors.New("no doors defined")}
	}
	return p.c, nil
}

// confParser is the state of Parse.
type confParser struct {
	c          *Config
	name       string // the file's, for errors
	errs       []error
	line       int
	door       *Door // the door section being read; nil in [options]
	doorFailed bool  // door had an error: its own checks would only repeat it
	inOptions  bool
	doors      int
}

// fail records an error of the current line.
func (p *confParser) fail(field string, err error) {
	e := &Error{File: p.name, Line: p.line, Field: field, Err: err}
	if p.door != nil {
		e.Door = p.door.Name
		p.doorFailed = true
	}
	p.errs = append(p.errs, e)
}

// endDoor checks and keeps the door being read, if any.
func (p *confParser) endDoor() {
	if p.door != nil && !p.doorFailed {
		if err := finishDoor(p.c, p.door); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	p.door, p.doorFailed = nil, false
}

// section starts the section of the header s ("[name]"). It returns false
// when there are too many doors to read on.
func (p *confParser) section(s string) bool {
	p.endDoor()
	p.inOptions = false
	if !strings.HasSuffix(s, "]") {
		p.fail("", fmt.Errorf("section header %q has no closing ]", s))
		p.door, p.doorFailed = newDoor(strings.TrimSpace(s[1:]), p.name, p.line), true
		return true
	}
	sec := strings.TrimSpace(s[1 : len(s)-1])
	if sec == "" {
		p.fail("", errors.New("bad section name"))
		p.door, p.doorFailed = newDoor("", p.name, p.line), true
		return true
	}
	if sec == "options" {
		p.inOptions = true
		return true
	}
	if p.doors++; p.doors > maxDoors {
		p.fail("", fmt.Errorf("more than %d doors", maxDoors))
		return false
	}
	p.door = newDoor(sec, p.name, p.line)
	return true
}

// directive applies the line s, "key = value", to the section being read.
func (p *confParser) directive(s string) {
	key, val, hasEq := strings.Cut(s, "=")
	key = strings.ToUpper(strings.TrimSpace(key))
	val = strings.TrimSpace(val)
	field := strings.TrimSpace(strings.SplitN(s, "=", 2)[0])
	if p.door == nil && !p.inOptions {
		p.fail(field, errors.New("all directives must belong to a section"))
		return
	}
	if !hasEq && key != "USESYSLOG" {
		p.fail(field, errors.New("syntax error: want key = value"))
		return
	}
	if key == "USESYSLOG" {
		// knockd accepts a bare UseSyslog in any section.
		if err := optionDirectives.set(&p.c.Options, key, val, false); err != nil {
			p.fail(field, commentHint(err, val))
		}
		return
	}
	var warn bool
	var err error
	if p.inOptions {
		warn, err = apply(optionDirectives, &p.c.Options, key, field, val, false, "directive in [options]")
	} else {
		p.door.saw(key, field, p.line)
		warn, err = apply(doorDirectives, p.door, key, field, val, false, "directive in door")
	}
	if err != nil {
		p.fail(field, err)
	} else if warn {
		w := &Error{File: p.name, Line: p.line, Field: field, Err: errInlineComment}
		if p.door != nil {
			w.Door = p.door.Name
		}
		p.c.Warnings = append(p.c.Warnings, w)
	}
}

// unknown is the error of an unknown directive, with the nearest known
// one as a suggestion.
func unknown(what, field string, names []string) error {
	if s := suggest(field, names); s != "" {
		return fmt.Errorf("unknown %s (did you mean %s?)", what, s)
	}
	return fmt.Errorf("unknown %s", what)
}

func finishDoor(c *Config, d *Door) error {
	if err := finish(d); err != nil {
		return &Error{File: d.File, Line: d.Line, Door: d.Name, Err: err}
	}
	c.Doors = append(c.Doors, d)
	return nil
}
