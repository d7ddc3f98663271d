package filter

import (
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// Reference is the plain-Go statement of what the program accepts (without
// the IncomingOnly prefix), used to test the program in the VM.
func Reference(o Options, b []byte) bool {
	if len(b) < 1 {
		return false
	}
	tcp, udp, err := plan(o)
	if err != nil {
		return false
	}
	load := func(off int, n int) (uint32, bool) {
		if off < 0 || off+n > len(b) {
			return 0, false
		}
		var v uint32
		for i := 0; i < n; i++ {
			v = v<<8 | uint32(b[off+i])
		}
		return v, true
	}
	match := func(proto uint8, x int) bool {
		dp, ok := load(x+2, 2)
		if !ok {
			return false
		}
		ss := tcp
		if proto == 17 {
			ss = udp
		}
		for _, s := range ss {
			if dp < uint32(s.Lo) || dp > uint32(s.Hi) {
				continue
			}
			if s.Lo != s.Hi || s.Flags == (l4.Flags{}) {
				return true
			}
			f, ok := load(x+13, 1)
			return ok && s.Flags.Match(uint8(f))
		}
		return false
	}
	switch b[0] >> 4 {
	case 4:
		fo, ok := load(6, 2)
		if !ok || fo&0x1fff != 0 {
			return false
		}
		x := int(b[0]&0xf) * 4
		proto, ok := load(9, 1)
		if !ok || (proto != 6 && proto != 17) {
			return false
		}
		return match(uint8(proto), x)
	case 6:
		if o.NoIPv6 {
			return false
		}
		nh, ok := load(6, 1)
		if !ok {
			return false
		}
		switch nh {
		case 6, 17:
			return match(uint8(nh), 40)
		case 0, 43, 44, 51, 60:
			return true
		}
	}
	return false
}
