package spa

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Field limits of libfko (lib/fko_limits.h).
const (
	maxUserFieldLen    = 64  // MAX_SPA_USERNAME_SIZE, base64 text
	maxTimestampLen    = 12  // MAX_SPA_TIMESTAMP_SIZE
	maxVersionLen      = 8   // MAX_SPA_VERSION_SIZE
	maxMessageFieldLen = 256 // MAX_SPA_MESSAGE_SIZE, base64 text
	maxNATHostLen      = 70  // MAX_HOSTNAME_LEN
	maxClientTimeout   = 2 << 15
	randLen            = 16
)

func malformed(what string) *Error {
	return reject(ReasonMalformed, "malformed message (%s)", what)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validUser applies libfko's username rule: printable ASCII without
// " / \ [ ] : ; | = , + * ? < >.
func validUser(u string) bool {
	if u == "" {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c < 0x20 || c > 0x7e || strings.IndexByte(`"/\[]:;|=,+*?<>`, c) >= 0 {
			return false
		}
	}
	return true
}

// decodeField base64-decodes one field (no '=' padding on the wire).
func decodeField(s string, max int) (string, bool) {
	if s == "" || len(s) > max {
		return "", false
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// parseAddr parses the allow address at the head of the message field. IPv6
// is accepted (fwknop only sends IPv4); zones are not.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseAccess parses "IP,proto/port[,proto/port...]".
func parseAccess(s string) (netip.Addr, []l4.Port, bool) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 {
		return netip.Addr{}, nil, false
	}
	a, ok := parseAddr(parts[0])
	if !ok {
		return netip.Addr{}, nil, false
	}
	ports := make([]l4.Port, 0, len(parts)-1)
	for _, p := range parts[1:] {
		pp, err := ParsePort(p)
		if err != nil || p != strings.TrimSpace(p) {
			return netip.Addr{}, nil, false
		}
		ports = append(ports, pp)
	}
	return a, ports, true
}

// parseCommand parses "IP,command".
func parseCommand(s string) (netip.Addr, string, bool) {
	ip, cmd, ok := strings.Cut(s, ",")
	if !ok || cmd == "" {
		return netip.Addr{}, "", false
	}
	a, ok := parseAddr(ip)
	return a, cmd, ok
}

// parseNAT parses "host,port"; NATTo is set when host is an IP address.
func parseNAT(s string) (netip.AddrPort, bool) {
	host, port, ok := strings.Cut(s, ",")
	if !ok || host == "" || len(host) > maxNATHostLen || strings.Contains(port, ",") {
		return netip.AddrPort{}, false
	}
	if port == "" || len(port) > 5 || !allDigits(port) {
		return netip.AddrPort{}, false
	}
	n, _ := strconv.Atoi(port)
	if n < 1 || n > 65535 {
		return netip.AddrPort{}, false
	}
	if a, ok := parseAddr(host); ok {
		return netip.AddrPortFrom(a, uint16(n)), true
	}
	for i := 0; i < len(host); i++ { // a host name
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPort{}, true
}

// parseEncoded parses the encoded message (without the trailing digest)
// into m, following libfko's fko_decode_spa_data. It is long because it
// follows that function field by field, in its order, so that the two can
// be read side by side.
func parseEncoded(s string, m *Message) *Error {
	f := strings.Split(s, ":")
	if len(f) < 6 || len(f) > 9 {
		return malformed(strconv.Itoa(len(f)+1) + " fields")
	}
	if len(f[0]) != randLen || !allDigits(f[0]) {
		return malformed("random value")
	}
	m.Random = f[0]

	user, ok := decodeField(f[1], maxUserFieldLen)
	if !ok || !validUser(user) {
		return malformed("username")
	}
	m.User = user

	if f[2] == "" || len(f[2]) > maxTimestampLen || !allDigits(f[2]) {
		return malformed("timestamp")
	}
	ts, _ := strconv.ParseInt(f[2], 10, 64) // at most 12 digits: no overflow
	m.Timestamp = time.Unix(ts, 0)

	if f[3] == "" || len(f[3]) > maxVersionLen {
		return malformed("version")
	}
	m.Version = f[3]

	if f[4] == "" || len(f[4]) > 2 || !allDigits(f[4]) {
		return malformed("message type")
	}
	t, _ := strconv.Atoi(f[4])
	m.Type = MsgType(t)
	if !m.Type.Valid() {
		return malformed("message type " + f[4])
	}

	msg, ok := decodeField(f[5], maxMessageFieldLen)
	if !ok {
		return malformed("message")
	}
	m.Access = msg
	if m.Type == TypeCommand {
		if m.Addr, m.Command, ok = parseCommand(msg); !ok {
			return malformed("command message")
		}
	} else if m.Addr, m.Ports, ok = parseAccess(msg); !ok {
		return malformed("access message")
	}

	rest := f[6:]
	if m.Type.HasNAT() {
		if len(rest) == 0 {
			return malformed("missing NAT field")
		}
		nat, ok := decodeField(rest[0], maxMessageFieldLen)
		if !ok {
			return malformed("NAT field")
		}
		m.NATAccess = nat
		if m.NATTo, ok = parseNAT(nat); !ok {
			return malformed("NAT field")
		}
		rest = rest[1:]
	}

	auth := ""
	if m.Type.HasTimeout() {
		switch len(rest) {
		case 1:
		case 2:
			auth, rest = rest[0], rest[1:]
		default:
			return malformed("missing client timeout")
		}
		if rest[0] == "" || len(rest[0]) > 6 || !allDigits(rest[0]) {
			return malformed("client timeout")
		}
		n, _ := strconv.Atoi(rest[0])
		if n > maxClientTimeout {
			return malformed("client timeout")
		}
		m.ClientTimeout = n
	} else {
		switch len(rest) {
		case 0:
		case 1:
			auth = rest[0]
		default:
			return malformed("too many fields")
		}
	}
	if auth != "" {
		if m.ServerAuth, ok = decodeField(auth, maxMessageFieldLen); !ok {
			return malformed("server_auth")
		}
	}
	return nil
}
