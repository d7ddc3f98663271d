//go:build !knockd_nospa

package spa

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// The verifier's cryptography: a knockd built without SPA (knockd_nospa,
// docs/size.md) links none of it (omit.go).

// NewVerifier returns a Verifier for p. now is the clock (time.Now when
// nil). replay may be shared between doors and kept across reloads; nil
// gives the Verifier its own cache of DefaultReplayCap entries.
func NewVerifier(p Policy, now func() time.Time, replay *ReplayCache) (*Verifier, error) {
	if err := p.Keys.Validate(); err != nil {
		return nil, err
	}
	alg, _ := lookupDigest(p.Keys.HMACDigest)
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.MaxClientTimeout <= 0 {
		p.MaxClientTimeout = DefaultMaxClientTimeout
	}
	for _, port := range p.AllowPorts {
		if (port.Proto != l4.TCP && port.Proto != l4.UDP) || port.Num == 0 {
			return nil, fmt.Errorf("allowed port %s: want tcp or udp and a port number", port)
		}
	}
	if now == nil {
		now = time.Now
	}
	if replay == nil {
		replay = NewReplayCache(0)
	}
	key := append([]byte(nil), p.Keys.HMAC...)
	p.Keys.Rijndael = append([]byte(nil), p.Keys.Rijndael...)
	p.Keys.HMAC = key
	v := &Verifier{p: p, now: now, replay: replay, macLen: alg.b64len}
	v.macPool.New = func() any { return &macState{h: hmac.New(alg.new, key)} }
	return v, nil
}

// Verify authenticates and decodes one SPA payload (the UDP data, exactly
// as received) from source address src, and applies the policy. On success
// the returned Message has Grant (the address to open for) and Timeout
// set. Every failure is an *Error; see Reason.
func (v *Verifier) Verify(payload []byte, src netip.Addr) (*Message, error) {
	// Cheap checks first: a flood of garbage stops here or at the HMAC.
	n := len(payload)
	if n < MinPacketLen {
		return nil, ErrTruncated
	}
	if n > MaxPacketLen {
		return nil, ErrTooLong
	}
	if string(payload[:len(saltedB64)]) == saltedB64 {
		return nil, ErrSaltedPrefix
	}
	// The 11th character of base64("Salted__"||salt) holds the low 4
	// bits of '_' and 2 salt bits: it is always one of 8 9 + /.
	switch payload[0] {
	case '8', '9', '+', '/':
	default:
		return nil, ErrNotSPA
	}
	for _, c := range payload {
		if !b64set[c] {
			return nil, ErrNotBase64
		}
	}
	// A packet the cache holds is a byte-for-byte copy of one already
	// authenticated (the key is its SHA-256): refused before the HMAC and
	// the decryption, so a replay at full rate costs one digest a packet.
	digest := sha256.Sum256(payload)
	if v.replay.has(digest) {
		return nil, ErrReplay
	}
	body, mac := payload[:n-v.macLen], payload[n-v.macLen:]
	if !v.checkMAC(body, mac) {
		return nil, ErrHMAC
	}

	// Authenticated: the sender holds the HMAC key.
	m, err := v.decrypt(body)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if err := v.checkAge(m, now); err != nil {
		return nil, err
	}
	if err := v.replay.add(digest, m.Timestamp.Unix(), now, v.p.MaxAge); err != nil {
		return nil, err
	}
	if err := v.checkPolicy(m, src.Unmap()); err != nil {
		return nil, err
	}
	return m, nil
}

// checkMAC compares, in constant time, the base64 text of
// HMAC("U2FsdGVkX1" || body) with the received text (as fwknopd: comparing
// text rejects the spare bits of the last character).
func (v *Verifier) checkMAC(body, mac []byte) bool {
	st := v.macPool.Get().(*macState)
	defer v.macPool.Put(st)
	st.h.Reset()
	st.h.Write(saltedPrefix)
	st.h.Write(body)
	s := st.h.Sum(st.sum[:0])
	b64.Encode(st.text[:], s)
	return subtle.ConstantTimeCompare(st.text[:b64.EncodedLen(len(s))], mac) == 1
}

// decrypt decrypts the authenticated body, checks the inner digest and
// parses the fields.
func (v *Verifier) decrypt(body []byte) (*Message, error) {
	full := make([]byte, 0, len(saltedB64)+len(body))
	full = append(append(full, saltedB64...), body...)
	ct := make([]byte, b64.DecodedLen(len(full)))
	k, err := b64.Decode(ct, full)
	if err != nil {
		return nil, reject(ReasonDecrypt, "decryption failed (bad base64)")
	}
	pt, ok := decryptSalted(v.p.Keys.Rijndael, ct[:k])
	if !ok {
		return nil, ErrDecrypt
	}
	// A right key yields 16 digits and ':' (libfko's own sanity check).
	if len(pt) < randLen+1 || !allDigits(string(pt[:randLen])) || pt[randLen] != ':' {
		return nil, ErrDecrypt
	}
	for _, c := range pt {
		if c < 0x20 || c > 0x7e {
			return nil, malformed("unprintable byte")
		}
	}
	s := string(pt)
	i := strings.LastIndexByte(s, ':')
	encoded, digest := s[:i], s[i+1:]
	m := &Message{Digest: digest}
	if m.DigestType, ok = checkDigest(encoded, digest); !ok {
		return nil, ErrDigest
	}
	if err := parseEncoded(encoded, m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkDigest verifies the inner digest, whose type fwknop infers from its
// length (43 and 86 characters are tried as SHA-2 then SHA-3).
func checkDigest(encoded, digest string) (string, bool) {
	for _, d := range digestAlgs {
		if d.b64len != len(digest) {
			continue
		}
		h := d.new()
		h.Write([]byte(encoded))
		if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(h.Sum(nil))), []byte(digest)) == 1 {
			return d.name, true
		}
	}
	return "", false
}
