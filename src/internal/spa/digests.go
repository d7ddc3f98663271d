//go:build !knockd_nospa

package spa

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
)

// digestAlgs are the HMAC digests fwknop offers. A knockd built without
// SPA (knockd_nospa, docs/size.md) has none, and links none of them.
var digestAlgs = []digestAlg{
	{DigestMD5, md5.New, 22},
	{DigestSHA1, sha1.New, 27},
	{DigestSHA256, sha256.New, 43},
	{DigestSHA384, sha512.New384, 64},
	{DigestSHA512, sha512.New, 86},
	{DigestSHA3256, newSHA3_256, 43},
	{DigestSHA3512, newSHA3_512, 86},
}
