package control

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/spa"

	"github.com/knockd-go/knockd-go/src/internal/rdns"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// rpcdMethods is the plugin's "list" reply: every method with its
// arguments, typed by example as rpcd reads them. doctor is answered by the
// knockd command (package doctor), which calls RPCD for the others.
const rpcdMethods = `{"status":{},"doors":{},"revoke":{"door":"str","source":"str"},"keygen":{"kind":"str"},"hosts":{},"doctor":{},"features":{}}`

// RPCD answers rpcd's plugin protocol (the knockd binary installed as
// /usr/libexec/rpcd/knockd): `list` prints the methods, `call METHOD`
// reads the arguments (a JSON object) and prints the reply object. The
// daemon's methods go through its socket; without a daemon, status says
// it is not running. keygen and hosts are answered here.
func RPCD(args []string, stdin io.Reader, stdout io.Writer, socket string, files HostFiles) int {
	switch {
	case len(args) == 1 && args[0] == "list":
		fmt.Fprintln(stdout, rpcdMethods)
		return 0
	case len(args) == 2 && args[0] == "call":
	default:
		fmt.Fprintln(os.Stderr, "usage: knockd list | knockd call METHOD (rpcd plugin protocol)")
		return 2
	}
	argv, err := rpcdArgs(stdin)
	if err != nil {
		stdout.Write(append(errorJSON("arguments: "+err.Error()), '\n'))
		return 0
	}
	var reply []byte
	switch method := args[1]; method {
	case "status", "doors", "revoke":
		kv := []string{}
		if method == "revoke" {
			kv = []string{"door", argv["door"], "source", argv["source"]}
		}
		reply, err = Call(socket, Request(method, kv...))
		if err != nil {
			if method == "status" || method == "doors" {
				reply = Status{}.notRunning(method)
			} else {
				reply = errorJSON(err.Error())
			}
		}
	case "keygen":
		reply, err = Keygen(argv["kind"])
		if err != nil {
			reply = errorJSON(err.Error())
		}
	case "hosts":
		reply = Hosts(files)
	case "features":
		reply = Features(feature.This())
	default:
		reply = errorJSON("unknown method " + method)
	}
	stdout.Write(append(trimNewline(reply), '\n'))
	return 0
}

// Features is rpcd's "features" reply: which optional features this
// build has (LuCI offers only those), and the package that has the ones
// it lacks (full_package, empty when none), e.g.
// {"spa":false,"rotating":false,"mail":true,"control":true,"doctor":false,"full_package":"knockd-go-full"}.
func Features(f feature.Set) []byte {
	var w jsonWriter
	w.Open('{')
	w.Key("spa").Bool(f.SPA)
	w.Key("rotating").Bool(f.Rotate)
	w.Key("mail").Bool(f.Mail)
	w.Key("control").Bool(f.Control)
	w.Key("doctor").Bool(f.Doctor)
	w.Key("full_package").Str(f.Fuller)
	w.Close('}')
	return w.Bytes()
}

// rpcdArgs reads the arguments of a call: a JSON object of strings (every
// argument of rpcdMethods is "str"), or nothing. More than maxRequest
// bytes is refused, white space or not. The read is bounded in time: a
// call run by hand, with standard input left open, must not wait for an
// end that never comes.
func rpcdArgs(stdin io.Reader) (map[string]string, error) {
	in, err := readArgs(stdin, argsTimeout)
	switch {
	case err == errArgsTimeout:
		return map[string]string{}, nil // run by hand: no arguments
	case err != nil:
		return nil, err
	case len(in) > maxRequest:
		return nil, fmt.Errorf("request too long (more than %d bytes)", maxRequest)
	case strings.TrimSpace(string(in)) == "":
		return map[string]string{}, nil
	}
	return parseStrings(in, "door", "source", "kind")
}

// argsTimeout bounds the wait for rpcd's arguments (rpcd writes them at
// once and closes the pipe).
const argsTimeout = 2 * time.Second

// errArgsTimeout: the input did not end in time; what was read is
// dropped and the call runs without arguments.
var errArgsTimeout = fmt.Errorf("no end of input within %v", argsTimeout)

// readArgs reads at most maxRequest+1 bytes of r until its end or until
// limit has passed (then what was read is dropped).
func readArgs(r io.Reader, limit time.Duration) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, maxRequest+1))
		if err != nil {
			err = fmt.Errorf("reading standard input: %w", err)
		}
		got <- result{b, err}
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case r := <-got:
		return r.b, r.err
	case <-t.C:
		return nil, errArgsTimeout
	}
}

// notRunning is the reply to status or doors without a daemon.
func (s Status) notRunning(method string) []byte {
	if method == "doors" {
		return s.DoorsJSON()
	}
	return s.JSON()
}

// Keygen makes new secrets: for kind "spa" an SPA key and HMAC key as
// fwknop --key-gen makes them (32 and 64 random bytes, base64), for
// "rotating" the secret of a rotating knock (base32).
func Keygen(kind string) ([]byte, error) {
	var w jsonWriter
	w.Open('{')
	switch kind {
	case "spa", "":
		if !feature.SPA {
			return nil, fmt.Errorf("keygen: %w", feature.Missing("SPA (fwknop)", "knockd_nospa"))
		}
		key, hmac, err := spa.NewKeys()
		if err != nil {
			return nil, err
		}
		w.Key("key_base64").Str(base64.StdEncoding.EncodeToString(key))
		w.Key("hmac_key_base64").Str(base64.StdEncoding.EncodeToString(hmac))
	case "rotating":
		if !feature.Rotate {
			return nil, fmt.Errorf("keygen: %w", feature.Missing("rotating knocks", "knockd_norotate"))
		}
		s, err := rotate.NewSecret()
		if err != nil {
			return nil, err
		}
		w.Key("secret").Str(rotate.FormatSecret(s))
	default:
		return nil, fmt.Errorf("keygen: unknown kind %q (want spa or rotating)", kind)
	}
	w.Close('}')
	return w.Bytes(), nil
}

// HostFiles are where Hosts reads the LAN hosts.
type HostFiles struct {
	Leases string // dnsmasq's leases, /tmp/dhcp.leases on OpenWrt
	ARP    string // /proc/net/arp
}

// DefaultHostFiles are OpenWrt's.
var DefaultHostFiles = HostFiles{Leases: "/tmp/dhcp.leases", ARP: "/proc/net/arp"}

// maxHosts bounds the list.
const maxHosts = 512

// Hosts lists the LAN hosts the router knows, for the wake-on-LAN MAC
// picker: {"hosts":[{"mac","ip","name"}]} from the DHCP leases, then the
// neighbours of the ARP table not among them.
func Hosts(f HostFiles) []byte {
	type host struct{ mac, ip, name string }
	var hosts []host
	seen := map[string]bool{}
	// The fields come from files any local user may have written first
	// (/tmp/dhcp.leases) and LuCI shows them as HTML: a MAC that is not
	// one leaves the host out, an address or a name that is not one is
	// left empty.
	add := func(mac, ip, name string) {
		mac = strings.ToLower(mac)
		if seen[mac] || len(hosts) >= maxHosts || mac == "00:00:00:00:00:00" || !isMAC(mac) {
			return
		}
		seen[mac] = true
		if a, err := netip.ParseAddr(ip); err != nil || a.Zone() != "" {
			ip = ""
		}
		if !rdns.HostName(name) {
			name = ""
		}
		hosts = append(hosts, host{mac, ip, name})
	}
	// dnsmasq: "<expiry> <mac> <ip> <name> <client id>"
	lines(f.Leases, func(fl []string) {
		if len(fl) >= 4 {
			add(fl[1], fl[2], fl[3])
		}
	})
	// /proc/net/arp: "IP address  HW type  Flags  HW address  Mask  Device"
	lines(f.ARP, func(fl []string) {
		if len(fl) >= 4 && fl[0] != "IP" {
			add(fl[3], fl[0], "")
		}
	})
	var w jsonWriter
	w.Open('{')
	w.Key("hosts").Open('[')
	for _, h := range hosts {
		w.Open('{')
		w.Key("mac").Str(h.mac)
		w.Key("ip").Str(h.ip)
		w.Key("name").Str(h.name)
		w.Close('}')
	}
	w.Close(']')
	w.Close('}')
	return w.Bytes()
}

// isMAC reports whether s is a MAC address as aa:bb:cc:dd:ee:ff (lower
// case).
func isMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// lines calls f with the fields of each line of a file (at most a few
// thousand lines); a missing file is no lines.
// Only a regular file is read (/proc files are regular): a FIFO or a
// device put in the leases' place is skipped, not waited on.
func lines(path string, f func([]string)) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
		return
	}
	sc := bufio.NewScanner(io.LimitReader(fh, 1<<20))
	for n := 0; sc.Scan() && n < 4*maxHosts; n++ {
		f(strings.Fields(sc.Text()))
	}
}
