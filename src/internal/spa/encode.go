//go:build !knockd_nospa

package spa

import (
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// GPGGuessLen is the payload length from which fwknopd guesses GPG and, for
// stanzas without ENABLE_CMD_EXEC, does not try Rijndael: Encode output this
// long only works with knockd-go servers. Long port lists or SHA-512
// digests reach it.
const GPGGuessLen = 400

// Encode builds the UDP payload of an SPA packet carrying m, encrypted and
// authenticated with k, as the fwknop client does. rnd supplies the salt and
// a missing random value (crypto/rand when nil). m is not modified.
//
// Fields used: Random, User, Timestamp (required), Version, Type, Access or
// Addr with Ports (or Command for TypeCommand), NATAccess or NATTo for the
// NAT types, ClientTimeout, ServerAuth and DigestType. Use Addr 0.0.0.0 to
// ask the server to grant the packet's source address (client -s).
func Encode(m *Message, k Keys, rnd io.Reader) ([]byte, error) {
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	encoded, err := buildEncoded(m, rnd)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	dig, err := lookupDigest(m.DigestType)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	h := dig.new()
	h.Write([]byte(encoded))
	pt := encoded + ":" + b64.EncodeToString(h.Sum(nil))

	var salt [8]byte
	if _, err := io.ReadFull(rnd, salt[:]); err != nil {
		return nil, fmt.Errorf("encode: salt: %w", err)
	}
	full := b64.EncodeToString(encryptSalted(k.Rijndael, salt[:], []byte(pt)))

	alg, _ := lookupDigest(k.HMACDigest) // checked by Validate
	mac := hmac.New(alg.new, k.HMAC)
	mac.Write([]byte(full))
	wire := full[len(saltedB64):] + b64.EncodeToString(mac.Sum(nil))
	if len(wire) > MaxPacketLen {
		return nil, fmt.Errorf("encode: packet of %d bytes exceeds %d", len(wire), MaxPacketLen)
	}
	return []byte(wire), nil
}

// randomDigits returns n decimal digits drawn uniformly from rnd.
func randomDigits(rnd io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	var buf [32]byte
	for tries := 0; len(out) < n; tries++ {
		if tries > 64 {
			return "", fmt.Errorf("random source gives no usable bytes")
		}
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return "", fmt.Errorf("random value: %w", err)
		}
		for _, b := range buf {
			if b < 250 && len(out) < n { // 250 = 25*10: no modulo bias
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// buildEncoded returns the encoded message (without digest) for m, and
// checks that it parses back. It is long because it checks and writes the
// message's fields in their order on the wire, one block each, the mirror
// of parseEncoded.
func buildEncoded(m *Message, rnd io.Reader) (string, error) {
	random := m.Random
	if random == "" {
		var err error
		if random, err = randomDigits(rnd, randLen); err != nil {
			return "", err
		}
	}
	user := m.User
	if user == "" {
		user = "NO_USER"
	}
	if !validUser(user) || b64.EncodedLen(len(user)) > maxUserFieldLen {
		return "", fmt.Errorf("invalid username %q", user)
	}
	if m.Timestamp.IsZero() || m.Timestamp.Unix() < 0 {
		return "", fmt.Errorf("timestamp not set")
	}
	version := m.Version
	if version == "" {
		version = ProtocolVersion
	}

	typ := m.Type
	if typ == TypeCommand && m.Command == "" {
		typ = TypeAccess // the zero Type: a command needs Command
	}
	if m.ClientTimeout < 0 || m.ClientTimeout > maxClientTimeout {
		return "", fmt.Errorf("client timeout %d out of range", m.ClientTimeout)
	}
	if m.ClientTimeout > 0 {
		if typ == TypeCommand {
			return "", fmt.Errorf("client timeout with a command message")
		}
		typ = typ.withTimeout()
	}
	if !typ.Valid() {
		return "", fmt.Errorf("invalid message type %d", int(typ))
	}

	access := m.Access
	if access == "" {
		if !m.Addr.IsValid() {
			return "", fmt.Errorf("no address (use 0.0.0.0 for the packet's source)")
		}
		if typ == TypeCommand {
			access = m.Addr.String() + "," + m.Command
		} else {
			if len(m.Ports) == 0 {
				return "", fmt.Errorf("no ports requested")
			}
			ports := make([]string, len(m.Ports))
			for i, p := range m.Ports {
				ports[i] = p.String()
			}
			access = m.Addr.String() + "," + strings.Join(ports, ",")
		}
	}
	fields := []string{random, b64.EncodeToString([]byte(user)),
		strconv.FormatInt(m.Timestamp.Unix(), 10), version, strconv.Itoa(int(typ)),
		b64.EncodeToString([]byte(access))}
	if typ.HasNAT() {
		nat := m.NATAccess
		if nat == "" {
			if !m.NATTo.IsValid() {
				return "", fmt.Errorf("%s without a NAT destination", typ)
			}
			nat = m.NATTo.Addr().String() + "," + strconv.Itoa(int(m.NATTo.Port()))
		}
		fields = append(fields, b64.EncodeToString([]byte(nat)))
	}
	if m.ServerAuth != "" {
		fields = append(fields, b64.EncodeToString([]byte(m.ServerAuth)))
	}
	if typ.HasTimeout() {
		fields = append(fields, strconv.Itoa(m.ClientTimeout))
	}
	encoded := strings.Join(fields, ":")

	var check Message
	if err := parseEncoded(encoded, &check); err != nil {
		return "", fmt.Errorf("message does not parse back: %v", err)
	}
	for i := 0; i < len(encoded); i++ {
		if encoded[i] < 0x20 || encoded[i] > 0x7e {
			return "", fmt.Errorf("unprintable byte in message")
		}
	}
	return encoded, nil
}

// NewKeys returns a new SPA key and HMAC key as fwknop --key-gen makes
// them: 32 and 64 random bytes.
func NewKeys() (key, hmacKey []byte, err error) {
	key, hmacKey = make([]byte, 32), make([]byte, 64)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	if _, err := rand.Read(hmacKey); err != nil {
		return nil, nil, err
	}
	return key, hmacKey, nil
}
