package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The three usign (OpenBSD signify) structures, all starting with the
// algorithm "Ed" and, after it, the 8-byte key number (fingerprint):
//
//	public key  "Ed" keynum[8] pubkey[32]
//	secret key  "Ed" "BK" kdfrounds[4] salt[16] checksum[8] keynum[8] seckey[64]
//	signature   "Ed" keynum[8] sig[64]
//
// Each is stored base64-encoded on the second line of a file whose first
// line is "untrusted comment: ...". The secret key's seckey is the Ed25519
// seed followed by the public key (what Go calls an ed25519.PrivateKey),
// its checksum the first 8 bytes of SHA-512(seckey); usign writes only
// keys without a passphrase (kdfrounds 0).
const (
	keyNumSize    = 8
	pubKeySize    = 2 + keyNumSize + ed25519.PublicKeySize
	secKeySize    = 2 + 2 + 4 + 16 + 8 + keyNumSize + ed25519.PrivateKeySize
	signatureSize = 2 + keyNumSize + ed25519.SignatureSize
	commentPrefix = "untrusted comment: "
)

// KeyNum is a key's fingerprint; usign prints it as 16 hex digits and
// names the keys in /etc/opkg/keys after it.
type KeyNum [keyNumSize]byte

func (k KeyNum) String() string { return fmt.Sprintf("%016x", binary.BigEndian.Uint64(k[:])) }

// PublicKey is a usign public key.
type PublicKey struct {
	Num KeyNum
	Key ed25519.PublicKey
}

// SecretKey is a usign secret key.
type SecretKey struct {
	Num KeyNum
	Key ed25519.PrivateKey
}

// Signature is a usign signature.
type Signature struct {
	Num KeyNum
	Sig []byte
}

// GenerateKey makes a key pair with a random key number, as usign -G does.
func GenerateKey(r io.Reader) (*SecretKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var num KeyNum
	if _, err := io.ReadFull(r, num[:]); err != nil {
		return nil, fmt.Errorf("usign: key number: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("usign: generate: %w", err)
	}
	return &SecretKey{Num: num, Key: priv}, nil
}

// Public returns the public half of k.
func (k *SecretKey) Public() *PublicKey {
	return &PublicKey{Num: k.Num, Key: k.Key.Public().(ed25519.PublicKey)}
}

// Sign signs msg (Ed25519 is deterministic: the same key and message give
// the same signature, as with usign -S).
func (k *SecretKey) Sign(msg []byte) *Signature {
	return &Signature{Num: k.Num, Sig: ed25519.Sign(k.Key, msg)}
}

// Errors of Verify.
var (
	ErrWrongKey = errors.New("usign: signature made by another key")
	ErrBadSig   = errors.New("usign: verification failed")
)

// Verify checks sig over msg with k.
func (k *PublicKey) Verify(msg []byte, sig *Signature) error {
	if sig.Num != k.Num {
		return fmt.Errorf("%w (%s, not %s)", ErrWrongKey, sig.Num, k.Num)
	}
	if !ed25519.Verify(k.Key, msg, sig.Sig) {
		return ErrBadSig
	}
	return nil
}

// Marshal encodes k as a usign public key file.
func (k *PublicKey) Marshal(comment string) []byte {
	b := append([]byte("Ed"), k.Num[:]...)
	return encodeFile(orDefault(comment, "public key "+k.Num.String()), append(b, k.Key...))
}

// Marshal encodes k as a usign secret key file.
func (k *SecretKey) Marshal(comment string) []byte {
	b := []byte("EdBK")
	b = append(b, make([]byte, 4+16)...) // kdfrounds 0, salt unused
	sum := sha512.Sum512(k.Key)
	b = append(b, sum[:8]...)
	b = append(b, k.Num[:]...)
	b = append(b, k.Key...)
	return encodeFile(orDefault(comment, "private key "+k.Num.String()), b)
}

// Marshal encodes s as a usign signature file.
func (s *Signature) Marshal(comment string) []byte {
	b := append([]byte("Ed"), s.Num[:]...)
	return encodeFile(orDefault(comment, "signed by key "+s.Num.String()), append(b, s.Sig...))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func encodeFile(comment string, b []byte) []byte {
	return []byte(commentPrefix + comment + "\n" + base64.StdEncoding.EncodeToString(b) + "\n")
}

// decodeFile returns the decoded second line of a usign file, which must
// be size bytes starting with "Ed". usign ignores the comment's text.
func decodeFile(p []byte, size int, what string) ([]byte, error) {
	first, rest, ok := bytes.Cut(p, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("usign: %s: premature end of file", what)
	}
	if !bytes.HasPrefix(first, []byte(commentPrefix)) {
		return nil, fmt.Errorf("usign: %s: first line is not %q", what, strings.TrimSpace(commentPrefix))
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(line)))
	if err != nil {
		return nil, fmt.Errorf("usign: %s: %w", what, err)
	}
	if len(b) != size || string(b[:2]) != "Ed" {
		return nil, fmt.Errorf("usign: %s: %d bytes, want %d starting with \"Ed\"", what, len(b), size)
	}
	return b, nil
}

// ParsePublicKey reads a usign public key file.
func ParsePublicKey(p []byte) (*PublicKey, error) {
	b, err := decodeFile(p, pubKeySize, "public key")
	if err != nil {
		return nil, err
	}
	k := &PublicKey{Key: ed25519.PublicKey(b[2+keyNumSize:])}
	copy(k.Num[:], b[2:])
	return k, nil
}

// ParseSecretKey reads a usign secret key file; passphrase-protected keys
// are refused, as usign refuses them.
func ParseSecretKey(p []byte) (*SecretKey, error) {
	b, err := decodeFile(p, secKeySize, "secret key")
	if err != nil {
		return nil, err
	}
	if string(b[2:4]) != "BK" {
		return nil, fmt.Errorf("usign: secret key: kdf %q, want BK", b[2:4])
	}
	if binary.BigEndian.Uint32(b[4:8]) != 0 {
		return nil, errors.New("usign: secret key: password protected secret keys are not supported")
	}
	seckey := b[secKeySize-ed25519.PrivateKeySize:]
	sum := sha512.Sum512(seckey)
	if !bytes.Equal(sum[:8], b[24:32]) {
		return nil, errors.New("usign: secret key: checksum mismatch")
	}
	k := &SecretKey{Key: ed25519.NewKeyFromSeed(seckey[:ed25519.SeedSize])}
	if !bytes.Equal(k.Key, seckey) {
		return nil, errors.New("usign: secret key: public half does not match the seed")
	}
	copy(k.Num[:], b[32:40])
	return k, nil
}

// ParseSignature reads a usign signature file.
func ParseSignature(p []byte) (*Signature, error) {
	b, err := decodeFile(p, signatureSize, "signature")
	if err != nil {
		return nil, err
	}
	s := &Signature{Sig: b[2+keyNumSize:]}
	copy(s.Num[:], b[2:])
	return s, nil
}
