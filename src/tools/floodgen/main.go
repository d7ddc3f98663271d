// Command floodgen is the benchmark's packet generator: standard library
// only, a raw AF_PACKET socket writing prebuilt Ethernet frames as fast as
// the kernel takes them.
//
//	floodgen -dev eth0 -dstmac aa:.. -dst 192.0.2.1 -port 7000 -n 1000000 -sources 100000 [-proto tcp|udp] [-rate pps] [-src 10.0.0.0]
//	         [-ports 7000,8000,9000] [-payloadfile FILE] [-for 10s]
//
// Each packet comes from the next of -sources distinct source addresses
// (counting up from -src), so -sources 1 is plain traffic from one host.
// With -ports, consecutive packets of a source go to the ports in turn:
// -sources 1 -ports 7000,8000,9000 is one address completing a door over
// and over (a replayed knock). -payloadfile sends a file as the UDP
// payload (a captured SPA packet). It prints the number of packets sent,
// the time taken and the rate.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// floodgen -execfloor N STAMP FILE: start "STAMP FILE" N times, 100 ms
	// apart, and print the median time from before the start to the time
	// STAMP wrote into FILE: what merely starting a command costs a Go
	// program on this machine, the floor under knock -> command latency.
	if len(os.Args) == 5 && os.Args[1] == "-execfloor" {
		if err := execFloor(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "floodgen:", err)
			os.Exit(1)
		}
		return
	}
	dev := flag.String("dev", "", "device to send on")
	dstmac := flag.String("dstmac", "", "destination MAC")
	dst := flag.String("dst", "", "destination IPv4 address")
	src := flag.String("src", "10.0.0.1", "first source IPv4 address")
	port := flag.Int("port", 7000, "destination port")
	proto := flag.String("proto", "tcp", "tcp or udp")
	n := flag.Int("n", 1000000, "packets to send")
	sources := flag.Int("sources", 1, "distinct source addresses")
	rate := flag.Int("rate", 0, "packets per second (0: as fast as possible)")
	payload := flag.String("payload", "", "UDP payload (default one NUL byte)")
	payloadFile := flag.String("payloadfile", "", "file holding the UDP payload")
	portList := flag.String("ports", "", "ports to knock in turn, comma separated (instead of -port)")
	flag.DurationVar(&maxDuration, "for", 0, "stop after this long, even if fewer than -n packets were sent (0: no limit)")
	flag.DurationVar(&linger, "linger", 0, "stay this long, idle, after the last packet before exiting (a latency sample: the generator's exit does not compete with what is measured)")
	flag.Parse()
	if linger > 0 {
		quiet()
	}
	if *payload != "" {
		udpPayload = []byte(*payload)
	}
	if *payloadFile != "" {
		b, err := os.ReadFile(*payloadFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floodgen:", err)
			os.Exit(1)
		}
		udpPayload = []byte(strings.TrimRight(string(b), "\n"))
	}
	if *portList != "" {
		for _, f := range strings.Split(*portList, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || p < 1 || p > 65535 {
				fmt.Fprintln(os.Stderr, "floodgen: -ports: bad port", f)
				os.Exit(1)
			}
			ports = append(ports, uint16(p))
		}
		*port = int(ports[0])
	}
	if err := run(*dev, *dstmac, *dst, *src, *proto, *port, *n, *sources, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "floodgen:", err)
		os.Exit(1)
	}
}

// udpPayload is the payload of UDP packets.
var udpPayload = []byte{0}

// ports are knocked in turn (-ports); empty: -port only.
var ports []uint16

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// maxDuration ends an IPv4 run early (-for): a flood that lasts as long
// as what is measured during it, whatever the generator's rate.
var maxDuration time.Duration

// linger: see -linger.
var linger time.Duration

// quiet readies the runtime for a latency sample (-linger): one
// processor, and its timers and poller set up before the packets go. A
// first time.Sleep after the last packet set them up then, and woke
// another thread, on the CPU the router's daemon had just been woken on,
// while the latency was being measured; a nanosleep(2) outside the
// runtime kept its monitor thread polling meanwhile. With one processor
// the sleep after the last packet wakes no thread, and the monitor sleeps
// while the processor does.
func quiet() {
	runtime.GOMAXPROCS(1)
	time.Sleep(time.Millisecond)
}

func run(dev, dstmac, dst, src, proto string, port, n, sources, rate int) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(dstmac)
	if err != nil {
		return err
	}
	da, err := netip.ParseAddr(dst)
	if err != nil {
		return fmt.Errorf("-dst: %v", err)
	}
	sa, err := netip.ParseAddr(src)
	if err != nil || sa.Is4() != da.Is4() {
		return fmt.Errorf("-src: want an address of the same family as -dst")
	}
	if da.Is6() {
		return send6(ifi, mac, sa, da, proto, uint16(port), n)
	}
	if sources < 1 || n < 0 {
		return fmt.Errorf("-sources must be ≥ 1 and -n ≥ 0")
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_IP)))
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	ll := &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: ifi.Index}
	if err := syscall.Bind(fd, ll); err != nil {
		return err
	}
	frame := buildFrame(ifi.HardwareAddr, mac, sa.As4(), da.As4(), proto, uint16(port))
	base := binary.BigEndian.Uint32(sa.AsSlice())
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	t0 := time.Now()
	sent := 0
	for i := 0; i < n; i++ {
		if maxDuration > 0 && i%1024 == 0 && time.Since(t0) > maxDuration {
			break
		}
		s := base + uint32(i%sources)
		if len(ports) > 0 {
			binary.BigEndian.PutUint16(frame[14+20+2:], ports[(i/sources)%len(ports)])
		}
		setSource(frame, s)
		if interval > 0 {
			if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		for {
			_, _, e := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(ptr(frame)), uintptr(len(frame)), 0, 0, 0)
			if e == 0 {
				break
			}
			if e != syscall.ENOBUFS && e != syscall.EAGAIN {
				return fmt.Errorf("send: %v", e)
			}
			time.Sleep(50 * time.Microsecond)
		}
		sent++
	}
	last := time.Now()
	el := last.Sub(t0)
	time.Sleep(linger)
	fmt.Printf("last_ns %d\n", last.UnixNano())
	fmt.Printf("sent %d packets in %.3fs: %.0f pps\n", sent, el.Seconds(), float64(sent)/el.Seconds())
	return nil
}

// send6 sends n identical IPv6 TCP SYN or UDP packets from src (for the
// latency measurement; floods are IPv4).
func send6(ifi *net.Interface, dmac net.HardwareAddr, src, dst netip.Addr, proto string, port uint16, n int) error {
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(0x86dd)))
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	ll := &syscall.SockaddrLinklayer{Protocol: htons(0x86dd), Ifindex: ifi.Index}
	if err := syscall.Bind(fd, ll); err != nil {
		return err
	}
	l4, p := 20, byte(6)
	if proto == "udp" {
		l4, p = 9, 17
	}
	b := make([]byte, 14+40+l4)
	copy(b[0:6], dmac)
	copy(b[6:12], ifi.HardwareAddr)
	binary.BigEndian.PutUint16(b[12:], 0x86dd)
	ip := b[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(l4))
	ip[6], ip[7] = p, 64
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	t := ip[40:]
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], port)
	var sum uint32
	for i := 8; i < 40; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(l4) + uint32(p)
	if p == 6 {
		t[12], t[13] = 5<<4, 0x02
		binary.BigEndian.PutUint16(t[14:], 64240)
		binary.BigEndian.PutUint16(t[16:], checksum(t, sum))
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(l4))
		binary.BigEndian.PutUint16(t[6:], checksum(t, sum))
	}
	for i := 0; i < n; i++ {
		if _, _, e := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(ptr(b)), uintptr(len(b)), 0, 0, 0); e != 0 {
			return fmt.Errorf("send: %v", e)
		}
	}
	last := time.Now()
	time.Sleep(linger)
	fmt.Printf("last_ns %d\n", last.UnixNano())
	fmt.Printf("sent %d packets\n", n)
	return nil
}

// buildFrame returns an Ethernet+IPv4+TCP(SYN)/UDP frame.
func buildFrame(smac, dmac net.HardwareAddr, s, d [4]byte, proto string, port uint16) []byte {
	l4 := 20
	p := byte(6)
	if proto == "udp" {
		l4, p = 8+len(udpPayload), 17
	}
	b := make([]byte, 14+20+l4)
	copy(b[0:6], dmac)
	copy(b[6:12], smac)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4))
	ip[8] = 64
	ip[9] = p
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	t := ip[20:]
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], port)
	if p == 6 {
		t[12] = 5 << 4
		t[13] = 0x02
		binary.BigEndian.PutUint16(t[14:], 64240)
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(l4))
		copy(t[8:], udpPayload)
	}
	return b
}

// setSource rewrites the source address and both checksums.
func setSource(b []byte, s uint32) {
	ip := b[14:]
	binary.BigEndian.PutUint32(ip[12:], s)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:20], 0))
	t := ip[20:]
	var sum uint32
	sum += uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:]))
	sum += uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:]))
	sum += uint32(ip[9]) + uint32(len(t))
	if ip[9] == 6 {
		t[16], t[17] = 0, 0
		binary.BigEndian.PutUint16(t[16:], checksum(t, sum))
	} else {
		t[6], t[7] = 0, 0
		c := checksum(t, sum)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(t[6:], c)
	}
}

func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func execFloor(count, stamp, file string) error {
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return fmt.Errorf("-execfloor: bad count %q", count)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	var us []int
	for i := 0; i < n; i++ {
		time.Sleep(100 * time.Millisecond)
		os.Remove(file)
		t0 := time.Now()
		c := exec.Command(stamp, file)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Stdin, c.Stdout, c.Stderr = null, null, null
		if err := c.Run(); err != nil {
			return err
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return err
		}
		us = append(us, int((ns-t0.UnixNano())/1000))
	}
	sort.Ints(us)
	fmt.Printf("execfloor_ms %.3f\n", float64(us[len(us)/2])/1000)
	fmt.Printf("execfloor_samples_us %s\n", strings.Trim(fmt.Sprint(us), "[]"))
	return nil
}
