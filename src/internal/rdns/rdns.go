// Package rdns finds the name of an address, for knockd -l, without the
// net package's resolver (net.InterfaceByName aside, which knockd links
// anyway).
//
// net.Resolver.LookupAddr brings the whole resolver into the binary (DNS
// message parsing, nsswitch.conf, the cgo fallback, singleflight): about
// 330 KB of a MIPS knockd. knockd only needs "which name has this
// address?", answered from /etc/hosts or with one PTR query to the
// nameservers of /etc/resolv.conf, over UDP, as gethostbyaddr does for
// knockd 0.8.
package rdns

import (
	"bufio"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resolver looks names up. The zero value uses /etc/hosts, then the
// nameservers of /etc/resolv.conf on port 53, with DefaultTimeout.
type Resolver struct {
	_          [0]func()     // not comparable: no equality function in the binary
	Hosts      string        // hosts file; default /etc/hosts
	ResolvConf string        // resolver configuration; default /etc/resolv.conf
	Port       uint16        // nameserver port; default 53
	Timeout    time.Duration // for the whole lookup; default DefaultTimeout
}

// DefaultTimeout bounds a lookup when Resolver.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Errors of LookupAddr.
var (
	ErrNotFound = errors.New("rdns: no name for the address")
	ErrTimeout  = errors.New("rdns: no answer from the nameservers")
	// ErrBadName is a name that is not a host name (control characters,
	// spaces, escapes…): it must be neither logged nor used.
	ErrBadName = errors.New("rdns: the name is not a host name")
)

// HostName reports whether s is a host name: dot-separated labels of 1
// to 63 letters, digits, hyphens (not first or last) or underscores
// (service labels), 253 bytes at most. Anything else may be made to
// forge log lines or terminal output.
func HostName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checked returns name, or ErrBadName when it is not a host name.
func checked(name string) (string, error) {
	if !HostName(name) {
		return "", ErrBadName
	}
	return name, nil
}

// LookupAddr returns the first name of a, without the trailing dot:
// from the hosts file if it lists a, else from a PTR query to each
// nameserver in turn until one answers. A name that is not a host name
// is ErrBadName.
func (r *Resolver) LookupAddr(a netip.Addr) (string, error) {
	a = a.Unmap()
	if !a.IsValid() {
		return "", errors.New("rdns: invalid address")
	}
	if name := r.fromHosts(a); name != "" {
		return checked(name)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	port := r.Port
	if port == 0 {
		port = 53
	}
	servers := nameservers(orDefault(r.ResolvConf, "/etc/resolv.conf"))
	q := Query(a, uint16(rand.Uint32()))
	deadline := time.Now().Add(timeout)
	err := ErrTimeout
	for i, s := range servers {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		// Leave the later servers their share of the time.
		wait := left / time.Duration(len(servers)-i)
		var resp []byte
		resp, err = exchange(netip.AddrPortFrom(s, port), q, wait)
		if err != nil {
			continue
		}
		var name string
		if name, err = Answer(q, resp); err == nil {
			return checked(name)
		}
		if err == ErrNotFound {
			return "", err // an authoritative "no": asking again will not help
		}
	}
	return "", err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fromHosts returns the first name the hosts file gives a, or "".
func (r *Resolver) fromHosts(a netip.Addr) string {
	f, err := os.Open(orDefault(r.Hosts, "/etc/hosts"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		if ip, err := netip.ParseAddr(fields[0]); err == nil && ip.Unmap().WithZone("") == a.WithZone("") {
			return strings.TrimSuffix(fields[1], ".")
		}
	}
	return ""
}

// nameservers reads the nameserver lines of a resolv.conf; none (or no
// file) means the local resolver, 127.0.0.1 and ::1, as glibc and Go do.
func nameservers(path string) []netip.Addr {
	var out []netip.Addr
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				if ip, err := netip.ParseAddr(fields[1]); err == nil && len(out) < 3 {
					out = append(out, ip.Unmap())
				}
			}
		}
		f.Close()
	}
	if len(out) == 0 {
		out = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	}
	return out
}

// Query returns the DNS message asking for the PTR record of a
// (recursion desired).
func Query(a netip.Addr, id uint16) []byte {
	const hex = "0123456789abcdef"
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; 1 question
	label := func(s string) { q = append(q, byte(len(s))); q = append(q, s...) }
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		for i := 3; i >= 0; i-- {
			label(strconv.Itoa(int(b[i])))
		}
		label("in-addr")
	} else {
		b := a.As16()
		for i := 15; i >= 0; i-- {
			label(hex[b[i]&15 : b[i]&15+1])
			label(hex[b[i]>>4 : b[i]>>4+1])
		}
		label("ip6")
	}
	label("arpa")
	q = append(q, 0)
	return append(q, 0, 12, 0, 1) // PTR, IN
}

var errMalformed = errors.New("rdns: malformed answer")

// Answer returns the first PTR name in resp, the answer to the query q,
// without the trailing dot. A name error or an answer without a PTR
// record is ErrNotFound.
func Answer(q, resp []byte) (string, error) {
	if len(resp) < 12 || len(resp) < len(q) {
		return "", errMalformed
	}
	if resp[0] != q[0] || resp[1] != q[1] || resp[2]&0x80 == 0 {
		return "", errors.New("rdns: not an answer to the query")
	}
	switch resp[3] & 0x0f {
	case 0:
	case 3: // NXDOMAIN
		return "", ErrNotFound
	default:
		return "", errors.New("rdns: nameserver failure")
	}
	if binary.BigEndian.Uint16(resp[4:]) != 1 || string(resp[12:len(q)]) != string(q[12:]) {
		return "", errors.New("rdns: answer to another question")
	}
	n := int(binary.BigEndian.Uint16(resp[6:]))
	off := len(q)
	for i := 0; i < n; i++ {
		_, next, err := readName(resp, off)
		if err != nil {
			return "", err
		}
		if next+10 > len(resp) {
			return "", errMalformed
		}
		typ := binary.BigEndian.Uint16(resp[next:])
		class := binary.BigEndian.Uint16(resp[next+2:])
		rdlen := int(binary.BigEndian.Uint16(resp[next+8:]))
		rdata := next + 10
		if rdata+rdlen > len(resp) {
			return "", errMalformed
		}
		if typ == 12 && class == 1 {
			name, _, err := readName(resp, rdata)
			if err != nil {
				return "", err
			}
			if name != "" {
				return name, nil
			}
		}
		off = rdata + rdlen
	}
	return "", ErrNotFound
}

// readName decodes the possibly compressed name at off in msg. It returns
// the name (dot-separated, no trailing dot) and the offset after the name
// where it started.
func readName(msg []byte, off int) (string, int, error) {
	var b strings.Builder
	end := -1
	for jumps := 0; ; {
		if off >= len(msg) {
			return "", 0, errMalformed
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return b.String(), end, nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) || jumps > 32 {
				return "", 0, errMalformed
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			jumps++
		case l&0xc0 != 0:
			return "", 0, errMalformed
		default:
			if off+1+l > len(msg) || b.Len()+l > 254 {
				return "", 0, errMalformed
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.Write(msg[off+1 : off+1+l])
			off += 1 + l
		}
	}
}

// exchange sends q to server over UDP and returns the first datagram that
// comes back within wait.
func exchange(server netip.AddrPort, q []byte, wait time.Duration) ([]byte, error) {
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if server.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(server.Port()), Addr: server.Addr().As4()}
	} else {
		family = syscall.AF_INET6
		sa6 := &syscall.SockaddrInet6{Port: int(server.Port()), Addr: server.Addr().As16()}
		if z := server.Addr().Zone(); z != "" { // fe80::1%eth0
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa6.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
				sa6.ZoneId = uint32(n)
			}
		}
		sa = sa6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	tv := syscall.NsecToTimeval(wait.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		return nil, os.NewSyscallError("connect", err)
	}
	if _, err := syscall.Write(fd, q); err != nil {
		return nil, os.NewSyscallError("write", err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(wait)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return nil, ErrTimeout
		}
		if err != nil {
			return nil, os.NewSyscallError("read", err) // e.g. ECONNREFUSED
		}
		// A connected UDP socket only hears from server; skip stray
		// answers to other queries until the deadline.
		if n >= 2 && buf[0] == q[0] && buf[1] == q[1] {
			return buf[:n], nil
		}
		if time.Now().After(deadline) {
			return nil, ErrTimeout
		}
	}
}
