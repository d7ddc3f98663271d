// Package fwknoprc reads the fwknop client's files, so that SPA keys and
// settings never need to be on a command line: ~/.fwknoprc stanzas and
// key files (what `fwknop --key-gen` prints).
//
// Lines are read as fwknop 2.6 reads them (client/config_init.c):
//
//   - a line whose first character is '#' or ';' is a comment, as is an
//     empty line (knock also skips blank and indented comment lines,
//     which fwknop refuses);
//   - "[name]" starts a stanza (names compare without case; text after
//     ']' is ignored);
//   - any other line is "NAME value": NAME is the first word with the
//     text from its last ':' on removed ("KEY_BASE64:" is KEY_BASE64),
//     and value the following word, which ends at a space, a tab, a
//     carriage return, ';' or '#' — fwknop ignores the rest of the line, so a passphrase cannot
//     contain a space. Variable names are case-sensitive, as in fwknop.
//
// An rc file is read like fwknop's -n NAME: every variable of the
// [default] stanzas, then every variable of the [NAME] stanzas, the later
// value of a variable replacing the earlier. Lines outside those stanzas
// are not looked at (fwknop does the same), except that a '[' line
// without ']' is an error anywhere, since the lines after it would
// otherwise land in the wrong stanza.
package fwknoprc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Var is one variable read from a file.
type Var struct {
	Name  string // without the trailing ':'
	Value string
	File  string
	Line  int
	// Extra is text after the value that fwknop ignores (a second word,
	// say); "" when there is none or it is a comment.
	Extra string
}

// Pos returns "file:line" for messages.
func (v Var) Pos() string { return v.File + ":" + strconv.Itoa(v.Line) }

// KeyVars are the variables a key file may hold.
var KeyVars = []string{"KEY", "KEY_BASE64", "HMAC_KEY", "HMAC_KEY_BASE64", "HMAC_DIGEST_TYPE"}

// FwknopVars are the variable names fwknop 2.6's client knows in an rc
// file (fko_var_array), whether or not knock uses them.
var FwknopVars = []string{
	"DIGEST_TYPE", "SPA_SERVER_PROTO", "SPA_SERVER_PORT", "SPA_SOURCE_PORT", "FW_TIMEOUT",
	"ALLOW_IP", "TIME_OFFSET", "ENCRYPTION_MODE", "USE_GPG", "USE_GPG_AGENT", "GPG_RECIPIENT",
	"GPG_SIGNER", "GPG_HOMEDIR", "GPG_EXE", "GPG_SIGNING_PW", "GPG_SIGNING_PW_BASE64",
	"GPG_NO_SIGNING_PW", "SPOOF_USER", "SPOOF_SOURCE_IP", "ACCESS", "SPA_SERVER", "RAND_PORT",
	"KEY", "KEY_BASE64", "HMAC_DIGEST_TYPE", "HMAC_KEY_BASE64", "HMAC_KEY", "USE_HMAC",
	"USE_WGET_USER_AGENT", "KEY_FILE", "HMAC_KEY_FILE", "NAT_ACCESS", "HTTP_USER_AGENT",
	"RESOLVE_URL", "SERVER_RESOLVE_IPV4", "NAT_LOCAL", "NAT_RAND_PORT", "NAT_PORT", "VERBOSE",
	"RESOLVE_IP_HTTP", "RESOLVE_IP_HTTPS", "RESOLVE_HTTP_ONLY", "WGET_CMD", "NO_SAVE_ARGS",
}

// DefaultStanza is the stanza every rc read starts with.
const DefaultStanza = "default"

// line is one classified line.
type line struct {
	kind    byte // 0 skip, '[' stanza, 'v' variable
	stanza  string
	v       Var
	problem string // for a variable line fwknop would refuse
}

func parseLine(file string, n int, s string) (line, error) {
	s = strings.TrimSuffix(s, "\r")
	if s == "" || s[0] == '#' || s[0] == ';' || s[0] == 0 {
		return line{}, nil
	}
	t := strings.TrimLeft(s, " \t")
	if t == "" || t[0] == '#' || t[0] == ';' {
		return line{}, nil
	}
	if t[0] == '[' {
		name, _, ok := strings.Cut(t[1:], "]")
		if !ok {
			return line{}, fmt.Errorf("%s:%d: %q: a stanza name needs a closing ]", file, n, t)
		}
		return line{kind: '[', stanza: name}, nil
	}
	v := Var{File: file, Line: n}
	end := strings.IndexAny(t, " \t\r\v\f")
	if end < 0 {
		end = len(t)
	}
	v.Name, t = t[:end], strings.TrimLeft(t[end:], " \t\r\v\f")
	if i := strings.LastIndexByte(v.Name, ':'); i >= 0 {
		v.Name = v.Name[:i]
	}
	end = strings.IndexAny(t, " \t\r;#")
	if end < 0 {
		end = len(t)
	}
	v.Value, t = t[:end], strings.TrimLeft(t[end:], " \t\r")
	if t != "" && t[0] != '#' && t[0] != ';' {
		v.Extra = t
	}
	l := line{kind: 'v', v: v}
	switch {
	case v.Name == "":
		l.problem = "no variable name"
	case v.Value == "":
		l.problem = v.Name + " has no value"
	}
	return l, nil
}

// ParseRC reads an fwknoprc's stanzas [default] and [name] (name "" or
// "default": [default] only) and returns their variables in the order to
// apply them. It is an error when a named stanza is missing or a line of
// a read stanza has no value.
func ParseRC(file string, data []byte, name string) ([]Var, error) {
	if strings.EqualFold(name, DefaultStanza) {
		name = ""
	}
	var def, named []Var
	var cur *[]Var
	found := false
	for i, s := range strings.Split(string(data), "\n") {
		l, err := parseLine(file, i+1, s)
		if err != nil {
			return nil, err
		}
		switch l.kind {
		case '[':
			switch {
			case strings.EqualFold(l.stanza, DefaultStanza):
				cur = &def
			case name != "" && strings.EqualFold(l.stanza, name):
				cur, found = &named, true
			default:
				cur = nil
			}
		case 'v':
			if cur == nil {
				continue
			}
			if l.problem != "" {
				return nil, fmt.Errorf("%s: %s", l.v.Pos(), l.problem)
			}
			*cur = append(*cur, l.v)
		}
	}
	if name != "" && !found {
		return nil, fmt.Errorf("%s: no stanza [%s]", file, name)
	}
	return append(def, named...), nil
}

// ParseKeys reads a key file: lines "NAME: value" or "NAME value" with
// NAME one of KeyVars, as `fwknop --key-gen` prints them. It refuses
// stanzas, other names and a second word after a value (a passphrase
// with a space, which fwknop would cut).
func ParseKeys(file string, data []byte) ([]Var, error) {
	var vars []Var
	for i, s := range strings.Split(string(data), "\n") {
		l, err := parseLine(file, i+1, s)
		if err != nil {
			return nil, err
		}
		switch l.kind {
		case '[':
			return nil, fmt.Errorf("%s:%d: a key file has no stanzas ([%s]): read an rc file with --fwknoprc and -n", file, i+1, l.stanza)
		case 'v':
			v := l.v
			switch {
			case l.problem != "":
				return nil, fmt.Errorf("%s: %s", v.Pos(), l.problem)
			case !isKeyVar(v.Name):
				return nil, fmt.Errorf("%s: %q: want one of %s", v.Pos(), v.Name, strings.Join(KeyVars, ", "))
			case v.Extra != "":
				return nil, fmt.Errorf("%s: %s: unexpected %q after the value (no spaces in a key)", v.Pos(), v.Name, v.Extra)
			}
			vars = append(vars, v)
		}
	}
	if len(vars) == 0 {
		return nil, errors.New(file + ": no keys")
	}
	return vars, nil
}

func isKeyVar(name string) bool {
	for _, k := range KeyVars {
		if k == name {
			return true
		}
	}
	return false
}

// IsFwknopVar reports whether fwknop's client knows the variable name.
func IsFwknopVar(name string) bool {
	for _, k := range FwknopVars {
		if k == name {
			return true
		}
	}
	return false
}
