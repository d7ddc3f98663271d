// Package macaddr parses the values of a Wake-on-LAN target as the
// configuration gives them: the host's hardware address and its SecureOn
// password. It sends nothing (package wake does).
package macaddr

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Parse parses the hardware address of a host to wake. It accepts the
// forms of net.ParseMAC (00:11:22:33:44:55, 00-11-22-33-44-55,
// 0011.2233.4455) and insists on 6 bytes of a unicast, non-zero address:
// a magic packet can only carry an EUI-48.
func Parse(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, errors.New("empty MAC address")
	}
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("MAC address %q: want six hex bytes like 00:11:22:33:44:55", s)
	}
	if err := Check(mac); err != nil {
		return nil, fmt.Errorf("MAC address %q: %v", s, err)
	}
	return mac, nil
}

// Check reports why mac cannot be the target of a magic packet.
func Check(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("has %d bytes, want 6", len(mac))
	}
	if mac[0]&1 != 0 {
		return errors.New("is a multicast or broadcast address, not a host's")
	}
	if mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5] == 0 {
		return errors.New("is all zeros")
	}
	return nil
}

// CheckPassword reports why p cannot be a SecureOn password.
func CheckPassword(p []byte) error {
	switch len(p) {
	case 0, 4, 6:
		return nil
	}
	return fmt.Errorf("SecureOn password has %d bytes, want 0, 4 or 6", len(p))
}

// ParsePassword parses a SecureOn password the way etherwake's -p option
// does: six hex bytes separated by colons (or dashes) like a MAC address,
// 00:11:22:33:44:55, or four decimal bytes like an IPv4 address, 1.2.3.4.
// The empty string means no password and returns nil. Errors do not repeat
// the password.
func ParsePassword(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	const want = "want 4 bytes as 1.2.3.4 or 6 bytes as 00:11:22:33:44:55"
	var (
		sep   string
		n     int
		base  int
		width int
		maxV  int
	)
	switch {
	case strings.Contains(s, "."):
		sep, n, base, width, maxV = ".", 4, 10, 3, 255
	case strings.Contains(s, ":"):
		sep, n, base, width, maxV = ":", 6, 16, 2, 0xff
	case strings.Contains(s, "-"):
		sep, n, base, width, maxV = "-", 6, 16, 2, 0xff
	default:
		return nil, fmt.Errorf("SecureOn password: %s", want)
	}
	parts := strings.Split(s, sep)
	if len(parts) != n {
		return nil, fmt.Errorf("SecureOn password: %d parts separated by %q, %s", len(parts), sep, want)
	}
	out := make([]byte, n)
	for i, p := range parts {
		if len(p) == 0 || len(p) > width || !allDigits(p, base) {
			return nil, fmt.Errorf("SecureOn password: part %d is not a byte, %s", i+1, want)
		}
		v, err := strconv.ParseUint(p, base, 16)
		if err != nil || v > uint64(maxV) {
			return nil, fmt.Errorf("SecureOn password: part %d is out of range 0-255, %s", i+1, want)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// allDigits reports whether s consists only of digits of the given base
// (10 or 16); strconv alone would also accept signs and underscores.
func allDigits(s string, base int) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}
