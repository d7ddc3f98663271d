// Command boxserve is the host side of the router-in-a-box tests
// (scripts/router-box): the machines around the emulated router.
//
//	boxserve smtp ADDR DIR     an SMTP sink: each message received is written
//	                           to DIR/mail-N (envelope lines, then the data)
//	boxserve banner ADDR TEXT  a TCP server writing TEXT to each connection
//	boxserve dial SRC ADDR     connect from SRC to ADDR (3 s at most) and print
//	                           what the server writes; fails if it cannot
//	boxserve knocks SRC DST PORTS EVERY SECS PORT...
//	                           knock PORTS (comma separated, a TCP connect each)
//	                           on DST from SRC every EVERY for SECS seconds; the
//	                           door commands answer with a TCP connection to SRC
//	                           on each PORT (one per daemon; busybox nc has no
//	                           UDP): print,
//	                           per port, knocks sent, answered, and the median
//	                           and largest time from the last SYN to the answer
//	boxserve fw4 WAN LAN ROOT  print an OpenWrt firewall4-shaped ruleset for
//	                           devices WAN and LAN that includes the package's
//	                           nftables.d files installed under ROOT
//
// Standard library only; each server runs until killed.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/fw4ruleset"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "smtp":
		err = smtpSink(os.Args[2], os.Args[3])
	case len(os.Args) == 4 && os.Args[1] == "banner":
		err = banner(os.Args[2], os.Args[3])
	case len(os.Args) == 4 && os.Args[1] == "dial":
		err = dial(os.Args[2], os.Args[3])
	case len(os.Args) >= 8 && os.Args[1] == "knocks":
		err = knocks(os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6], os.Args[7:])
	case len(os.Args) == 5 && os.Args[1] == "fw4":
		_, err = fmt.Print(fw4ruleset.Render(os.Args[4], os.Args[2], os.Args[3], true))
	default:
		err = fmt.Errorf("usage: boxserve smtp ADDR DIR | banner ADDR TEXT | dial SRC ADDR | fw4 WAN LAN ROOT")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "boxserve:", err)
		os.Exit(1)
	}
}

func banner(addr, text string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, text+"\n")
		c.Close()
	}
}

func dial(src, addr string) error {
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	if err != nil {
		return err
	}
	fmt.Print(string(b))
	return nil
}

func smtpSink(addr, dir string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var n atomic.Int64
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			msg, err := smtpSession(c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "boxserve: smtp:", err)
			}
			if msg != "" {
				name := filepath.Join(dir, fmt.Sprintf("mail-%d", n.Add(1)))
				if err := os.WriteFile(name+".tmp", []byte(msg), 0o644); err == nil {
					os.Rename(name+".tmp", name)
				}
			}
		}()
	}
}

// smtpSession speaks enough SMTP for one message (RFC 5321's minimum: HELO
// or EHLO, MAIL, RCPT, DATA, QUIT, RSET, NOOP) and returns it, envelope
// lines first. Lines and the message are bounded.
func smtpSession(c net.Conn) (string, error) {
	r := bufio.NewReaderSize(c, 4096)
	w := func(s string) { io.WriteString(c, s+"\r\n") }
	var env, data strings.Builder
	w("220 boxserve ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"), strings.HasPrefix(verb, "HELO"):
			w("250 boxserve")
		case strings.HasPrefix(verb, "MAIL FROM:"), strings.HasPrefix(verb, "RCPT TO:"):
			if env.Len() < 4096 {
				env.WriteString(line + "\n")
			}
			w("250 OK")
		case verb == "DATA":
			w("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return "", err
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "." {
					break
				}
				if data.Len() > 1<<20 {
					return "", fmt.Errorf("message over 1 MiB")
				}
				data.WriteString(strings.TrimPrefix(l, ".") + "\n")
			}
			w("250 OK queued")
		case verb == "QUIT":
			w("221 bye")
			if data.Len() == 0 {
				return "", nil
			}
			return env.String() + "\n" + data.String(), nil
		case verb == "RSET":
			env.Reset()
			data.Reset()
			w("250 OK")
		case verb == "NOOP":
			w("250 OK")
		default:
			w("502 not implemented")
		}
	}
}

func knocks(src, dst, portList, every, secs string, udpPorts []string) error {
	period, err := time.ParseDuration(every)
	if err != nil {
		return fmt.Errorf("EVERY: %w", err)
	}
	n, err := strconv.Atoi(secs)
	if err != nil || n < 1 || n > 3600 {
		return fmt.Errorf("SECS: want 1..3600, got %q", secs)
	}
	ports := strings.Split(portList, ",")
	type answer struct {
		port int
		at   time.Time
	}
	answers := make(chan answer, 1024)
	for i, p := range udpPorts {
		l, err := net.Listen("tcp4", net.JoinHostPort(src, p))
		if err != nil {
			return err
		}
		defer l.Close()
		go func(i int, l net.Listener) {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				answers <- answer{i, time.Now()}
				c.Close()
			}
		}(i, l)
	}
	lat := make([][]time.Duration, len(udpPorts))
	sent := 0
	d := net.Dialer{Timeout: 200 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	end := time.Now().Add(time.Duration(n) * time.Second)
	for time.Now().Before(end) {
		next := time.Now().Add(period)
		var last time.Time
		for _, p := range ports {
			last = time.Now()
			if c, err := d.Dial("tcp", net.JoinHostPort(dst, p)); err == nil {
				c.Close()
			}
		}
		sent++
		got := make([]bool, len(udpPorts))
		for wait := time.After(time.Until(next)); ; {
			select {
			case a := <-answers:
				if !got[a.port] {
					got[a.port] = true
					lat[a.port] = append(lat[a.port], a.at.Sub(last))
				}
				continue
			case <-wait:
			}
			break
		}
	}
	for i, p := range udpPorts {
		l := lat[i]
		sort.Slice(l, func(a, b int) bool { return l[a] < l[b] })
		med, max := "-", "-"
		if len(l) > 0 {
			med = fmt.Sprintf("%.0f", float64(l[len(l)/2])/1e6)
			max = fmt.Sprintf("%.0f", float64(l[len(l)-1])/1e6)
		}
		fmt.Printf("tcp/%s sent %d opened %d median_ms %s max_ms %s\n", p, sent, len(l), med, max)
	}
	return nil
}
