// Package rotate derives rotating knock sequences: instead of a fixed
// sequence, a door shares a secret with its clients, and the sequence
// changes every step (30 seconds by default), so a knock seen on the wire
// is worthless once its step has passed, and worthless at once when it
// opened the door (the daemon burns it).
//
// # Derivation (version 1)
//
// Everything below is exact; a reimplementation (a phone app, a script)
// that follows it reproduces the known-answer vectors in
// docs/rotating-knocks.md and in this package's tests.
//
// Parameters: a secret of 16 to 64 bytes, a length N (2 to 16 ports), a
// step S (5 to 3600 whole seconds), a port range lo-hi (1 <= lo, hi <=
// 65535, at least 256 ports: hi - lo + 1 >= 256) and a protocol (tcp or
// udp) used for every port.
//
//  1. counter C = floor(unix_seconds / S), unix_seconds being the UTC
//     time in whole seconds since 1970-01-01 (times before 1970 give 0).
//  2. Let P be the 27 ASCII bytes "knockd-go rotating knock v1" and
//     C8 the counter as 8 bytes, big-endian. The byte stream is
//     B0 || B1 || B2 || … where
//     B0 = HMAC-SHA256(secret, P || C8) and, for i = 1, 2, …,
//     Bi = HMAC-SHA256(secret, P || C8 || byte(i)).
//     (At most 16 blocks are ever needed, so byte(i) never wraps.)
//  3. The stream is read as consecutive big-endian 32-bit values
//     v0, v1, … (bytes 0-3, 4-7, …; eight values per block), and a
//     value v gives the port lo + (v mod W), W = hi - lo + 1.
//  4. The first port is the port of v0. Each further port is the port of
//     the next value, except that a value giving the same port as the
//     previous one is skipped (the daemon ignores a repeat of the step
//     just matched, so consecutive ports must differ); when 8 values in a
//     row drawn for one port all repeat the previous port, that port is
//     lo + ((previous - lo + 1) mod W) instead. Ports further apart may
//     repeat.
//
// Modulo bias: with 2^32 = q·W + r, the lowest r ports of the range come
// from q+1 values and the others from q, so no port is more than
// 1 + W/2^32 <= 1.00002 times as likely as another: negligible. The
// fallback of step 4 happens with probability at most 256^-8 per port.
//
// # Window and burning
//
// Clocks differ, so the daemon accepts the sequences of counters C-1, C and
// C+1 (Params.Window). A sequence that opened the door is burnt: its
// counter is never accepted again for that door, whoever knocks (Burnt).
// A second client that wants in during the same step uses the next one.
//
// # Sharing the parameters
//
// URI and ParseURI carry a door's parameters in an otpauth-style URI that a
// QR code can hold:
//
//	otpauth://knock/knockd-go:<door>?secret=<base32>&algorithm=SHA256&digits=<N>&period=<S>&ports=<lo>-<hi>&protocol=<tcp|udp>&host=<host>&issuer=knockd-go
package rotate

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Limits and defaults of the parameters.
const (
	MinSecretLen = 16 // bytes (128 bits)
	MaxSecretLen = 64
	NewSecretLen = 20 // what NewSecret makes (160 bits, as TOTP keys)

	DefaultLength = 4
	MinLength     = 2
	MaxLength     = 16

	DefaultStep = 30 * time.Second
	MinStep     = 5 * time.Second
	MaxStep     = time.Hour

	DefaultLo = 10000
	DefaultHi = 60000
	MinWidth  = 256 // ports in lo-hi

	DefaultProto = l4.TCP
)

// Prefix is the domain-separation prefix of version 1 of the derivation.
const Prefix = "knockd-go rotating knock v1"

// maxTries bounds the values drawn for one port (derivation step 4).
const maxTries = 8

// Params are a rotating door's parameters.
type Params struct {
	Secret []byte        // 16 to 64 bytes
	Length int           // ports per sequence, 2 to 16
	Step   time.Duration // whole seconds, 5 s to 1 h
	Lo, Hi uint16        // port range, at least 256 wide, Lo >= 1
	Proto  l4.Proto      // l4.TCP or l4.UDP
}

// Default returns the default parameters with the given secret: 4 tcp
// ports from 10000-60000, a new sequence every 30 seconds.
func Default(secret []byte) Params {
	return Params{Secret: secret, Length: DefaultLength, Step: DefaultStep,
		Lo: DefaultLo, Hi: DefaultHi, Proto: DefaultProto}
}

// Validate checks every parameter against the limits above.
func (p Params) Validate() error {
	if err := checkSecretLen(len(p.Secret)); err != nil {
		return err
	}
	if p.Length < MinLength || p.Length > MaxLength {
		return fmt.Errorf("length %d out of range %d-%d", p.Length, MinLength, MaxLength)
	}
	if p.Step%time.Second != 0 || p.Step < MinStep || p.Step > MaxStep {
		return fmt.Errorf("step %v: want whole seconds from %d to %d", p.Step, MinStep/time.Second, MaxStep/time.Second)
	}
	if err := checkRange(int(p.Lo), int(p.Hi)); err != nil {
		return err
	}
	if p.Proto != l4.TCP && p.Proto != l4.UDP {
		return fmt.Errorf("protocol %v: want tcp or udp", p.Proto)
	}
	return nil
}

func checkSecretLen(n int) error {
	if n < MinSecretLen || n > MaxSecretLen {
		return fmt.Errorf("secret of %d bytes: want %d to %d bytes (%d to %d bits)",
			n, MinSecretLen, MaxSecretLen, MinSecretLen*8, MaxSecretLen*8)
	}
	return nil
}

func checkRange(lo, hi int) error {
	if lo < 1 || hi > 65535 || lo > hi {
		return fmt.Errorf("port range %d-%d: want lo-hi within 1-65535", lo, hi)
	}
	if hi-lo+1 < MinWidth {
		return fmt.Errorf("port range %d-%d has %d ports: want at least %d", lo, hi, hi-lo+1, MinWidth)
	}
	return nil
}

// Counter returns the step counter at t: floor(unix seconds / step), 0
// for times before 1970 or a step under one second.
func (p Params) Counter(t time.Time) uint64 {
	s := int64(p.Step / time.Second)
	u := t.Unix()
	if s <= 0 || u < 0 {
		return 0
	}
	return uint64(u / s)
}

// Start returns the time at which counter begins.
func (p Params) Start(counter uint64) time.Time {
	return time.Unix(int64(counter)*int64(p.Step/time.Second), 0)
}

// stream produces the values v0, v1, … of one counter.
type stream struct {
	mac   hash.Hash
	msg   []byte // Prefix || C8 [|| block index]
	block []byte
	n     int // blocks made
	off   int
}

func (s *stream) next() uint32 {
	if s.off == len(s.block) {
		msg := s.msg
		if s.n > 0 {
			msg = append(msg, byte(s.n))
		}
		s.mac.Reset()
		s.mac.Write(msg)
		s.block = s.mac.Sum(s.block[:0])
		s.n++
		s.off = 0
	}
	v := binary.BigEndian.Uint32(s.block[s.off:])
	s.off += 4
	return v
}

// ports applies derivation steps 3 and 4 to a value source.
func ports(next func() uint32, n int, lo, hi uint16, proto l4.Proto) []l4.Port {
	w := uint32(hi) - uint32(lo) + 1
	out := make([]l4.Port, n)
	for i := range out {
		num := lo + uint16(next()%w)
		for try := 1; i > 0 && num == out[i-1].Num; try++ {
			if try == maxTries {
				num = lo + uint16((uint32(out[i-1].Num-lo)+1)%w)
				break
			}
			num = lo + uint16(next()%w)
		}
		out[i] = l4.Port{Proto: proto, Num: num}
	}
	return out
}

// Sequence returns the ports of counter. It returns nil when p is not
// valid (see Validate).
func (p Params) Sequence(counter uint64) []l4.Port {
	if p.Validate() != nil {
		return nil
	}
	return ports(newStream(p.Secret, counter).next, p.Length, p.Lo, p.Hi, p.Proto)
}

// Entry is one sequence of a window.
type Entry struct {
	Counter uint64
	Ports   []l4.Port
}

// Window returns the sequences accepted at t: those of counters C-1, C
// and C+1 where C = Counter(t), oldest first (C-1 is left out when C is
// 0). It returns nil when p is not valid.
func (p Params) Window(t time.Time) []Entry {
	if p.Validate() != nil {
		return nil
	}
	c := p.Counter(t)
	first := c
	if c > 0 {
		first = c - 1
	}
	var out []Entry
	for k := first; k <= c+1; k++ {
		out = append(out, Entry{Counter: k, Ports: p.Sequence(k)})
	}
	return out
}

// b32 is RFC 4648 base32 without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ParseSecret decodes a base32 secret (RFC 4648 alphabet, any case,
// '=' padding optional, spaces and dashes ignored) of 16 to 64 bytes.
func ParseSecret(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-':
			return -1
		}
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	if clean == "" {
		return nil, errors.New("empty secret")
	}
	if i := strings.IndexFunc(clean, func(r rune) bool { return !('A' <= r && r <= 'Z' || '2' <= r && r <= '7') }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(clean[i:])
		return nil, fmt.Errorf("secret is not base32: bad character %q", r)
	}
	switch len(clean) % 8 {
	case 1, 3, 6:
		return nil, fmt.Errorf("secret is not base32: %d characters cannot end a base32 text", len(clean)%8)
	}
	b, err := b32.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("secret is not base32: %w", err)
	}
	if b32.EncodeToString(b) != clean {
		return nil, errors.New("secret is not base32: its last character has stray bits (a typo?)")
	}
	if err := checkSecretLen(len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// FormatSecret encodes a secret as ParseSecret reads it: upper-case
// base32 without padding or grouping, one word for a configuration file,
// a command line or a URI.
func FormatSecret(secret []byte) string { return b32.EncodeToString(secret) }

// ParseRange parses a port range "lo-hi" (spaces allowed around the
// numbers) with 1 <= lo, hi <= 65535 and at least 256 ports.
func ParseRange(s string) (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want lo-hi, e.g. 10000-60000", s)
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(a))
	h, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("port range %q: want two numbers lo-hi", s)
	}
	if err := checkRange(l, h); err != nil {
		return 0, 0, err
	}
	return uint16(l), uint16(h), nil
}
