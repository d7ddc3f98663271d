//go:build knockd_norotate

package rotate

import "errors"

// What a knockd built without rotating knocks (knockd_norotate,
// docs/size.md) has in place of their HMAC and randomness: its
// configuration refuses rotating doors and its keygen their secrets, so
// none of this runs; each says why if it did.

var errNoRotate = errors.New("rotating knocks: not in this build (built with the tag knockd_norotate)")

func newStream(_ []byte, _ uint64) *stream { panic(errNoRotate) }

// NewSecret refuses: no rotating knocks in this build.
func NewSecret() ([]byte, error) { return nil, errNoRotate }
