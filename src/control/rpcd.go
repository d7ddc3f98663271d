package control

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/knockd-go/knockd-go/src/rotate"
)

// rpcdMethods is the plugin's "list" reply: every method with its
// arguments, typed by example as rpcd reads them.
const rpcdMethods = `{"status":{},"doors":{},"revoke":{"door":"str","source":"str"},"keygen":{"kind":"str"},"hosts":{}}`

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
	// Bounded in time: a call run by hand, with standard input left
	// open, must not wait for an end that never comes.
	in := readArgs(stdin, argsTimeout)
	var err error
	argv := map[string]string{}
	if s := strings.TrimSpace(string(in)); s != "" {
		if argv, err = parseObject([]byte(s)); err != nil {
			stdout.Write(append(errorJSON("arguments: "+err.Error()), '\n'))
			return 0
		}
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
	default:
		reply = errorJSON("unknown method " + method)
	}
	stdout.Write(append(trimNewline(reply), '\n'))
	return 0
}

// argsTimeout bounds the wait for rpcd's arguments (rpcd writes them at
// once and closes the pipe).
const argsTimeout = 2 * time.Second

// readArgs reads at most maxRequest+1 bytes of r until its end or until
// limit has passed (then what was read is dropped).
func readArgs(r io.Reader, limit time.Duration) []byte {
	got := make(chan []byte, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, maxRequest+1))
		if err != nil {
			b = nil
		}
		got <- b
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case b := <-got:
		return b
	case <-t.C:
		return nil
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
		key, hmac := make([]byte, 32), make([]byte, 64)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if _, err := rand.Read(hmac); err != nil {
			return nil, err
		}
		w.Key("key_base64").Str(base64.StdEncoding.EncodeToString(key))
		w.Key("hmac_key_base64").Str(base64.StdEncoding.EncodeToString(hmac))
	case "rotating":
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
	add := func(mac, ip, name string) {
		mac = strings.ToLower(mac)
		if seen[mac] || len(hosts) >= maxHosts || mac == "00:00:00:00:00:00" || len(mac) != 17 {
			return
		}
		seen[mac] = true
		if name == "*" {
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
