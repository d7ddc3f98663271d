package l4

import (
	"errors"
	"strconv"
	"strings"
)

// TCP flag bits as they appear in byte 13 of the TCP header.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
	URG uint8 = 0x20
)

var flagNames = [...]struct {
	name string
	bit  uint8
}{{"FIN", FIN}, {"SYN", SYN}, {"RST", RST}, {"PSH", PSH}, {"ACK", ACK}, {"URG", URG}}

// Flags is a TCPFlags condition: bits in Set must be set, bits in Clear
// must be clear. The zero value accepts any flags.
type Flags struct{ Set, Clear uint8 }

// Match reports whether TCP flags b satisfy the condition.
func (f Flags) Match(b uint8) bool { return b&f.Set == f.Set && b&f.Clear == 0 }

// String returns the condition in knockd's form: "syn,!ack".
func (f Flags) String() string {
	var parts []string
	for _, n := range flagNames {
		switch {
		case f.Set&n.bit != 0:
			parts = append(parts, strings.ToLower(n.name))
		case f.Clear&n.bit != 0:
			parts = append(parts, "!"+strings.ToLower(n.name))
		}
	}
	return strings.Join(parts, ",")
}

// ParseFlags adds a TCPFlags value (`syn,!ack`, any case, spaces allowed)
// to f, as knockd accumulates several TCPFlags lines: a later mention of a
// flag overrides an earlier one.
func ParseFlags(s string, f *Flags) error {
	for _, tok := range strings.Split(s, ",") {
		tok = strings.ToUpper(strings.TrimSpace(tok))
		if tok == "" {
			continue
		}
		neg := strings.HasPrefix(tok, "!")
		name := strings.TrimSpace(strings.TrimPrefix(tok, "!"))
		bit := uint8(0)
		for _, n := range flagNames {
			if n.name == name {
				bit = n.bit
			}
		}
		if bit == 0 {
			return errors.New("unrecognized flag " + strconv.Quote(tok) + " (want FIN, SYN, RST, PSH, ACK or URG, optionally with !)")
		}
		if neg {
			f.Set &^= bit
			f.Clear |= bit
		} else {
			f.Clear &^= bit
			f.Set |= bit
		}
	}
	return nil
}
