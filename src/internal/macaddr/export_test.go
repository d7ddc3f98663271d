package macaddr

import (
	"fmt"
	"strings"
)

// FormatPassword formats a SecureOn password in the form ParsePassword
// reads: 1.2.3.4 for 4 bytes, 00:11:22:33:44:55 for 6, "" for none. Other
// lengths are formatted as hex bytes separated by colons.
func FormatPassword(p []byte) string {
	if len(p) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", p[0], p[1], p[2], p[3])
	}
	var b strings.Builder
	for i, c := range p {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", c)
	}
	return b.String()
}
