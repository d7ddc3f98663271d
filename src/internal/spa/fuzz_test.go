package spa

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
)

// seal wraps a plaintext into an authenticated packet for k (sha256 HMAC),
// so that the fuzzer reaches the code after the HMAC check.
func seal(k Keys, plaintext []byte) []byte {
	full := b64.EncodeToString(encryptSalted(k.Rijndael, []byte("fuzzsalt"), plaintext))
	mac := hmac.New(sha256.New, k.HMAC)
	mac.Write([]byte(full))
	return []byte(full[len(saltedB64):] + b64.EncodeToString(mac.Sum(nil)))
}

// vectorPlaintext decrypts a vector, for seeds.
func vectorPlaintext(t testing.TB, vec *vector) string {
	k := vec.keys(t)
	alg, _ := lookupDigest(k.HMACDigest)
	body := saltedB64 + vec.wire[:len(vec.wire)-alg.b64len]
	ct, err := b64.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	pt, ok := decryptSalted(k.Rijndael, ct)
	if !ok {
		t.Fatalf("%s: cannot decrypt", vec.name)
	}
	return string(pt)
}

// FuzzVerify feeds the verifier raw payloads (mode 0), encoded messages
// sealed with the door's keys and a computed digest (mode 1), and whole
// sealed plaintexts (mode 2). Accepted messages must re-encode to packets
// that verify to the same fields.
func FuzzVerify(f *testing.F) {
	for i := range vectors {
		vec := &vectors[i]
		f.Add(byte(0), []byte(vec.wire))
		pt := vectorPlaintext(f, vec)
		f.Add(byte(2), []byte(pt))
		f.Add(byte(1), []byte(pt[:strings.LastIndexByte(pt, ':')]))
	}
	f.Add(byte(0), []byte(saltedB64+vectors[0].wire))
	f.Add(byte(1), []byte("1234567890123456:dQ:1795544500:3.0.0:4:MS4yLjMuNCx0Y3AvMjI:MTAuMC4wLjEsMjI:YQ:30"))

	keys := vectors[0].keys(f) // v1: base64 keys, sha256 HMAC
	clock := fixedClock(1795544500)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		if len(data) > 4096 {
			return
		}
		payload := data
		switch mode % 3 {
		case 1:
			h := sha256.Sum256(data)
			payload = seal(keys, append(append(append([]byte(nil), data...), ':'), b64.EncodeToString(h[:])...))
		case 2:
			payload = seal(keys, data)
		}
		v, err := NewVerifier(openPolicy(keys), clock, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := v.Verify(payload, vecSrc)
		if err != nil {
			if m != nil {
				t.Fatal("message with error")
			}
			if ReasonOf(err) == 0 || err.Error() == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		if !m.Grant.IsValid() {
			t.Fatalf("accepted without a grant address: %+v", m)
		}
		if _, err := v.Verify(payload, vecSrc); ReasonOf(err) != ReasonReplay {
			t.Fatalf("replay not detected: %v", err)
		}
		// Re-encode and verify again.
		wire, err := Encode(m, keys, testRand(1))
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v (%+v)", err, m)
		}
		v2, _ := NewVerifier(openPolicy(keys), clock, nil)
		m2, err := v2.Verify(wire, vecSrc)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v (%+v)", err, m)
		}
		if m2.Type != m.Type || m2.Access != m.Access || m2.User != m.User || m2.Random != m.Random ||
			!m2.Timestamp.Equal(m.Timestamp) || m2.NATAccess != m.NATAccess || m2.ClientTimeout != m.ClientTimeout ||
			m2.ServerAuth != m.ServerAuth || m2.Command != m.Command || m2.Version != m.Version ||
			m2.DigestType != m.DigestType || m2.Grant != m.Grant || m2.Timeout != m.Timeout {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
	})
}
