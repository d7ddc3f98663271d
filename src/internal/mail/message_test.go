package mail

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/mailaddr"
)

var testDate = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

const testID = "<20250304040607.0123456789abcdef.knockd@example.org>"

// parsed is a composed message read back with net/mail.
type parsed struct {
	header netmail.Header
	keys   []string // header names, sorted
	body   string   // decoded according to Content-Transfer-Encoding
	raw    string
}

func parse(t testing.TB, b []byte) parsed {
	t.Helper()
	raw := string(b)
	if strings.Contains(raw, "\r") {
		t.Fatalf("message contains CR:\n%q", raw)
	}
	for i, l := range strings.Split(raw, "\n") {
		if len(l) > maxLine {
			t.Fatalf("line %d is %d bytes long", i+1, len(l))
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	var keys []string
	for k := range msg.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var body []byte
	switch cte := msg.Header.Get("Content-Transfer-Encoding"); cte {
	case "7bit", "8bit":
		body, err = io.ReadAll(msg.Body)
	case "quoted-printable":
		body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return parsed{header: msg.Header, keys: keys, body: string(body), raw: raw}
}

func decodeHeader(t testing.TB, v string) string {
	t.Helper()
	d, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("decode %q: %v", v, err)
	}
	return d
}

var allKeys = []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}

func TestCompose(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1500)
	tests := []struct {
		name      string
		m         Message
		rcpts     []string
		from, to  string // header values as written
		subject   string // decoded
		encoded   bool   // Subject is RFC 2047-encoded
		cte, body string
		keys      []string
	}{
		{
			name:    "plain",
			m:       Message{From: addr("knockd@example.org"), To: to("admin@example.org"), Subject: "hello", Body: "line 1\nline 2", Date: testDate},
			rcpts:   []string{"admin@example.org"},
			from:    "knockd@example.org",
			to:      "admin@example.org",
			subject: "hello", cte: "7bit", body: "line 1\nline 2\n",
		},
		{
			name:    "names, several recipients, local name",
			m:       Message{From: addr(`Router <knockd@example.org>`), To: to("Ann Admin <ann@example.org>", "root", "bob+knock@example.net"), Subject: "s", Body: "b\n", Date: testDate},
			rcpts:   []string{"ann@example.org", "root", "bob+knock@example.net"},
			from:    `Router <knockd@example.org>`,
			to:      `Ann Admin <ann@example.org>, root, bob+knock@example.net`,
			subject: "s", cte: "7bit", body: "b\n",
		},
		{
			name:    "no From",
			m:       Message{To: to("admin@example.org"), Subject: "s", Body: "b", Date: testDate},
			rcpts:   []string{"admin@example.org"},
			to:      "admin@example.org",
			subject: "s", cte: "7bit", body: "b\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "Subject", "To"},
		},
		{
			name:    "header injection in the subject",
			m:       Message{To: to("admin@example.org"), Subject: "open\r\nBcc: victim@example.com\r\n\r\nfake body", Date: testDate},
			rcpts:   []string{"admin@example.org"},
			to:      "admin@example.org",
			subject: "open Bcc: victim@example.com fake body", cte: "7bit", body: "\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "Subject", "To"},
		},
		{
			name:    "non-ASCII subject and body",
			m:       Message{From: addr("Routeur Élodie <r@example.org>"), To: to("a@example.org"), Subject: "porte « vpn » ouverte — 門が開いた", Body: "Tür geöffnet\r\n. \r\n.\rend", Date: testDate},
			rcpts:   []string{"a@example.org"},
			from:    "=?utf-8?q?Routeur_=C3=89lodie?= <r@example.org>",
			to:      "a@example.org",
			subject: "porte « vpn » ouverte — 門が開いた", encoded: true, cte: "8bit", body: "Tür geöffnet\n. \n.\nend\n",
		},
		{
			name:    "subject that looks encoded is encoded",
			m:       Message{To: to("a@example.org"), Subject: "=?utf-8?q?evil?=", Date: testDate},
			rcpts:   []string{"a@example.org"},
			to:      "a@example.org",
			subject: "=?utf-8?q?evil?=", encoded: true, cte: "7bit", body: "\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "Subject", "To"},
		},
		{
			name:    "long subject is cut and folded",
			m:       Message{To: to("a@example.org"), Subject: strings.Repeat("門 ", 300), Date: testDate},
			rcpts:   []string{"a@example.org"},
			to:      "a@example.org",
			subject: strings.Repeat("門 ", 99) + "門…", encoded: true, cte: "7bit", body: "\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "Subject", "To"},
		},
		{
			name:    "control characters dropped from the body, long line quoted-printable",
			m:       Message{To: to("a@example.org"), Subject: "s", Body: "a\x00b\x1bc\tok\n" + long, Date: testDate},
			rcpts:   []string{"a@example.org"},
			to:      "a@example.org",
			subject: "s", cte: "quoted-printable", body: "abc\tok\n" + long + "\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "Subject", "To"},
		},
		{
			name:  "empty subject is left out",
			m:     Message{To: to("a@example.org"), Body: "x", Date: testDate},
			rcpts: []string{"a@example.org"},
			to:    "a@example.org",
			cte:   "7bit", body: "x\n",
			keys: []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "To"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, rcpts, err := compose(tt.m, time.Now(), testID)
			if err != nil {
				t.Fatalf("compose: %v", err)
			}
			if strings.Join(rcpts, " ") != strings.Join(tt.rcpts, " ") {
				t.Errorf("recipients %q, want %q", rcpts, tt.rcpts)
			}
			p := parse(t, b)
			keys := tt.keys
			if keys == nil {
				keys = allKeys
			}
			if strings.Join(p.keys, " ") != strings.Join(keys, " ") {
				t.Errorf("headers %v, want %v\n%s", p.keys, keys, p.raw)
			}
			for k, v := range p.header {
				if len(v) != 1 {
					t.Errorf("header %s appears %d times", k, len(v))
				}
			}
			check := func(name, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %q, want %q\n%s", name, got, want, p.raw)
				}
			}
			check("From", p.header.Get("From"), tt.from)
			check("To", p.header.Get("To"), tt.to)
			check("Subject", decodeHeader(t, p.header.Get("Subject")), tt.subject)
			if enc := strings.Contains(p.header.Get("Subject"), "=?utf-8?q?"); enc != tt.encoded {
				t.Errorf("Subject %q encoded = %v, want %v", p.header.Get("Subject"), enc, tt.encoded)
			}
			check("Date", p.header.Get("Date"), "Tue, 04 Mar 2025 05:06:07 +0100")
			check("Message-Id", p.header.Get("Message-Id"), testID)
			check("MIME-Version", p.header.Get("Mime-Version"), "1.0")
			check("Content-Type", p.header.Get("Content-Type"), "text/plain; charset=utf-8")
			check("Content-Transfer-Encoding", p.header.Get("Content-Transfer-Encoding"), tt.cte)
			check("Auto-Submitted", p.header.Get("Auto-Submitted"), "auto-generated")
			check("body", p.body, tt.body)
			if d, err := p.header.Date(); err != nil || !d.Equal(testDate) {
				t.Errorf("Date parses as %v, %v; want %v", d, err, testDate)
			}
			if from := p.header.Get("From"); from != "" {
				a, err := netmail.ParseAddress(from)
				if err != nil {
					t.Errorf("From %q does not parse: %v", from, err)
				} else if want, _ := netmail.ParseAddress(tt.m.From.String()); a.Address != want.Address || a.Name != want.Name {
					t.Errorf("From parses as %+v, want %+v", a, want)
				}
			}
			// Header lines stay within 78 characters where there is a space
			// to fold at.
			head, _, _ := strings.Cut(p.raw, "\n\n")
			for _, l := range strings.Split(head, "\n") {
				rest := strings.TrimPrefix(l, " ")
				if _, v, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(l, " ") {
					rest = v
				}
				if len(l) > foldAt && strings.Contains(rest, " ") {
					t.Errorf("header line of %d characters not folded: %q", len(l), l)
				}
			}
		})
	}
}

func TestComposeDefaultsDate(t *testing.T) {
	t.Parallel()
	b, _, err := compose(Message{To: to("a@example.org")}, testDate, testID)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := parse(t, b).header.Date(); err != nil || !d.Equal(testDate) {
		t.Errorf("Date = %v, %v; want the injected clock's %v", d, err, testDate)
	}
}

func TestFormatMessageID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, from := range []string{"knockd@router.example.org", "", "root"} {
		b, err := Format(Message{From: addr(from), To: to("a@example.org")})
		if err != nil {
			t.Fatal(err)
		}
		id := parse(t, b).header.Get("Message-Id")
		if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || strings.Count(id, "@") != 1 || strings.ContainsAny(id, " \t") {
			t.Errorf("From %q: malformed Message-ID %q", from, id)
		}
		if strings.HasSuffix(from, "example.org") && !strings.HasSuffix(id, "@router.example.org>") {
			t.Errorf("Message-ID %q does not use the From domain", id)
		}
		if seen[id] {
			t.Errorf("Message-ID %q repeated", id)
		}
		seen[id] = true
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Message
		errs string
	}{
		{Message{To: to("a@example.org")}, ""},
		{Message{}, "no recipient"},
		{Message{From: addr("bad\nFrom: x@y"), To: to("a@example.org")}, "From:"},
		{Message{To: to("a@example.org", "-oi")}, "To[1]:"},
	}
	for _, tt := range tests {
		err := tt.m.Validate()
		if tt.errs == "" {
			if err != nil {
				t.Errorf("Validate(%+v): %v", tt.m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.errs) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.m, err, tt.errs)
		}
	}
}

func TestKnock(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 12, 34, 56, 0, time.UTC)
	subject, body := Knock("vpn", "203.0.113.7", at,
		[]string{"firewall: allow 203.0.113.7 to udp/1194 for 1h0m0s", "wake 00:11:22:33:44:55 on br-lan"}, nil)
	if want := `knockd: door "vpn" opened for 203.0.113.7`; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	for _, want := range []string{
		"Door:    vpn\n",
		"Address: 203.0.113.7\n",
		"Time:    2025-06-01 12:34:56 +0000 UTC\n",
		"Actions done:\n  - firewall: allow 203.0.113.7 to udp/1194 for 1h0m0s\n  - wake 00:11:22:33:44:55 on br-lan\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Failures") {
		t.Errorf("body mentions failures without any:\n%s", body)
	}

	subject, body = Knock("ssh\r\nBcc: x@example.com", "2001:db8::1", at, nil,
		[]string{"command \"/bin/false\": exit status 1\nsecond line", "mail: timeout"})
	if want := `knockd: door "ssh Bcc: x@example.com" opened for 2001:db8::1 (2 actions failed)`; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	for _, want := range []string{
		"Actions done: none\n",
		"Failures:\n  - command \"/bin/false\": exit status 1 second line\n  - mail: timeout\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Count(body, "\n") != 11 {
		t.Errorf("body has %d lines, want 11:\n%s", strings.Count(body, "\n"), body)
	}
	if s, _ := Knock("d", "192.0.2.1", at, []string{"x"}, []string{"y"}); !strings.HasSuffix(s, " (1 action failed)") {
		t.Errorf("subject %q does not count one failure", s)
	}
}

// FuzzParseAddress checks that whatever ParseAddress accepts yields a
// message whose headers are exactly the expected ones, with the same
// addresses, and a command line without options.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@example.org", "Ann <a@example.org>", "root", "a@b\r\nBcc: c@d", `"x y" <a@b.c>`, "=?utf-8?q?=C3=89?= <a@b.c>", "-f@x.y", "a@b, c@d", `"J. \"Jay\"\\ Doe" <j@x.org>`, "Élodie Ünal <e@x.org>", `"=?a?q?b?=" <e@x.org>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(a.Addr, "-") || strings.ContainsFunc(a.Addr+a.Name, mailaddr.IsControl) {
			t.Fatalf("ParseAddress(%q) = %+v", s, a)
		}
		b, rcpts, err := compose(Message{From: addr(s), To: to(s, "other@example.org"), Subject: "x", Date: testDate}, testDate, testID)
		if err != nil {
			t.Fatalf("compose with accepted address %q: %v", s, err)
		}
		if len(rcpts) != 2 || rcpts[0] != a.Addr {
			t.Fatalf("recipients %q for %q", rcpts, s)
		}
		p := parse(t, b)
		if strings.Join(p.keys, " ") != strings.Join(allKeys, " ") {
			t.Fatalf("address %q: headers %v\n%s", s, p.keys, p.raw)
		}
		if strings.Contains(a.Addr, "@") {
			from, err := netmail.ParseAddress(p.header.Get("From"))
			if err != nil || from.Address != a.Addr || from.Name != a.Name {
				t.Fatalf("address %q: From header %q parses as %+v, %v; want %+v", s, p.header.Get("From"), from, err, a)
			}
			list, err := netmail.ParseAddressList(p.header.Get("To"))
			if err != nil || len(list) != 2 || list[0].Address != a.Addr || list[1].Address != "other@example.org" || list[0].Name != a.Name {
				t.Fatalf("address %q: To header %q parses as %v, %v", s, p.header.Get("To"), list, err)
			}
		}
	})
}

// FuzzHeaderText checks that any subject and body give exactly one Subject
// header that decodes to the cleaned subject, no other headers, and a body
// that decodes to the cleaned body.
func FuzzHeaderText(f *testing.F) {
	f.Add("hello", "body")
	f.Add("a\r\nBcc: x@y", "line\r\n.\r\n")
	f.Add("=?utf-8?q?x?=", "\x00\x1b")
	f.Add(strings.Repeat("門", 120), strings.Repeat("é", 600))
	f.Fuzz(func(t *testing.T, subject, body string) {
		b, _, err := compose(Message{To: to("a@example.org"), Subject: subject, Body: body, Date: testDate}, testDate, testID)
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, b)
		want := CleanHeaderText(subject, maxSubject)
		keys := allKeys
		if want == "" {
			keys = []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "Message-Id", "Mime-Version", "To"}
		}
		keys = append([]string(nil), keys...)
		for i, k := range keys {
			if k == "From" {
				keys = append(keys[:i], keys[i+1:]...)
				break
			}
		}
		if strings.Join(p.keys, " ") != strings.Join(keys, " ") {
			t.Fatalf("subject %q: headers %v\n%s", subject, p.keys, p.raw)
		}
		if got := decodeHeader(t, p.header.Get("Subject")); got != want {
			t.Fatalf("subject %q decodes to %q, want %q", subject, got, want)
		}
		if p.body != cleanBody(body) {
			t.Fatalf("body %q decodes to %q, want %q", body, p.body, cleanBody(body))
		}
	})
}

// addr parses s, or for a test of what ParseAddress refuses, builds the
// Address by hand.
func addr(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		return Address{Addr: s}
	}
	return a
}

func to(ss ...string) []Address {
	var out []Address
	for _, s := range ss {
		out = append(out, addr(s))
	}
	return out
}
