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
	"bytes"
	"errors"
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

// parser works on one statement buffer at a time the way libuci does: the
// buffer is changed in place (string terminators are written into it) and
// a line is appended to it when a quoted string or a trailing backslash
// continues on the next line. buf always ends with a 0 byte.
type parser struct {
	rd   *bufio.Reader
	buf  []byte
	pos  int
	line int
	eof  bool

	file *File
	sec  *Section
	typ  map[string]int // sections per type, for Ref
}

func (p *parser) fail(msg string) {
	panic(parseError{&Error{File: p.file.Name, Line: p.line, Column: p.pos + 1, Msg: msg}})
}

// readLine replaces the buffer from offset on with the next input line.
func (p *parser) readLine(offset int) {
	p.buf = p.buf[:offset]
	if !p.eof {
		b, err := p.rd.ReadBytes('\n')
		if len(b) > 0 {
			p.line++
			if bytes.IndexByte(b, 0) >= 0 {
				p.buf = append(p.buf, 0)
				p.fail("NUL byte in input")
			}
			p.buf = append(p.buf, b...)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.buf = append(p.buf, 0)
				panic(parseError{&Error{File: p.file.Name, Line: p.line, Msg: "read: " + err.Error()}})
			}
			p.eof = true
		}
	}
	p.buf = append(p.buf, 0)
}

func (p *parser) run() {
	for !p.eof {
		p.pos = 0
		p.readLine(0)
		if p.buf[0] != 0 {
			p.parseLine()
		}
	}
}

func (p *parser) cur() byte { return p.buf[p.pos] }

// filled is the length of the text in the buffer.
func (p *parser) filled() int { return len(p.buf) - 1 }

// cstr returns the 0-terminated string starting at off.
func (p *parser) cstr(off int) string {
	end := bytes.IndexByte(p.buf[off:], 0)
	return string(p.buf[off : off+end])
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (p *parser) skipSpace() {
	for p.cur() != 0 && isSpace(p.cur()) {
		p.pos++
	}
}

// backslash steps over a backslash. It reports false when the backslash
// ended the line (the next line has been joined in its place) and true when
// the following character is to be taken literally.
func (p *parser) backslash() bool {
	p.pos++
	c := p.cur()
	if c == 0 || c == '\n' || (c == '\r' && p.buf[p.pos+1] == '\n' && p.buf[p.pos+2] == 0) {
		p.readLine(p.pos)
		return false
	}
	return true
}

// add copies the current character to *dst and advances both.
func (p *parser) add(dst *int) {
	p.buf[*dst] = p.buf[p.pos]
	*dst++
	p.pos++
}

func (p *parser) doubleQuoted(dst *int) {
	p.pos++
	for {
		switch p.cur() {
		case '"':
			p.pos++
			return
		case 0:
			p.readLine(p.pos)
			if p.cur() == 0 {
				p.fail("EOF with unterminated \"")
			}
		case '\\':
			if p.backslash() {
				p.add(dst)
			}
		default:
			p.add(dst)
		}
	}
}

func (p *parser) singleQuoted(dst *int) {
	p.pos++
	for {
		switch p.cur() {
		case '\'':
			p.pos++
			return
		case 0:
			p.readLine(p.pos)
			if p.cur() == 0 {
				p.fail("EOF with unterminated '")
			}
		default:
			p.add(dst)
		}
	}
}

// word decodes one argument in place, writing it from *dst on.
func (p *parser) word(dst *int) {
	next := true
loop:
	for {
		switch p.cur() {
		case '\'':
			p.singleQuoted(dst)
		case '"':
			p.doubleQuoted(dst)
		case '#':
			p.buf[p.pos] = 0
			break loop
		case 0:
			break loop
		case ';':
			next = false
			break loop
		case '\\':
			if p.backslash() {
				p.add(dst)
			}
		default:
			p.add(dst)
		}
		if c := p.cur(); c == 0 || isSpace(c) {
			break
		}
	}
	// An unquoted word that stopped at a blank: step over it, it becomes
	// the terminator.
	if p.cur() != 0 && next {
		p.pos++
	}
	p.buf[*dst] = 0
}

// arg returns the next argument of a statement.
func (p *parser) arg(required, name, pkg bool) string {
	p.skipSpace()
	start := p.pos
	dst := p.pos
	if p.cur() == ';' {
		p.buf[p.pos] = 0
		p.pos++
	} else {
		p.word(&dst)
	}
	s := p.cstr(start)
	if s == "" {
		if required {
			p.fail("insufficient arguments")
		}
		return ""
	}
	if name && !validName(s, pkg) {
		p.fail("invalid character in name field")
	}
	return s
}

func (p *parser) endOfStatement() {
	p.skipSpace()
	if p.arg(false, false, false) != "" {
		p.fail("too many arguments")
	}
}

// command returns the next keyword of the line, cutting it off at the next
// blank, or "" at the end of the line.
func (p *parser) command() (string, bool) {
	i := p.pos
	for p.buf[i] == ' ' || p.buf[i] == '\t' {
		i++
	}
	if p.buf[i] == 0 {
		return "", false
	}
	start := i
	for p.buf[i] != 0 && p.buf[i] != ' ' && p.buf[i] != '\t' {
		i++
	}
	w := string(p.buf[start:i])
	p.buf[i] = 0
	return w, true
}

// skipCommand moves past the keyword the statement starts with.
func (p *parser) skipCommand(msg string) {
	n := len(p.cstr(p.pos)) + 1
	if p.pos+n > p.filled() {
		p.fail(msg)
	}
	p.pos += n
}

func keyword(w, full string) bool { return w == full[:1] || w == full }

func (p *parser) parseLine() {
	p.skipSpace()
	for {
		w, ok := p.command()
		if !ok {
			return
		}
		switch {
		case w[0] == '#':
			return
		case keyword(w, "package"):
			p.parsePackage()
		case keyword(w, "config"):
			p.parseConfig()
		case keyword(w, "option"):
			p.parseOption(false)
		case keyword(w, "list"):
			p.parseOption(true)
		default:
			p.fail("invalid command")
		}
	}
}

func (p *parser) parsePackage() {
	p.skipCommand("package without name")
	name := p.arg(true, true, true)
	p.endOfStatement()
	p.file.Package = name
}

func (p *parser) parseConfig() {
	line := p.line
	p.skipCommand("config without name")
	typ := p.arg(true, false, false)
	if !validType(typ) {
		p.fail("invalid character in type field")
	}
	name := p.arg(false, true, false)
	p.endOfStatement()

	f := p.file
	if name != "" {
		if s := f.byName[name]; s != nil {
			if s.Type != typ {
				p.fail("section of different type overwrites prior section with same name")
			}
			p.sec = s
			return
		}
	}
	s := &Section{Type: typ, Name: name, Anonymous: name == "", Line: line,
		index: len(f.Sections), typeIndex: p.typ[typ]}
	p.typ[typ]++
	f.Sections = append(f.Sections, s)
	f.byName[s.ID()] = s
	p.sec = s
}

func (p *parser) parseOption(list bool) {
	if p.sec == nil {
		p.fail("option/list command found before the first section")
	}
	line := p.line
	p.skipCommand("option without name")
	name := p.arg(true, true, false)
	value := p.arg(false, false, false)
	p.endOfStatement()
	if list {
		p.sec.addList(name, value, line)
	} else {
		p.sec.setOption(name, value, line)
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validName accepts section and option names ([A-Za-z0-9_]+) and, with
// pkg, package names (which may also contain '-').
func validName(s string, pkg bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && !(pkg && c == '-') {
			return false
		}
	}
	return true
}

// validType accepts section types: printable ASCII without blanks.
func validType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 {
			return false
		}
	}
	return true
}
