package uci

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

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
