package rotate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

func TestURI(t *testing.T) {
	t.Parallel()
	secret, _ := ParseSecret(vectorSecret)
	p := Default(secret)
	got := URI(p, "ssh", "router.example.net")
	want := "otpauth://knock/knockd-go:ssh?secret=" + vectorSecret +
		"&algorithm=SHA256&digits=4&period=30&ports=10000-60000&protocol=tcp&host=router.example.net&issuer=knockd-go"
	if got != want {
		t.Errorf("URI =\n%s\nwant\n%s", got, want)
	}
	q := Params{Secret: secret, Length: 16, Step: time.Hour, Lo: 1, Hi: 65535, Proto: l4.UDP}
	got = URI(q, "my door/ä?&#", "")
	want = "otpauth://knock/knockd-go:my%20door%2F%C3%A4%3F&%23?secret=" + vectorSecret +
		"&algorithm=SHA256&digits=16&period=3600&ports=1-65535&protocol=udp&issuer=knockd-go"
	if got != want {
		t.Errorf("URI =\n%s\nwant\n%s", got, want)
	}
	for _, c := range []struct {
		p          Params
		door, host string
	}{
		{p, "ssh", "router.example.net"},
		{q, "my door/ä?&#", ""},
		{p, "v6", "[2001:db8::1]"},
		{p, "x:y", "2001:db8::1"},
		{p, "+ %41", "host+%"},
	} {
		u := URI(c.p, c.door, c.host)
		p2, door, host, err := ParseURI(u)
		if err != nil || !sameParams(p2, c.p) || door != c.door || host != c.host {
			t.Errorf("ParseURI(%s) = %+v, %q, %q, %v; want %+v, %q, %q", u, p2, door, host, err, c.p, c.door, c.host)
		}
	}
}

func sameParams(a, b Params) bool {
	return bytes.Equal(a.Secret, b.Secret) && a.Length == b.Length && a.Step == b.Step &&
		a.Lo == b.Lo && a.Hi == b.Hi && a.Proto == b.Proto
}

func TestParseURI(t *testing.T) {
	t.Parallel()
	const base = "otpauth://knock/knockd-go:ssh?secret=" + vectorSecret
	secret, _ := ParseSecret(vectorSecret)
	tests := []struct {
		in   string
		want Params
		door string
		host string
		err  string
	}{
		{base, Default(secret), "ssh", "", ""},
		{"OTPAUTH://knock/knockd-go%3Assh?secret=" + strings.ToLower(vectorSecret) + "&algorithm=sha256",
			Default(secret), "ssh", "", ""},
		{base + "&digits=2&period=5&ports=2000-2255&protocol=UDP&host=r&issuer=knockd-go",
			Params{secret, 2, 5 * time.Second, 2000, 2255, l4.UDP}, "ssh", "r", ""},
		{"otpauth://knock/knockd-go:ssh", Params{}, "", "", "no secret parameter"},
		{"otpauth://totp/knockd-go:ssh?secret=" + vectorSecret, Params{}, "", "", "want otpauth://knock/"},
		{"https://knock/knockd-go:ssh?secret=" + vectorSecret, Params{}, "", "", `scheme "https"`},
		{"otpauth://u@knock/knockd-go:ssh?secret=" + vectorSecret, Params{}, "", "", "want otpauth://knock/"},
		{"otpauth://knock:1/knockd-go:ssh?secret=" + vectorSecret, Params{}, "", "", "want otpauth://knock/"},
		{"otpauth:knock/knockd-go:ssh?secret=" + vectorSecret, Params{}, "", "", "want otpauth://knock/"},
		{base + "#frag", Params{}, "", "", "fragment"},
		{base + "#", Params{}, "", "", "fragment"},
		{"otpauth://knock/other:ssh?secret=" + vectorSecret, Params{}, "", "", `label "other:ssh"`},
		{"otpauth://knock/knockd-go:?secret=" + vectorSecret, Params{}, "", "", `label "knockd-go:"`},
		{"otpauth://knock/ssh?secret=" + vectorSecret, Params{}, "", "", `label "ssh"`},
		{base + "&secret=" + vectorSecret, Params{}, "", "", `"secret" given 2 times`},
		{base + "&algorithm=SHA1", Params{}, "", "", `algorithm "SHA1"`},
		{base + "&digits=1", Params{}, "", "", "length 1"},
		{base + "&digits=x", Params{}, "", "", `digits "x"`},
		{base + "&digits=-4", Params{}, "", "", `digits "-4"`},
		{base + "&period=4", Params{}, "", "", "step 4s"},
		{base + "&period=999999", Params{}, "", "", "period 999999"},
		{base + "&period=", Params{}, "", "", `period ""`},
		{base + "&ports=1-2", Params{}, "", "", "has 2 ports"},
		{base + "&protocol=icmp", Params{}, "", "", "unknown protocol"},
		{base + "&host=", Params{}, "", "", `host ""`},
		{base + "&host=a%20b", Params{}, "", "", `host "a b"`},
		{base + "&issuer=other", Params{}, "", "", `issuer "other"`},
		{base + "&counter=1", Params{}, "", "", `unknown parameter "counter"`},
		{base + ";x=1", Params{}, "", "", "query"},
		{base + "&x=%zz", Params{}, "", "", "query"},
		{"otpauth://knock/knockd-go:ssh?secret=AAAA", Params{}, "", "", "secret of 2 bytes"},
		{"otpauth://knock/knockd-go:%zz?secret=" + vectorSecret, Params{}, "", "", "invalid URL escape"},
		{"otpauth://knock/knockd-go:a\x01?secret=" + vectorSecret, Params{}, "", "", "control character"},
	}
	for _, tt := range tests {
		p, door, host, err := ParseURI(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "knock URI: ") {
				t.Errorf("ParseURI(%q) = %+v, %q, %q, %v; want error %q", tt.in, p, door, host, err, tt.err)
			} else {
				t.Logf("%v", err)
			}
			continue
		}
		if err != nil || !sameParams(p, tt.want) || door != tt.door || host != tt.host {
			t.Errorf("ParseURI(%q) = %+v, %q, %q, %v; want %+v, %q, %q", tt.in, p, door, host, err, tt.want, tt.door, tt.host)
		}
	}
}
