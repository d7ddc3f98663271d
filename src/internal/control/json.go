package control

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The control socket and the rpcd plugin speak JSON. encoding/json would
// add a third of a megabyte of reflection to a router binary: what is
// needed here is a writer, and a reader of flat objects.

// jsonWriter builds JSON text. Objects and arrays put their commas
// themselves: call Key before each member's value.
type jsonWriter struct {
	b        []byte
	first    []bool // per open object or array: nothing written in it yet
	afterKey bool
}

// elem writes the separator before a value or a key.
func (w *jsonWriter) elem() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.first); n > 0 {
		if !w.first[n-1] {
			w.b = append(w.b, ',')
		}
		w.first[n-1] = false
	}
}

func (w *jsonWriter) Key(k string) *jsonWriter {
	w.elem()
	w.quote(k)
	w.b = append(w.b, ':')
	w.afterKey = true
	return w
}

func (w *jsonWriter) Str(s string) { w.elem(); w.quote(s) }

func (w *jsonWriter) Int(n int64) { w.elem(); w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jsonWriter) Uint(n uint64) { w.elem(); w.b = strconv.AppendUint(w.b, n, 10) }

func (w *jsonWriter) Bool(v bool) { w.elem(); w.b = strconv.AppendBool(w.b, v) }

// Open starts an object ('{') or an array ('['); Close ends it.
func (w *jsonWriter) Open(c byte) {
	w.elem()
	w.b = append(w.b, c)
	w.first = append(w.first, true)
}

func (w *jsonWriter) Close(c byte) {
	w.first = w.first[:len(w.first)-1]
	w.b = append(w.b, c)
}

// Strs writes an array of strings.
func (w *jsonWriter) Strs(ss []string) {
	w.Open('[')
	for _, s := range ss {
		w.Str(s)
	}
	w.Close(']')
}

func (w *jsonWriter) Bytes() []byte { return w.b }

const hexDigits = "0123456789abcdef"

// quote writes s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func (w *jsonWriter) quote(s string) {
	w.b = append(w.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				w.b = append(w.b, '\\', c)
			case c < 0x20 || c == 0x7f:
				w.b = append(w.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				w.b = append(w.b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			w.b = append(w.b, `\ufffd`...)
		} else {
			w.b = append(w.b, s[i:i+n]...)
		}
		i += n
	}
	w.b = append(w.b, '"')
}

// Limits of what parseObject reads: requests are tiny.
const (
	maxRequest = 4 << 10
	maxDepth   = 16
)

var errJSON = errors.New("not a JSON object")

// parseObject reads a JSON object and returns its members whose values
// are strings, numbers or booleans (as text); nested objects and arrays
// are checked and left out. Anything but one object is an error.
func parseObject(b []byte) (map[string]string, error) {
	return parseObjectMax(b, maxRequest)
}

// parseObjectMax is parseObject for objects of at most max bytes.
func parseObjectMax(b []byte, max int) (map[string]string, error) {
	out, _, err := parseMembers(b, max)
	return out, err
}

// parseStrings reads a JSON object whose members named in keys, when
// present, are strings: any other type is an error naming the member
// (never read as ""). Other members are left to parseObject's rules.
func parseStrings(b []byte, keys ...string) (map[string]string, error) {
	out, kinds, err := parseMembers(b, maxRequest)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if kind, ok := kinds[k]; ok && kind != '"' {
			return nil, fmt.Errorf("%q must be a string, not %s", k, kindName(kind))
		}
	}
	return out, nil
}

// kindName names the JSON type whose value starts with c.
func kindName(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// parseMembers is parseObject for objects of at most max bytes, also
// returning the first byte of each member's value (its type: '"', '{',
// '[', 't', 'f', 'n' or a number's).
func parseMembers(b []byte, max int) (map[string]string, map[string]byte, error) {
	if len(b) > max {
		return nil, nil, errors.New("request too long")
	}
	p := &jsonParser{b: b}
	p.space()
	if !p.eat('{') {
		return nil, nil, errJSON
	}
	out, kinds := map[string]string{}, map[string]byte{}
	p.space()
	if !p.eat('}') {
		for {
			p.space()
			k, ok := p.str()
			if !ok {
				return nil, nil, errJSON
			}
			p.space()
			if !p.eat(':') {
				return nil, nil, errJSON
			}
			p.space()
			if p.i < len(p.b) {
				kinds[k] = p.b[p.i]
			}
			v, scalar, ok := p.value(1)
			if !ok {
				return nil, nil, errJSON
			}
			if scalar {
				out[k] = v
			}
			p.space()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return nil, nil, errJSON
			}
		}
	}
	p.space()
	if p.i != len(p.b) {
		return nil, nil, errJSON
	}
	return out, kinds, nil
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// value reads any value; scalar values are returned as text (null is
// not scalar).
func (p *jsonParser) value(depth int) (string, bool, bool) {
	if p.i >= len(p.b) || depth > maxDepth {
		return "", false, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		return s, true, ok
	case c == '{' || c == '[':
		return "", false, p.compound(depth)
	case c == 't':
		return "true", true, p.word("true")
	case c == 'f':
		return "false", true, p.word("false")
	case c == 'n':
		return "", false, p.word("null")
	case c == '-' || c >= '0' && c <= '9':
		s, ok := p.number()
		return s, true, ok
	}
	return "", false, false
}

func (p *jsonParser) word(w string) bool {
	if len(p.b)-p.i >= len(w) && string(p.b[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}

func (p *jsonParser) number() (string, bool) {
	start := p.i
	p.eat('-')
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.eat('0') {
		// no leading zeros
	} else if digits() == 0 {
		return "", false
	}
	if p.eat('.') && digits() == 0 {
		return "", false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return "", false
		}
	}
	return string(p.b[start:p.i]), true
}

// compound checks an object or an array.
func (p *jsonParser) compound(depth int) bool {
	open := p.b[p.i]
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	p.i++
	p.space()
	if p.eat(closing) {
		return true
	}
	for {
		p.space()
		if open == '{' {
			if _, ok := p.str(); !ok {
				return false
			}
			p.space()
			if !p.eat(':') {
				return false
			}
			p.space()
		}
		if _, _, ok := p.value(depth + 1); !ok {
			return false
		}
		p.space()
		if p.eat(closing) {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

// str reads a string: escapes decoded, control characters refused.
func (p *jsonParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return string(out), true
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			// Bytes that are not UTF-8 read as U+FFFD, each, as
			// encoding/json reads them.
			r, n := utf8.DecodeRune(p.b[p.i-1:])
			if r == utf8.RuneError && n == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, p.b[p.i-1:p.i-1+n]...)
				p.i += n - 1
			}
			continue
		case c != '\\':
			out = append(out, c)
			continue
		}
		if p.i >= len(p.b) {
			return "", false
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if r >= 0xd800 && r < 0xdc00 && p.word(`\u`) { // a surrogate pair
				lo, ok := p.hex4()
				if !ok {
					return "", false
				}
				if lo >= 0xdc00 && lo < 0xe000 {
					r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				} else {
					out = utf8.AppendRune(out, utf8.RuneError)
					r = lo
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
