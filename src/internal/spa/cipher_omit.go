//go:build knockd_nospa

package spa

import "encoding/base64"

// A knockd built without SPA (knockd_nospa, docs/size.md) has no cipher:
// its configuration refuses SPA doors, so nothing encrypts or decrypts.

var b64 = base64.RawStdEncoding

func encryptSalted(_, _, _ []byte) []byte { return nil }

func decryptSalted(_, _ []byte) ([]byte, bool) { return nil, false }
