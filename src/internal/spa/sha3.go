//go:build !go1.24 && !knockd_nospa

package spa

import (
	"hash"

	"golang.org/x/crypto/sha3"
)

// SHA-3 (FIPS 202) for the sha3_256 and sha3_512 digest types fwknop
// offers. Go 1.23, the Go of the OpenWrt 24.10 SDK, has no crypto/sha3:
// golang.org/x/crypto/sha3 provides it there. Go 1.24 and later use the
// standard library's (sha3_std.go), which crypto/hmac links in anyway.

// newSHA3_256 returns a SHA3-256 hash.Hash.
func newSHA3_256() hash.Hash { return sha3.New256() }

// newSHA3_512 returns a SHA3-512 hash.Hash.
func newSHA3_512() hash.Hash { return sha3.New512() }
