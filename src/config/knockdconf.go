package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads knockd.conf syntax from r; name is used in errors.
func Parse(name string, r io.Reader) (*Config, error) {
	c := &Config{File: name, Options: newOptions()}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLineLength)
	var door *Door
	inOptions := false
	line := 0
	fail := func(field string, err error) error {
		e := &Error{File: name, Line: line, Field: field, Err: err}
		if door != nil {
			e.Door = door.Name
		}
		return e
	}
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if bytes.IndexByte(raw, 0) >= 0 {
			return nil, fail("", errors.New("NUL byte in line"))
		}
		s := strings.TrimSpace(string(raw))
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			if !strings.HasSuffix(s, "]") {
				return nil, fail("", fmt.Errorf("section header %q has no closing ]", s))
			}
			sec := strings.TrimSpace(s[1 : len(s)-1])
			if sec == "" {
				door = nil
				return nil, fail("", errors.New("bad section name"))
			}
			if door != nil {
				if err := finishDoor(c, door); err != nil {
					return nil, err
				}
			}
			if sec == "options" {
				door, inOptions = nil, true
				continue
			}
			if len(c.Doors) >= maxDoors {
				return nil, fail("", fmt.Errorf("more than %d doors", maxDoors))
			}
			door, inOptions = newDoor(sec, name, line), false
			continue
		}
		key, val, hasEq := strings.Cut(s, "=")
		key = strings.ToUpper(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		field := strings.TrimSpace(strings.SplitN(s, "=", 2)[0])
		if door == nil && !inOptions {
			return nil, fail(field, errors.New("all directives must belong to a section"))
		}
		if !hasEq && key != "USESYSLOG" {
			return nil, fail(field, errors.New("syntax error: want key = value"))
		}
		if key == "USESYSLOG" {
			// knockd accepts a bare UseSyslog in any section.
			if err := setOption(&c.Options, key, val); err != nil {
				return nil, fail(field, err)
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
			where := "door"
			if inOptions {
				where = "[options]"
			}
			return nil, fail(field, fmt.Errorf("unknown directive in %s", where))
		}
		if err != nil {
			return nil, fail(field, err)
		}
	}
	if err := sc.Err(); err != nil {
		line++
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fail("", fmt.Errorf("line longer than %d bytes", MaxLineLength))
		}
		return nil, &Error{File: name, Err: err}
	}
	if door != nil {
		if err := finishDoor(c, door); err != nil {
			return nil, err
		}
	}
	if len(c.Doors) == 0 {
		return nil, &Error{File: name, Err: errors.New("no doors defined")}
	}
	return c, nil
}

func finishDoor(c *Config, d *Door) error {
	if err := finish(d); err != nil {
		return &Error{File: d.File, Line: d.Line, Door: d.Name, Err: err}
	}
	c.Doors = append(c.Doors, d)
	return nil
}
