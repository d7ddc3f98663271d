// Package spa implements fwknop-compatible Single Packet Authorization:
// verifying SPA packets sent by the stock fwknop client (2.x, Rijndael mode
// with a mandatory HMAC) and building packets that fwknopd accepts.
//
// Wire format (one UDP datagram, ASCII):
//
//	wire      = B64(ct)[10:] || B64(HMAC(hmacKey, B64(ct)))
//	ct        = "Salted__" || salt[8] || AES-256-CBC(PKCS#7(plaintext))
//	key, iv   = EVP_BytesToKey(MD5, count 1, rijndaelKey, salt)
//	plaintext = encoded ":" B64(digest(encoded))
//	encoded   = rand16 ":" B64(user) ":" unixtime ":" "3.0.0" ":" type ":" B64(message)
//	            [":" B64(nat)] [":" B64(serverAuth)] [":" clientTimeout]
//
// where B64 is standard base64 with the trailing '=' removed and the first
// ten characters of B64(ct) are always "U2FsdGVkX1" (base64 of "Salted__").
//
// A Verifier applies fwknopd's checks in a fixed order, cheapest first, so
// that a flood of garbage costs little: length, the "U2FsdGVkX1" replay
// trick, first character (always one of 8 9 + /), alphabet, then the HMAC
// (constant time, compared as base64 text); only then decryption, inner
// digest, field parsing, timestamp window, replay cache, source address,
// message type, ports and client timeout. Every rejection is an *Error
// carrying a stable Reason; garbage costs no allocation.
//
// Deliberate differences from fwknopd: the HMAC is mandatory; only
// Rijndael in CBC mode is supported (no GPG, no legacy or other modes);
// the replay cache is in memory and bounded; IPv6 addresses are accepted
// in messages (the fwknop client only sends IPv4); NAT host names are
// refused rather than resolved; ports are checked even for doors that run
// commands (fwknopd skips OPEN_PORTS when CMD_CYCLE_OPEN is set).
package spa

import (
	"fmt"
	"hash"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Digest type names, as fwknop spells them (client --hmac-digest-type / -m,
// server HMAC_DIGEST_TYPE).
const (
	DigestMD5     = "md5"
	DigestSHA1    = "sha1"
	DigestSHA256  = "sha256"
	DigestSHA384  = "sha384"
	DigestSHA512  = "sha512"
	DigestSHA3256 = "sha3_256"
	DigestSHA3512 = "sha3_512"
)

// DefaultPort is fwknop's default SPA destination port (UDP).
const DefaultPort = 62201

// Protocol version fwknop 2.x writes in every packet.
const ProtocolVersion = "3.0.0"

// Packet size limits of fwknopd (MIN_SPA_DATA_SIZE, MAX_SPA_PACKET_LEN).
const (
	MinPacketLen = 140
	MaxPacketLen = 1500
)

// Key length limits of fwknop (RIJNDAEL_MAX_KEYSIZE, MAX_DIGEST_BLOCK_LEN).
const (
	MaxRijndaelKeyLen = 32
	MaxHMACKeyLen     = 136
)

// saltedB64 is base64("Salted__") cut to whole characters; fwknop strips it
// from the wire and puts it back before the HMAC and decryption.
const saltedB64 = "U2FsdGVkX1"

type digestAlg struct {
	name   string
	new    func() hash.Hash
	b64len int // length of the base64 text without '='
}

// lookupDigest finds a digest by name; "" means sha256. Case and '-' vs '_'
// are not significant ("SHA3-256" works).
func lookupDigest(name string) (digestAlg, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	if n == "" {
		n = DigestSHA256
	}
	for _, d := range digestAlgs {
		if d.name == n {
			return d, nil
		}
	}
	return digestAlg{}, fmt.Errorf("unknown digest type %q", name)
}

// ParseDigest returns the canonical name of a digest type ("SHA3-256"
// gives "sha3_256"); "" means sha256.
func ParseDigest(name string) (string, error) {
	d, err := lookupDigest(name)
	if err != nil {
		return "", fmt.Errorf("%w (want %s)", err, strings.Join(Digests(), ", "))
	}
	return d.name, nil
}

// Digests returns the supported digest type names.
func Digests() []string {
	out := make([]string, len(digestAlgs))
	for i, d := range digestAlgs {
		out[i] = d.name
	}
	return out
}

// Keys are the secrets of one SPA door (one fwknopd access.conf stanza).
type Keys struct {
	// Rijndael is the encryption key: the passphrase bytes (fwknop KEY) or
	// the decoded KEY_BASE64; 1 to 32 bytes, used as is.
	Rijndael []byte
	// HMAC is the HMAC key: the passphrase bytes (HMAC_KEY) or the decoded
	// HMAC_KEY_BASE64; 1 to 136 bytes. It is mandatory.
	HMAC []byte
	// HMACDigest is the HMAC digest type name; "" means sha256.
	HMACDigest string
}

// KeyError is a problem of one of the Keys; Field is "Rijndael", "HMAC"
// or "HMACDigest", so that a caller can name the setting at fault.
type KeyError struct {
	_     [0]func() // not comparable: no equality function in the binary
	Field string
	Err   error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Validate checks key lengths and the digest name, and refuses equal
// encryption and HMAC keys as fwknopd does. Errors are *KeyError.
func (k Keys) Validate() error {
	if len(k.Rijndael) == 0 || len(k.Rijndael) > MaxRijndaelKeyLen {
		//lint:ignore ST1005 Rijndael, the cipher's name, is a proper noun
		return &KeyError{Field: "Rijndael", Err: fmt.Errorf("Rijndael key must be 1 to %d bytes, got %d", MaxRijndaelKeyLen, len(k.Rijndael))}
	}
	if len(k.HMAC) == 0 || len(k.HMAC) > MaxHMACKeyLen {
		return &KeyError{Field: "HMAC", Err: fmt.Errorf("HMAC key must be 1 to %d bytes, got %d", MaxHMACKeyLen, len(k.HMAC))}
	}
	if string(k.Rijndael) == string(k.HMAC) {
		//lint:ignore ST1005 Rijndael, the cipher's name, is a proper noun
		return &KeyError{Field: "HMAC", Err: fmt.Errorf("Rijndael and HMAC keys must differ")}
	}
	if _, err := lookupDigest(k.HMACDigest); err != nil {
		return &KeyError{Field: "HMACDigest", Err: err}
	}
	return nil
}

// DecodeKey decodes a base64 key (fwknop KEY_BASE64 / HMAC_KEY_BASE64),
// with or without '=' padding.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("decode base64 key: %w", err)
	}
	return b, nil
}

// MsgType is the SPA message type (fwknop fko_message_type_t).
type MsgType int

// Message types.
const (
	TypeCommand                     MsgType = 0 // run a command (-C)
	TypeAccess                      MsgType = 1 // open ports (default)
	TypeNATAccess                   MsgType = 2 // forward to an inside host (-N)
	TypeClientTimeoutAccess         MsgType = 3 // access with client timeout (-f)
	TypeClientTimeoutNATAccess      MsgType = 4 // NAT with client timeout
	TypeLocalNATAccess              MsgType = 5 // redirect to a local port (--nat-local)
	TypeClientTimeoutLocalNATAccess MsgType = 6 // local NAT with client timeout
)

var msgTypeNames = [...]string{"command", "access", "NAT access", "client-timeout access",
	"client-timeout NAT access", "local NAT access", "client-timeout local NAT access"}

// String names the type.
func (t MsgType) String() string {
	if t >= 0 && int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// Valid reports whether t is one of the seven fwknop types.
func (t MsgType) Valid() bool { return t >= TypeCommand && t <= TypeClientTimeoutLocalNATAccess }

// HasNAT reports whether the type carries a NAT field (2, 4, 5, 6).
func (t MsgType) HasNAT() bool {
	return t == TypeNATAccess || t == TypeClientTimeoutNATAccess || t.LocalNAT()
}

// LocalNAT reports whether the type is a local NAT type (5, 6).
func (t MsgType) LocalNAT() bool {
	return t == TypeLocalNATAccess || t == TypeClientTimeoutLocalNATAccess
}

// HasTimeout reports whether the type carries a client timeout (3, 4, 6).
func (t MsgType) HasTimeout() bool {
	return t == TypeClientTimeoutAccess || t == TypeClientTimeoutNATAccess ||
		t == TypeClientTimeoutLocalNATAccess
}

// withTimeout returns the client-timeout variant of an access type.
func (t MsgType) withTimeout() MsgType {
	switch t {
	case TypeAccess:
		return TypeClientTimeoutAccess
	case TypeNATAccess:
		return TypeClientTimeoutNATAccess
	case TypeLocalNATAccess:
		return TypeClientTimeoutLocalNATAccess
	}
	return t
}

// ParsePort parses a port of an SPA message, "tcp/22". The protocol must
// be tcp, udp, icmp or none (fwknop knows all four; doors grant only tcp
// and udp) and the port 1 to 65535.
func ParsePort(s string) (l4.Port, error) {
	proto, num, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return l4.Port{}, fmt.Errorf("port %q: want proto/port", s)
	}
	var p l4.Port
	switch strings.ToLower(proto) {
	case "tcp":
		p.Proto = l4.TCP
	case "udp":
		p.Proto = l4.UDP
	case "icmp":
		p.Proto = l4.ICMP
	case "none":
		p.Proto = l4.None
	default:
		return l4.Port{}, fmt.Errorf("port %q: unknown protocol", s)
	}
	if num == "" || len(num) > 5 || strings.Trim(num, "0123456789") != "" {
		return l4.Port{}, fmt.Errorf("port %q: bad number", s)
	}
	n, _ := strconv.Atoi(num)
	if n < 1 || n > 65535 {
		return l4.Port{}, fmt.Errorf("port %q: out of range", s)
	}
	p.Num = uint16(n)
	return p, nil
}

// Message is a decoded SPA message. Verify fills every field; Encode reads
// the fields marked "encode".
type Message struct {
	// Random is the 16-digit random value (encode: generated when empty).
	Random string
	// User is the username (encode: "NO_USER" when empty, as fwknop).
	User string
	// Timestamp is the client's clock at send time (encode: required).
	Timestamp time.Time
	// Version is the protocol version (encode: "3.0.0" when empty).
	Version string
	// Type is the message type. Encode reads the zero Type (TypeCommand)
	// as TypeAccess unless Command is set, and turns TypeAccess,
	// TypeNATAccess and TypeLocalNATAccess into their client-timeout
	// variants when ClientTimeout > 0, as libfko does.
	Type MsgType
	// Access is the decoded message field: "10.0.0.1,tcp/22,udp/53" for
	// access types, "10.0.0.1,<command>" for commands (encode: built from
	// Addr and Ports or Command when empty).
	Access string
	// Addr is the address in Access; 0.0.0.0 means "the packet's source"
	// (client -s).
	Addr netip.Addr
	// Ports are the requested ports (access and NAT types).
	Ports []l4.Port
	// Command is the command of a TypeCommand message.
	Command string
	// NATAccess is the decoded NAT field, "host,port" (encode: built from
	// NATTo when empty).
	NATAccess string
	// NATTo is NATAccess parsed, when its host is an IP address.
	NATTo netip.AddrPort
	// ClientTimeout is the timeout in seconds the client asked for, 0 if
	// none (encode: > 0 selects a client-timeout type; a client-timeout
	// Type with 0 sends 0, which servers treat as no client timeout).
	ClientTimeout int
	// ServerAuth is the optional server_auth field (libfko API only).
	ServerAuth string
	// DigestType is the inner digest type (encode: "" means sha256).
	DigestType string
	// Digest is the inner digest as sent (base64 text).
	Digest string

	// Grant is the address to open for: Addr, or the packet's source
	// address when Addr is 0.0.0.0 and the policy allows that. Set by
	// Verify.
	Grant netip.Addr
	// Timeout is the client timeout after the policy's cap, 0 when the
	// client did not ask for one (then the door's own timeout applies).
	// Set by Verify.
	Timeout time.Duration
}
