//go:build go1.24 && !knockd_nospa

package spa

import (
	"crypto/sha3"
	"hash"
)

// newSHA3_256 returns a SHA3-256 hash.Hash.
func newSHA3_256() hash.Hash { return sha3.New256() }

// newSHA3_512 returns a SHA3-512 hash.Hash.
func newSHA3_512() hash.Hash { return sha3.New512() }
