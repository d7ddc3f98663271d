package adb

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
)

// A v0 signature (SIG block payload) is: version 0, hash algorithm (4 =
// SHA-512), the 16-byte id of the key, then the signature. The signed
// message is the schema (little-endian), those 18 header bytes and the
// SHA-512 of the ADB block; apk signs it with SHA-512, for an EC key as a
// DER-encoded ECDSA signature.
const (
	sigVersion  = 0
	hashSHA512  = 4
	sigHdrSize  = 2 + KeyIDSize
	KeyIDSize   = 16
	maxSigBlock = 2048
)

// ErrSignature is wrapped by every verification failure.
var ErrSignature = errors.New("adb: signature")

// KeyID returns apk's id of a public key: the first 16 bytes of the SHA-512
// of the key's point as OpenSSL's i2d_PublicKey encodes it (uncompressed).
func KeyID(pub *ecdsa.PublicKey) ([KeyIDSize]byte, error) {
	var id [KeyIDSize]byte
	k, err := pub.ECDH()
	if err != nil {
		return id, fmt.Errorf("adb: key id: %w", err)
	}
	sum := sha512.Sum512(k.Bytes())
	copy(id[:], sum[:])
	return id, nil
}

func signedMessage(schema uint32, hdr, db []byte) []byte {
	md := sha512.Sum512(db)
	msg := binary.LittleEndian.AppendUint32(nil, schema)
	msg = append(msg, hdr...)
	msg = append(msg, md[:]...)
	sum := sha512.Sum512(msg)
	return sum[:]
}

// Sign returns the payload of a SIG block signing db (an ADB block payload
// of a file of the given schema) with key.
func Sign(key *ecdsa.PrivateKey, schema uint32, db []byte) ([]byte, error) {
	id, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	hdr := append([]byte{sigVersion, hashSHA512}, id[:]...)
	sig, err := ecdsa.SignASN1(rand.Reader, key, signedMessage(schema, hdr, db))
	if err != nil {
		return nil, fmt.Errorf("adb: sign: %w", err)
	}
	if len(hdr)+len(sig) > maxSigBlock {
		return nil, fmt.Errorf("adb: signature of %d bytes is too long for apk", len(hdr)+len(sig))
	}
	return append(hdr, sig...), nil
}

// Verify checks one SIG block payload against db with pub. It fails when
// the signature is made by another key, as apk skips those.
func Verify(pub *ecdsa.PublicKey, schema uint32, db, sig []byte) error {
	if len(sig) < sigHdrSize {
		return fmt.Errorf("%w: block of %d bytes", ErrSignature, len(sig))
	}
	if sig[0] != sigVersion {
		return fmt.Errorf("%w: version %d", ErrSignature, sig[0])
	}
	if sig[1] != hashSHA512 {
		return fmt.Errorf("%w: hash algorithm %d, only SHA-512 (4) is written by apk", ErrSignature, sig[1])
	}
	id, err := KeyID(pub)
	if err != nil {
		return err
	}
	if string(sig[2:sigHdrSize]) != string(id[:]) {
		return fmt.Errorf("%w: made by key %x, not %x", ErrSignature, sig[2:sigHdrSize], id)
	}
	if !ecdsa.VerifyASN1(pub, signedMessage(schema, sig[:sigHdrSize], db), sig[sigHdrSize:]) {
		return fmt.Errorf("%w: does not verify with key %x", ErrSignature, id)
	}
	return nil
}

// VerifyFile checks that one of f's signatures verifies with one of keys,
// as apk does for an untrusted file.
func VerifyFile(f *File, keys []*ecdsa.PublicKey) error {
	if len(f.Sigs) == 0 {
		return fmt.Errorf("%w: file is not signed", ErrSignature)
	}
	var errs []error
	for _, s := range f.Sigs {
		for _, k := range keys {
			err := Verify(k, f.Schema, f.ADB, s)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("%w: no trusted key verifies the file: %v", ErrSignature, errors.Join(errs...))
}

// GenerateKey makes a P-256 key, the curve OpenWrt's build uses for apk.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// MarshalPrivateKey encodes key as a PKCS #8 PEM block, which OpenSSL (and
// so apk --sign-key) reads.
func MarshalPrivateKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("adb: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes pub as a PEM "PUBLIC KEY", the form of the files
// in /etc/apk/keys.
func MarshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("adb: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PEM EC private key (PKCS #8 or SEC 1).
func ParsePrivateKey(p []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, errors.New("adb: private key: no PEM block")
	}
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("adb: private key: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("adb: private key: %w", err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("adb: private key: %T, only EC keys are supported", k)
		}
		return ek, nil
	}
	return nil, fmt.Errorf("adb: private key: PEM block %q", b.Type)
}

// ParsePublicKey reads a PEM "PUBLIC KEY" holding an EC key.
func ParsePublicKey(p []byte) (*ecdsa.PublicKey, error) {
	b, _ := pem.Decode(p)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("adb: public key: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("adb: public key: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("adb: public key: %T, only EC keys are supported", k)
	}
	return ek, nil
}
