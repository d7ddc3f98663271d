package spa

import (
	"encoding/binary"
	"hash"
	"math/bits"
)

// SHA-3 (FIPS 202) for the sha3_256 and sha3_512 digest types fwknop
// offers. Go 1.23's standard library has no SHA-3 (crypto/sha3 arrived in
// Go 1.24), so this is a small, plain Keccak-f[1600] sponge. Speed is not a
// concern: SPA packets are a few hundred bytes.

// keccakRC holds the iota round constants of Keccak-f[1600].
var keccakRC = [24]uint64{
	0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
	0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
	0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
	0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
	0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
	0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}

// keccakRot holds the rho rotation offsets, indexed x+5*y.
var keccakRot = [25]int{
	0, 1, 62, 28, 27,
	36, 44, 6, 55, 20,
	3, 10, 43, 25, 39,
	41, 45, 15, 21, 8,
	18, 2, 61, 56, 14,
}

// keccakF1600 applies the 24-round permutation to the state, lanes indexed
// x+5*y.
func keccakF1600(a *[25]uint64) {
	var c [5]uint64
	var b [25]uint64
	for round := 0; round < 24; round++ {
		// theta
		for x := 0; x < 5; x++ {
			c[x] = a[x] ^ a[x+5] ^ a[x+10] ^ a[x+15] ^ a[x+20]
		}
		for x := 0; x < 5; x++ {
			d := c[(x+4)%5] ^ bits.RotateLeft64(c[(x+1)%5], 1)
			for y := 0; y < 25; y += 5 {
				a[y+x] ^= d
			}
		}
		// rho and pi: B[y, 2x+3y] = rot(A[x, y])
		for x := 0; x < 5; x++ {
			for y := 0; y < 5; y++ {
				b[y+5*((2*x+3*y)%5)] = bits.RotateLeft64(a[x+5*y], keccakRot[x+5*y])
			}
		}
		// chi
		for y := 0; y < 25; y += 5 {
			for x := 0; x < 5; x++ {
				a[y+x] = b[y+x] ^ (^b[y+(x+1)%5] & b[y+(x+2)%5])
			}
		}
		// iota
		a[0] ^= keccakRC[round]
	}
}

// sha3State is a SHA-3 hash.Hash.
type sha3State struct {
	a    [25]uint64
	buf  [200]byte
	n    int // bytes buffered in buf
	rate int // block size in bytes
	size int // digest size in bytes
}

func newSHA3(size int) *sha3State {
	return &sha3State{rate: 200 - 2*size, size: size}
}

// newSHA3_256 returns a SHA3-256 hash.Hash.
func newSHA3_256() hash.Hash { return newSHA3(32) }

// newSHA3_512 returns a SHA3-512 hash.Hash.
func newSHA3_512() hash.Hash { return newSHA3(64) }

func (s *sha3State) Size() int      { return s.size }
func (s *sha3State) BlockSize() int { return s.rate }

func (s *sha3State) Reset() {
	s.a = [25]uint64{}
	s.n = 0
}

func (s *sha3State) absorb() {
	for i := 0; i < s.rate/8; i++ {
		s.a[i] ^= binary.LittleEndian.Uint64(s.buf[i*8:])
	}
	keccakF1600(&s.a)
	s.n = 0
}

func (s *sha3State) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(s.buf[s.n:s.rate], p)
		s.n += k
		p = p[k:]
		if s.n == s.rate {
			s.absorb()
		}
	}
	return n, nil
}

// Sum appends the digest to b without changing the running state.
func (s *sha3State) Sum(b []byte) []byte {
	c := *s
	clear(c.buf[c.n:c.rate])
	c.buf[c.n] = 0x06 // SHA-3 domain separation and first pad bit
	c.buf[c.rate-1] |= 0x80
	c.absorb()
	var out [64]byte
	for i := 0; i < c.size/8; i++ {
		binary.LittleEndian.PutUint64(out[i*8:], c.a[i])
	}
	return append(b, out[:c.size]...)
}
