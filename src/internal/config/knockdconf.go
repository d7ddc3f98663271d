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
func Load(path string) (*Config, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads knockd.conf syntax from r; name is used in errors. It reads
// the whole file and returns every error found (an Errors when there are
// several), each with its line and field.
func Parse(name string, r io.Reader) (*Config, error) {
	c := &Config{File: name, Options: newOptions()}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLineLength)
	var errs []error
	var door *Door
	doorFailed := false // door had an error: its own checks would only repeat it
	inOptions := false
	line, doors := 0, 0
	fail := func(field string, err error) {
		e := &Error{File: name, Line: line, Field: field, Err: err}
		if door != nil {
			e.Door = door.Name
			doorFailed = true
		}
		errs = append(errs, e)
	}
	endDoor := func() {
		if door != nil && !doorFailed {
			if err := finishDoor(c, door); err != nil {
				errs = append(errs, err)
			}
		}
		door, doorFailed = nil, false
	}
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if bytes.IndexByte(raw, 0) >= 0 {
			fail("", errors.New("NUL byte in line"))
			continue
		}
		s := strings.TrimSpace(string(raw))
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			endDoor()
			inOptions = false
			if !strings.HasSuffix(s, "]") {
				fail("", fmt.Errorf("section header %q has no closing ]", s))
				door, doorFailed = newDoor(strings.TrimSpace(s[1:]), name, line), true
				continue
			}
			sec := strings.TrimSpace(s[1 : len(s)-1])
			if sec == "" {
				fail("", errors.New("bad section name"))
				door, doorFailed = newDoor("", name, line), true
				continue
			}
			if sec == "options" {
				inOptions = true
				continue
			}
			if doors++; doors > maxDoors {
				fail("", fmt.Errorf("more than %d doors", maxDoors))
				return nil, Join(errs...)
			}
			door = newDoor(sec, name, line)
			continue
		}
		key, val, hasEq := strings.Cut(s, "=")
		key = strings.ToUpper(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		field := strings.TrimSpace(strings.SplitN(s, "=", 2)[0])
		if door == nil && !inOptions {
			fail(field, errors.New("all directives must belong to a section"))
			continue
		}
		if !hasEq && key != "USESYSLOG" {
			fail(field, errors.New("syntax error: want key = value"))
			continue
		}
		if key == "USESYSLOG" {
			// knockd accepts a bare UseSyslog in any section.
			if err := setOption(&c.Options, key, val); err != nil {
				fail(field, commentHint(err, val))
			}
			continue
		}
		var err error
		if inOptions {
			err = setOption(&c.Options, key, val)
		} else {
			door.saw(key, field, line)
			err = setDoor(door, key, val)
		}
		if errors.Is(err, errUnknown) {
			where, names := "door", doorNames
			if inOptions {
				where, names = "[options]", optionNames
			}
			err = unknown("directive in "+where, field, names)
		}
		if err != nil {
			fail(field, commentHint(err, val))
		} else if inlineComment(val) {
			w := &Error{File: name, Line: line, Field: field, Err: errInlineComment}
			if door != nil {
				w.Door = door.Name
			}
			c.Warnings = append(c.Warnings, w)
		}
	}
	if err := sc.Err(); err != nil {
		line++
		if errors.Is(err, bufio.ErrTooLong) {
			fail("", fmt.Errorf("line longer than %d bytes", MaxLineLength))
		} else {
			errs = append(errs, &Error{File: name, Err: err})
		}
		return nil, Join(errs...)
	}
	endDoor()
	if len(errs) > 0 {
		return nil, Join(errs...)
	}
	if len(c.Doors) == 0 {
		return nil, &Error{File: name, Err: errors.New("no doors defined")}
	}
	return c, nil
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
