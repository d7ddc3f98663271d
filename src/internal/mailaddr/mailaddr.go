// Package mailaddr parses and formats mail addresses (mailbox and display
// name) as the configuration gives them and mail headers carry them. It
// is a value package: it sends nothing and runs nothing.
package mailaddr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// An Address is a mailbox: an optional display name and the address
// proper, which goes on the sendmail command line.
type Address struct {
	_    [0]func() // not comparable: no equality function in the binary
	Name string    // "Ann Admin", may be empty; any UTF-8 text
	Addr string    // "ann@example.org", or a bare local name such as "root"
}

// Parse parses one address as a mail.Message accepts it:
//
//	ann@example.org
//	Ann Admin <ann@example.org>
//	"Admin, Ann" <ann@example.org>
//	root
//
// It is a strict subset of RFC 5322 (net/mail would cost 140 KiB of
// binary): the address proper is ASCII (write international domains in
// punycode), without quotes or comments, and does not start with '-' so
// that it cannot pass for an option of the sendmail program. The name is
// plain UTF-8 text, quoted if it holds specials; encoded words are
// refused. Control characters (CR, LF, NUL, tab, …) are refused anywhere,
// which rules out header injection.
func Parse(s string) (Address, error) {
	if s == "" {
		return Address{}, errors.New("empty address")
	}
	if len(s) > maxAddressLen {
		return Address{}, fmt.Errorf("address of %d bytes is too long (at most %d)", len(s), maxAddressLen)
	}
	if !utf8.ValidString(s) {
		return Address{}, fmt.Errorf("address %q is not valid UTF-8", s)
	}
	if strings.ContainsFunc(s, IsControl) {
		return Address{}, fmt.Errorf("address %q contains a control character", s)
	}
	t := strings.Trim(s, " ")
	if strings.HasPrefix(t, "-") {
		return Address{}, fmt.Errorf("address %q starts with '-'", s)
	}
	if !strings.HasSuffix(t, ">") {
		if isLocalName(t) {
			return Address{Addr: t}, nil
		}
		if err := checkAddrSpec(t); err != nil {
			return Address{}, fmt.Errorf("address %q: %v", s, err)
		}
		return Address{Addr: t}, nil
	}
	i := strings.LastIndexByte(t, '<')
	if i < 0 {
		return Address{}, fmt.Errorf("address %q: '>' without '<'", s)
	}
	addr := t[i+1 : len(t)-1]
	if err := checkAddrSpec(addr); err != nil {
		return Address{}, fmt.Errorf("address %q: %v", s, err)
	}
	name, err := parseName(strings.Trim(t[:i], " "))
	if err != nil {
		return Address{}, fmt.Errorf("address %q: name: %v", s, err)
	}
	return Address{Name: name, Addr: addr}, nil
}

// Check guards against an Address built by hand that Parse would
// have refused in ways that matter on a sendmail command line or in a
// header: empty, starting with '-', holding spaces or control characters.
func (a Address) Check() error {
	switch {
	case a.Addr == "":
		return errors.New("empty address")
	case strings.HasPrefix(a.Addr, "-"):
		return fmt.Errorf("address %q starts with '-'", a.Addr)
	case strings.ContainsAny(a.Addr, " <>\"") || strings.ContainsFunc(a.Addr+a.Name, IsControl):
		return fmt.Errorf("address %q contains a space, a control character or <>\"", a.Addr)
	}
	return nil
}

// String formats a for a header: "ann@example.org",
// "Ann Admin <ann@example.org>", "\"Admin, Ann\" <ann@example.org>", or the
// name RFC 2047-encoded when it is not ASCII.
func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return formatName(a.Name) + " <" + a.Addr + ">"
}

// parseName parses a display name: a quoted string, or words of UTF-8 text
// without specials, which are joined by single spaces.
func parseName(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if s[0] == '"' {
		if len(s) < 2 || s[len(s)-1] != '"' {
			return "", errors.New("unterminated quoted string")
		}
		var b strings.Builder
		in := s[1 : len(s)-1]
		for i := 0; i < len(in); i++ {
			switch c := in[i]; c {
			case '\\':
				if i+1 == len(in) {
					return "", errors.New("trailing backslash in quoted string")
				}
				i++
				b.WriteByte(in[i])
			case '"':
				return "", errors.New("quote inside quoted string")
			default:
				b.WriteByte(c)
			}
		}
		return b.String(), nil
	}
	if strings.Contains(s, "=?") {
		return "", errors.New("encoded words are not supported, write the name as UTF-8 text")
	}
	if i := strings.IndexAny(s, `()<>[]:;@\,"`); i >= 0 {
		return "", fmt.Errorf("%q must be inside double quotes", s[i])
	}
	return strings.Join(strings.Fields(s), " "), nil
}

// formatName returns a display name as a phrase: plain words, a quoted
// string, or encoded words for non-ASCII text and text holding "=?".
func formatName(name string) string {
	ascii := !strings.Contains(name, "=?")
	plain := ascii && strings.Join(strings.Fields(name), " ") == name
	for i := 0; i < len(name) && ascii; i++ {
		c := name[i]
		ascii = c < 0x80
		plain = plain && (c == ' ' || isAtext(c))
	}
	switch {
	case !ascii:
		return EncodeText(name)
	case plain:
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' || name[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
	return b.String()
}

// checkAddrSpec checks local@domain: an ASCII dot-atom local part that does
// not start with '-', and a domain of letters, digits and hyphens.
func checkAddrSpec(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return errors.New("missing '@'")
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return errors.New("empty local part")
	}
	if local[0] == '-' {
		return errors.New("starts with '-'")
	}
	for _, w := range strings.Split(local, ".") {
		if w == "" {
			return fmt.Errorf("local part %q has an empty dot-separated part", local)
		}
		for i := 0; i < len(w); i++ {
			if !isAtext(w[i]) {
				return fmt.Errorf("%q not allowed in local part %q", w[i], local)
			}
		}
	}
	if domain == "" {
		return errors.New("empty domain")
	}
	for _, l := range strings.Split(domain, ".") {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' || len(l) > 63 {
			return fmt.Errorf("domain %q has an invalid label %q", domain, l)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(isAlnum(c) || c == '-') {
				return fmt.Errorf("%q not allowed in domain %q", c, domain)
			}
		}
	}
	return nil
}

// isLocalName reports whether s is a bare local user name such as "root",
// which sendmail programs deliver locally or map through their aliases.
func isLocalName(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// maxAddressLen bounds an address: SMTP paths are at most 256 octets.
const maxAddressLen = 320

// IsControl reports whether r is a C0 or C1 control character, DEL, or a
// Unicode line or paragraph separator.
func IsControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// EncodeText RFC 2047-encodes s (Q encoding, UTF-8) when it is not
// plain ASCII or holds "=?", which a reader would take for the start of an
// encoded word. Each encoded word is at most 75 characters and never splits
// a character; words are separated by spaces, where fold may break lines.
func EncodeText(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] < 0x80
	}
	if plain {
		return s
	}
	const prefix, suffix, maxWord = "=?utf-8?q?", "?=", 75
	var words []string
	var w strings.Builder
	w.WriteString(prefix)
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			var e strings.Builder
			for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
				fmt.Fprintf(&e, "=%02X", c)
			}
			enc = e.String()
		}
		if w.Len()+len(enc)+len(suffix) > maxWord {
			w.WriteString(suffix)
			words = append(words, w.String())
			w.Reset()
			w.WriteString(prefix)
		}
		w.WriteString(enc)
	}
	w.WriteString(suffix)
	return strings.Join(append(words, w.String()), " ")
}
