package rotate

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Issuer names knockd-go in a URI's label and issuer parameter.
const Issuer = "knockd-go"

// URI returns the otpauth-style URI of a door's parameters:
//
//	otpauth://knock/knockd-go:<door>?secret=<base32>&algorithm=SHA256&digits=<length>&period=<step seconds>&ports=<lo>-<hi>&protocol=<tcp|udp>&host=<host>&issuer=knockd-go
//
// The door is path-escaped, every value query-escaped; host is left out
// when empty. The secret is FormatSecret's form.
func URI(p Params, door, host string) string {
	var b strings.Builder
	b.WriteString("otpauth://knock/" + Issuer + ":" + url.PathEscape(door))
	b.WriteString("?secret=" + url.QueryEscape(FormatSecret(p.Secret)))
	b.WriteString("&algorithm=SHA256")
	b.WriteString("&digits=" + strconv.Itoa(p.Length))
	b.WriteString("&period=" + strconv.FormatInt(int64(p.Step/time.Second), 10))
	b.WriteString("&ports=" + strconv.Itoa(int(p.Lo)) + "-" + strconv.Itoa(int(p.Hi)))
	b.WriteString("&protocol=" + url.QueryEscape(p.Proto.String()))
	if host != "" {
		b.WriteString("&host=" + url.QueryEscape(host))
	}
	b.WriteString("&issuer=" + Issuer)
	return b.String()
}

// ParseURI parses a URI made by URI. It is strict: the scheme must be
// otpauth, the type knock, the label "knockd-go:<door>" with a non-empty
// door; every parameter may appear once and must be one of those URI
// writes; secret is required; algorithm must be SHA256 and issuer
// knockd-go when present; digits, period, ports and protocol default to
// Default's values when absent; host is "" when absent. The parameters
// are validated.
func ParseURI(s string) (p Params, door, host string, err error) {
	p, door, host, err = parseURI(s)
	if err != nil {
		return Params{}, "", "", fmt.Errorf("knock URI: %w", err)
	}
	return p, door, host, nil
}

func parseURI(s string) (p Params, door, host string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return p, "", "", err
	}
	if u.Scheme != "otpauth" {
		return p, "", "", fmt.Errorf("scheme %q: want otpauth", u.Scheme)
	}
	if u.Opaque != "" || u.User != nil || u.Host != "knock" {
		return p, "", "", errors.New("want otpauth://knock/…")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return p, "", "", errors.New("unexpected #fragment")
	}
	label := strings.TrimPrefix(u.Path, "/")
	door, ok := strings.CutPrefix(label, Issuer+":")
	if !ok || door == "" {
		return p, "", "", fmt.Errorf("label %q: want %s:<door>", label, Issuer)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return p, "", "", fmt.Errorf("query: %w", err)
	}
	p = Default(nil)
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if len(vs) != 1 {
			return p, "", "", fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "secret":
			p.Secret, err = ParseSecret(v)
		case "algorithm":
			if !strings.EqualFold(v, "SHA256") {
				err = fmt.Errorf("algorithm %q: want SHA256", v)
			}
		case "digits":
			p.Length, err = atoi("digits", v)
		case "period":
			var n int
			n, err = atoi("period", v)
			p.Step = time.Duration(n) * time.Second
			if n > int(MaxStep/time.Second) {
				err = fmt.Errorf("period %d: want at most %d", n, MaxStep/time.Second)
			}
		case "ports":
			p.Lo, p.Hi, err = ParseRange(v)
		case "protocol":
			p.Proto, err = l4.ParseProto(v)
		case "host":
			host = v
			if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				err = fmt.Errorf("host %q: want a host name or address", v)
			}
		case "issuer":
			if v != Issuer {
				err = fmt.Errorf("issuer %q: want %s", v, Issuer)
			}
		default:
			err = fmt.Errorf("unknown parameter %q", k)
		}
		if err != nil {
			return p, "", "", err
		}
	}
	if p.Secret == nil {
		return p, "", "", errors.New("no secret parameter")
	}
	if err := p.Validate(); err != nil {
		return p, "", "", err
	}
	return p, door, host, nil
}

func atoi(name, v string) (int, error) {
	if v == "" || len(v) > 6 || strings.Trim(v, "0123456789") != "" {
		return 0, fmt.Errorf("%s %q: want a number", name, v)
	}
	n, _ := strconv.Atoi(v)
	return n, nil
}
