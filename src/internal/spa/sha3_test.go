package spa

import (
	"crypto/hmac"
	"encoding/hex"
	"hash"
	"testing"
)

func TestSHA3KnownAnswers(t *testing.T) {
	long := make([]byte, 512) // crosses both rates (136 and 72 bytes)
	for i := range long {
		long[i] = byte(i)
	}
	tests := []struct {
		name     string
		in       []byte
		h256     string
		h512     string
		pieces   int
		hmac256  string
		hmac512  string
		hmacData string
	}{
		{name: "empty", in: nil,
			h256: "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
			h512: "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26"},
		{name: "abc", in: []byte("abc"),
			h256: "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
			h512: "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"},
		{name: "512 bytes in pieces", in: long, pieces: 7,
			h256: "d4728ea5e9f3819f2b4760151a8f802dbe9f941fd6fb59b3715892436555772a",
			h512: "584cc702c2229a0abc789bfa64b4271fb8f0bb78671588b9ef1d093ea3d472584c6d43b5683359472f441b33856f682859f0c3954b56808fd1fba0b59c9d1954"},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			h    hash.Hash
			want string
		}{{newSHA3_256(), tc.h256}, {newSHA3_512(), tc.h512}} {
			if tc.pieces > 0 {
				for in := tc.in; len(in) > 0; {
					n := min(tc.pieces, len(in))
					c.h.Write(in[:n])
					in = in[n:]
				}
			} else {
				c.h.Write(tc.in)
			}
			got := hex.EncodeToString(c.h.Sum(nil))
			if got != c.want {
				t.Errorf("%s size %d: got %s, want %s", tc.name, c.h.Size(), got, c.want)
			}
			// Sum must not change the state.
			if again := hex.EncodeToString(c.h.Sum(nil)); again != got {
				t.Errorf("%s: second Sum differs", tc.name)
			}
			c.h.Reset()
			c.h.Write(tc.in)
			if after := hex.EncodeToString(c.h.Sum(nil)); after != c.want {
				t.Errorf("%s: after Reset got %s", tc.name, after)
			}
		}
	}
}

func TestHMACSHA3(t *testing.T) {
	msg := []byte("The quick brown fox jumps over the lazy dog")
	for _, c := range []struct {
		new  func() hash.Hash
		want string
	}{
		{newSHA3_256, "8c6e0683409427f8931711b10ca92a506eb1fafa48fadd66d76126f47ac2c333"},
		{newSHA3_512, "237a35049c40b3ef5ddd960b3dc893d8284953b9a4756611b1b61bffcf53edd979f93547db714b06ef0a692062c609b70208ab8d4a280ceee40ed8100f293063"},
	} {
		m := hmac.New(c.new, []byte("key"))
		m.Write(msg)
		if got := hex.EncodeToString(m.Sum(nil)); got != c.want {
			t.Errorf("HMAC size %d: got %s, want %s", m.Size(), got, c.want)
		}
	}
}
