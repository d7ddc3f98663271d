//go:build !knockd_nospa

package spa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
)

// b64 is fwknop's base64: standard alphabet, '=' stripped.
var b64 = base64.RawStdEncoding

// deriveKeyIV is OpenSSL's EVP_BytesToKey with MD5 and one iteration, as
// fwknop's rij_salt_and_iv: D1 = MD5(pass||salt), Di = MD5(Di-1||pass||salt);
// key = D1||D2, iv = D3.
func deriveKeyIV(pass, salt []byte) (key [32]byte, iv [16]byte) {
	var out [48]byte
	var prev []byte
	for n := 0; n < len(out); n += md5.Size {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(out[n:n])
	}
	copy(key[:], out[:32])
	copy(iv[:], out[32:])
	return key, iv
}

// encryptSalted returns "Salted__" || salt || AES-256-CBC(PKCS#7(pt)).
func encryptSalted(pass, salt, pt []byte) []byte {
	key, iv := deriveKeyIV(pass, salt)
	block, _ := aes.NewCipher(key[:]) // 32-byte key: cannot fail
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	out := make([]byte, 16, 16+len(pt)+pad)
	copy(out, "Salted__")
	copy(out[8:], salt)
	out = append(out, pt...)
	for i := 0; i < pad; i++ {
		out = append(out, byte(pad))
	}
	cipher.NewCBCEncrypter(block, iv[:]).CryptBlocks(out[16:], out[16:])
	return out
}

// decryptSalted reverses encryptSalted, taking the salt from bytes 8..15
// (fwknop does not check the "Salted__" literal). It decrypts in place and
// returns the unpadded plaintext, or false for a bad length or padding.
func decryptSalted(pass, data []byte) ([]byte, bool) {
	if len(data) < 32 || (len(data)-16)%aes.BlockSize != 0 {
		return nil, false
	}
	key, iv := deriveKeyIV(pass, data[8:16])
	block, _ := aes.NewCipher(key[:])
	ct := data[16:]
	cipher.NewCBCDecrypter(block, iv[:]).CryptBlocks(ct, ct)
	pad := int(ct[len(ct)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, false
	}
	bad := byte(0)
	for _, b := range ct[len(ct)-pad:] {
		bad |= b ^ byte(pad)
	}
	if bad != 0 {
		return nil, false
	}
	return ct[:len(ct)-pad], true
}
