//go:build !knockd_norotate

package rotate

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The rotating sequences' HMAC and the secrets' randomness: a knockd
// built without rotating knocks (knockd_norotate, docs/size.md) links
// neither (hmac_omit.go).

func newStream(secret []byte, counter uint64) *stream {
	s := &stream{mac: hmac.New(sha256.New, secret)}
	s.msg = append(append(make([]byte, 0, len(Prefix)+9), Prefix...), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(s.msg[len(Prefix):], counter)
	return s
}

// NewSecret returns a new random secret of NewSecretLen bytes.
func NewSecret() ([]byte, error) {
	b := make([]byte, NewSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("new secret: %w", err)
	}
	return b, nil
}
