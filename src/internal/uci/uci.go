// Package uci reads OpenWrt UCI configuration files (/etc/config/*).
//
// The parser is read-only and follows the rules of OpenWrt's libuci in its
// default (strict) mode, so a file yields the same sections, options and
// values that `uci show` and `uci get` report for it:
//
//   - statements are `package <name>`, `config <type> [<name>]`,
//     `option <name> [<value>]` and `list <name> [<value>]`; each keyword may
//     be abbreviated to its first letter;
//   - a value is built from unquoted, single-quoted and double-quoted
//     parts written next to each other (uci writes a quote inside a
//     single-quoted value as quote, backslash, quote, quote; see below);
//   - outside single quotes a backslash takes the next character literally;
//     a backslash at the end of a line joins the next line;
//   - quoted parts may span lines (the newlines are part of the value);
//   - '#' outside quotes starts a comment and ';' ends a statement;
//   - an option with an empty value is ignored, a later `option` replaces
//     an earlier one and moves it to the end, `list` after `option` turns
//     it into a list;
//   - a second `config` with a known name continues that section.
//
// For example:
//
//	config door 'legacy'
//		option start_command 'logger '\''knock it'\'''
//		list open 'tcp/22'
//
// Anonymous sections have no Name; Ref returns the `@type[N]` form that
// `uci show` prints and ID the generated `cfgNNhhhh` name that `uci -X show`
// and the shell's config_load use.
package uci

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// File is a parsed configuration file.
type File struct {
	// Name is the name given to Parse, used in error messages.
	Name string
	// Package is the name of the last `package` statement, if any. libuci
	// checks it but keeps the name the file was loaded under.
	Package string
	// Sections are the sections in file order.
	Sections []*Section

	byName map[string]*Section
}

// Section is one `config` block.
type Section struct {
	// Type is the section type (`config <type>`).
	Type string
	// Name is the section name; empty for anonymous sections.
	Name string
	// Anonymous reports a section declared without a name.
	Anonymous bool
	// Line is the line of the `config` statement that opened the section.
	Line int
	// Options are the options and lists in the order libuci keeps them.
	Options []Option

	index     int // position among all sections of the file
	typeIndex int // position among the sections of the same type
}

// Option is one option or list of a section.
type Option struct {
	// Name is the option name.
	Name string
	// Values holds one value for an option and every item of a list.
	Values []string
	// List reports a `list` (as opposed to an `option`).
	List bool
	// Line is the line of the statement that defined the option (for a
	// list, of its first item).
	Line int
}

// Value returns the value of an option, or the items of a list joined by
// single spaces, as `uci get` prints them.
func (o *Option) Value() string { return strings.Join(o.Values, " ") }

// Error is a syntax error, with the position libuci would report.
type Error struct {
	_ [0]func() // not comparable: no equality function in the binary
	// File is the name given to Parse.
	File string
	// Line is the 1-based line number.
	Line int
	// Column is the 1-based byte offset in the statement being parsed
	// (lines joined by quotes or backslashes count as one statement).
	Column int
	// Msg is libuci's reason text, e.g. "invalid command".
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: uci: %s", e.File, e.Line, e.Msg)
}

// Parse reads a UCI file from r. name is used in error messages.
func Parse(name string, r io.Reader) (file *File, err error) {
	p := &parser{
		rd:   bufio.NewReader(r),
		file: &File{Name: name, byName: map[string]*Section{}},
		typ:  map[string]int{},
	}
	defer func() {
		if v := recover(); v != nil {
			pe, ok := v.(parseError)
			if !ok {
				panic(v)
			}
			file, err = nil, pe.err
		}
	}()
	p.run()
	return p.file, nil
}

// Ref returns the name `uci show` uses for the section: its name, or
// `@type[N]` for an anonymous section, N counting every section of that
// type from 0.
func (s *Section) Ref() string {
	if !s.Anonymous {
		return s.Name
	}
	return fmt.Sprintf("@%s[%d]", s.Type, s.typeIndex)
}

// ID returns the section name libuci uses internally: the name of a named
// section, or for an anonymous one `cfg` + its position in the file (from
// 1, two or more hex digits) + four hex digits of a hash of its type. The
// shell's config_load and `uci -X show` use these names.
func (s *Section) ID() string {
	if !s.Anonymous {
		return s.Name
	}
	return fmt.Sprintf("cfg%02x%04x", s.index+1, typeHash(s.Type)&0xffff)
}

// typeHash is the D. J. Bernstein string hash libuci applies to the type of
// an anonymous section.
func typeHash(typ string) uint32 {
	h := uint32(5381)
	for i := 0; i < len(typ); i++ {
		h = h<<5 + h + uint32(typ[i])
	}
	return h & 0x7fffffff
}

func (s *Section) find(name string) int {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return i
		}
	}
	return -1
}

func (s *Section) remove(i int) {
	s.Options = append(s.Options[:i], s.Options[i+1:]...)
}

// setOption applies `option name value` as libuci's uci_set does.
func (s *Section) setOption(name, value string, line int) {
	if value == "" {
		// An empty value neither creates nor deletes an option when
		// a file is parsed.
		return
	}
	if i := s.find(name); i >= 0 {
		if o := s.Options[i]; !o.List && o.Values[0] == value {
			return
		}
		s.remove(i)
	}
	s.Options = append(s.Options, Option{Name: name, Values: []string{value}, Line: line})
}

// addList applies `list name value` as libuci's uci_add_list does.
func (s *Section) addList(name, value string, line int) {
	if i := s.find(name); i >= 0 {
		o := &s.Options[i]
		if o.List {
			o.Values = append(o.Values, value)
			return
		}
		// An option becomes a list: the old value first, moved to the end.
		old := *o
		s.remove(i)
		s.Options = append(s.Options, Option{Name: name, Values: []string{old.Values[0], value}, List: true, Line: old.Line})
		return
	}
	s.Options = append(s.Options, Option{Name: name, Values: []string{value}, List: true, Line: line})
}

// parseError carries an *Error through panic/recover out of the parser.
type parseError struct{ err *Error }
