// Package mail sends knockd-go's notification mail through a
// sendmail-compatible program (msmtp, ssmtp, sendmail, Postfix, Exim,
// busybox sendmail): the daemon writes the whole RFC 5322 message, the
// program delivers it. A built-in SMTP+TLS client would double the binary.
//
// A mail is a notification, never a reason to stall a knock: callers run
// Send in a goroutine of their own and log its error. Send itself is
// bounded by its context and by Sendmail.Timeout, after which the program
// and everything it started are killed.
package mail

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
)

// A Mailer sends one message. Implementations must be safe for concurrent
// use and must return once ctx is done.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// A Message is a plain-text notification.
type Message struct {
	// From is the author (ParseAddress). The zero Address leaves the From
	// header to the sendmail program (msmtp, ssmtp and sendmail all add
	// one).
	From Address
	// To are the recipients; at least one. They are given to the sendmail
	// program as arguments, and shown in the To header.
	To []Address
	// Subject is one line; control characters (CR, LF, …) are replaced by
	// spaces and non-ASCII text is RFC 2047-encoded.
	Subject string
	// Body is UTF-8 text; line endings are normalized.
	Body string
	// Date is the Date header; zero means the time of sending.
	Date time.Time
	// Door and Source name the notification for a spawner, which runs
	// the sendmail program for the recipients its own configuration gives
	// the door (see spawn.Request); they are not part of the message.
	Door, Source string
}

const (
	maxSubject = 200 // runes, before encoding
	maxLine    = 998 // RFC 5322 §2.1.1, without the line ending
	foldAt     = 78  // RFC 5322 §2.1.1 SHOULD
)

// Validate reports whether m can be sent: at least one recipient, and
// every address one that mailaddr.Parse returns. It is what Send checks
// before running anything.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return errors.New("no recipient")
	}
	if m.From.Addr != "" {
		if err := m.From.Check(); err != nil {
			//lint:ignore ST1005 the text starts with the field's name, From
			return fmt.Errorf("From: %w", err)
		}
	}
	for i, a := range m.To {
		if err := a.Check(); err != nil {
			//lint:ignore ST1005 the text starts with the field's name, To
			return fmt.Errorf("To[%d]: %w", i, err)
		}
	}
	return nil
}

// CleanHeaderText turns s into text that is safe as the value of an
// unstructured header such as Subject: invalid UTF-8 becomes U+FFFD,
// control characters (CR and LF among them) become spaces, runs of white
// space collapse to one space, and the result is cut to maxRunes runes
// (with "…") when maxRunes > 0.
func CleanHeaderText(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if mailaddr.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if maxRunes > 0 && utf8.RuneCountInString(s) > maxRunes {
		r := []rune(s)
		s = strings.TrimRight(string(r[:maxRunes-1]), " ") + "…"
	}
	return s
}

// fold writes "Name: value" with the value folded at spaces so lines stay
// within 78 characters where possible; value must not contain line breaks.
func fold(b *strings.Builder, name, value string) {
	line := len(name) + 1
	b.WriteString(name)
	b.WriteByte(':')
	for i, w := range strings.Split(value, " ") {
		if i > 0 && line+1+len(w) > foldAt {
			b.WriteString("\n")
			line = 0
		}
		b.WriteByte(' ')
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteByte('\n')
}

// cleanBody normalizes line endings to LF, replaces invalid UTF-8, drops
// control characters other than tab and newline, and ends the text with a
// newline.
func cleanBody(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && mailaddr.IsControl(r) && r != '\u2028' && r != '\u2029' {
			return -1
		}
		return r
	}, s)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// transferEncoding picks the Content-Transfer-Encoding of a clean body and
// returns the body encoded with it.
func transferEncoding(body string) (cte, encoded string) {
	ascii, long := true, false
	for _, l := range strings.Split(body, "\n") {
		if len(l) > maxLine {
			long = true
		}
	}
	for i := 0; i < len(body); i++ {
		if body[i] >= 0x80 {
			ascii = false
			break
		}
	}
	switch {
	case long:
		var b strings.Builder
		w := quotedprintable.NewWriter(&b)
		_, _ = w.Write([]byte(body))
		_ = w.Close()
		return "quoted-printable", strings.ReplaceAll(b.String(), "\r\n", "\n")
	case ascii:
		return "7bit", body
	default:
		return "8bit", body
	}
}

// compose renders m as it is written to the sendmail program (LF line
// endings, the local convention for programs reading a message on stdin)
// and returns the recipients' bare addresses for its command line.
func compose(m Message, now time.Time, msgID string) ([]byte, []string, error) {
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	date := m.Date
	if date.IsZero() {
		date = now
	}

	var b strings.Builder
	if m.From.Addr != "" {
		fold(&b, "From", m.From.String())
	}
	var list []string
	rcpts := make([]string, 0, len(m.To))
	for _, a := range m.To {
		list = append(list, a.String())
		rcpts = append(rcpts, a.Addr)
	}
	fold(&b, "To", strings.Join(list, ", "))
	if s := CleanHeaderText(m.Subject, maxSubject); s != "" {
		fold(&b, "Subject", mailaddr.EncodeText(s))
	}
	b.WriteString("Date: " + date.Format(time.RFC1123Z) + "\n")
	b.WriteString("Message-ID: " + msgID + "\n")
	b.WriteString("Auto-Submitted: auto-generated\n")
	b.WriteString("MIME-Version: 1.0\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\n")
	cte, body := transferEncoding(cleanBody(m.Body))
	b.WriteString("Content-Transfer-Encoding: " + cte + "\n")
	b.WriteString("\n")
	b.WriteString(body)
	return []byte(b.String()), rcpts, nil
}

// messageID returns a new Message-ID for m: the time, 64 random bits and
// the domain of the From address (or the host name).
func messageID(m Message, now time.Time) string {
	domain := ""
	if a := m.From; a.Addr != "" {
		if i := strings.LastIndexByte(a.Addr, '@'); i >= 0 {
			domain = a.Addr[i+1:]
		}
	}
	if !isDomain(domain) {
		domain, _ = os.Hostname()
	}
	if !isDomain(domain) {
		domain = "localhost"
	}
	return fmt.Sprintf("<%s.%016x.knockd@%s>", now.UTC().Format("20060102150405"), rand.Uint64(), domain)
}

// isDomain reports whether s is a plain host or domain name.
func isDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
