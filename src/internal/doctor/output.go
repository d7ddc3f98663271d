package doctor

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text renders the report for people: one line a finding, its fix below,
// and a last line counting the problems.
func (r *Report) Text() string {
	var b strings.Builder
	for _, f := range r.Findings {
		lvl := f.Level.String()
		if f.Level == Problem {
			lvl = "PROBLEM"
		}
		b.WriteString(pad(lvl, 8))
		b.WriteString(pad(f.Check, 12))
		b.WriteString(f.Text)
		b.WriteByte('\n')
		if f.Fix != "" && f.Level != OK {
			b.WriteString(pad("", 20) + "fix: " + f.Fix + "\n")
		}
	}
	switch n := r.Problems(); n {
	case 0:
		b.WriteString("no problem found\n")
	case 1:
		b.WriteString("1 problem found\n")
	default:
		b.WriteString(strconv.Itoa(n) + " problems found\n")
	}
	return b.String()
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s + " "
	}
	return s + strings.Repeat(" ", n-len(s))
}

// JSON renders the report as `knockd doctor --json` and `ubus call knockd
// doctor` return it: {"problems":N,"findings":[{"check","level","text","fix"}]}.
func (r *Report) JSON() []byte {
	b := []byte(`{"problems":`)
	b = strconv.AppendInt(b, int64(r.Problems()), 10)
	b = append(b, `,"findings":[`...)
	for i, f := range r.Findings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"check":`...)
		b = quote(b, f.Check)
		b = append(b, `,"level":`...)
		b = quote(b, f.Level.String())
		b = append(b, `,"text":`...)
		b = quote(b, f.Text)
		b = append(b, `,"fix":`...)
		b = quote(b, f.Fix)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// quote appends s as a JSON string.
func quote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
