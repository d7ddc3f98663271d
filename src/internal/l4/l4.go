// Package l4 is the one representation of a transport protocol and port
// used from the packet decoder to the firewall: a knock step, an opened
// port, an SPA request and a firewall grant all use Port.
package l4

import (
	"errors"
	"strconv"
	"strings"
)

// Proto is an IP protocol number; only TCP and UDP are used.
type Proto uint8

// The protocols knockd-go knows. Knocks and grants are TCP or UDP; an SPA
// request may name ICMP, or no protocol ("none" in fwknop's words), which
// no door grants.
const (
	None Proto = 0
	ICMP Proto = 1
	TCP  Proto = 6
	UDP  Proto = 17
)

// String returns "tcp", "udp", "icmp", "none", or the number of another
// protocol.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	case None:
		return "none"
	}
	return strconv.Itoa(int(p))
}

// ParseProto parses "tcp" or "udp" in any case.
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, errors.New("unknown protocol " + strconv.Quote(strings.TrimSpace(s)) + " (want tcp or udp)")
}

// Port is a protocol and port number.
type Port struct {
	Proto Proto
	Num   uint16
}

// String returns the form the configuration uses: "tcp/22".
func (p Port) String() string { return p.Proto.String() + "/" + strconv.Itoa(int(p.Num)) }

// Knock returns the form of a knock sequence item: "22:tcp".
func (p Port) Knock() string { return strconv.Itoa(int(p.Num)) + ":" + p.Proto.String() }

// ParseNum parses a port number in 1-65535.
func ParseNum(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("port " + strconv.Quote(strings.TrimSpace(s)) + " is not a number")
	}
	if n < 1 || n > 65535 {
		return 0, errors.New("port " + strconv.Itoa(n) + " out of range 1-65535")
	}
	return uint16(n), nil
}

// Parse parses "tcp/22", "22/tcp", "udp:53", "53:udp" or a bare "22"
// (tcp), protocol in any case.
func Parse(s string) (Port, error) {
	s = strings.TrimSpace(s)
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		a, b, ok = strings.Cut(s, ":")
	}
	proto, num := "tcp", s
	if ok {
		proto, num = a, b
		if _, err := strconv.Atoi(strings.TrimSpace(a)); err == nil {
			proto, num = b, a
		}
	}
	pr, err := ParseProto(proto)
	if err != nil {
		return Port{}, errors.New(strconv.Quote(s) + ": " + err.Error())
	}
	n, err := ParseNum(num)
	if err != nil {
		return Port{}, errors.New(strconv.Quote(s) + ": " + err.Error())
	}
	return Port{pr, n}, nil
}
