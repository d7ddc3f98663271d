//go:build knockd_nospa

package spa

import (
	"encoding/base64"
	"errors"
	"net/netip"
	"time"
)

// What a knockd built without SPA (knockd_nospa, docs/size.md) has in
// place of the SPA cryptography: its configuration refuses SPA doors and
// its keygen SPA keys, so none of this runs; each says why if it did.

var errNoSPA = errors.New("SPA (fwknop): not in this build (built with the tag knockd_nospa)")

var b64 = base64.RawStdEncoding

func encryptSalted(_, _, _ []byte) []byte { return nil }

func decryptSalted(_, _ []byte) ([]byte, bool) { return nil, false }

// NewVerifier refuses: no SPA in this build.
func NewVerifier(_ Policy, _ func() time.Time, _ *ReplayCache) (*Verifier, error) {
	return nil, errNoSPA
}

// Verify refuses: no SPA in this build.
func (v *Verifier) Verify(_ []byte, _ netip.Addr) (*Message, error) { return nil, errNoSPA }

// NewKeys refuses: no SPA in this build.
func NewKeys() (key, hmacKey []byte, err error) { return nil, nil, errNoSPA }
