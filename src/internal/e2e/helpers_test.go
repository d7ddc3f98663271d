package e2e

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
	"github.com/mdlayher/packet"
)

// dial connects from src (may be empty) to dst inside ns and returns the
// service's greeting, or an error when the connection fails within 2 s.
func dial(ns, src, dst string) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], src, dst)
	cmd.Env = append(os.Environ(), helperEnv+"=dial")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func helperDial(args []string) int {
	d := net.Dialer{Timeout: 2 * time.Second}
	if args[0] != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(args[0])}
	}
	c, err := d.Dial("tcp", args[1])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Println("read:", err)
		return 1
	}
	fmt.Print(line)
	return 0
}

// serve runs a greeting TCP service on addr inside ns until the test ends.
func serve(t *testing.T, ns, addr, greeting string) {
	t.Helper()
	startEnv(t, []string{helperEnv + "=serve"}, ns, os.Args[0], addr, greeting)
	ok := false
	for i := 0; i < 100 && !ok; i++ {
		_, err := dial(ns, "", addr)
		ok = err == nil
		if !ok {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("service on %s did not start", addr)
	}
}

func helperServe(args []string) int {
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		fmt.Fprintln(c, args[1])
		c.Close()
	}
}

// captureFrames starts an AF_PACKET capture of EtherType proto on dev in
// ns; the returned function waits up to limit for the first frame and
// returns it.
func captureFrames(t *testing.T, ns, dev string, proto int, limit time.Duration) func() []byte {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], dev, fmt.Sprint(proto), limit.String())
	cmd.Env = append(os.Environ(), helperEnv+"=capture")
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// Wait for the helper to be listening.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "ready") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return func() []byte {
		select {
		case <-done:
		case <-time.After(limit + time.Second):
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if h, ok := strings.CutPrefix(l, "frame "); ok {
				b, _ := hex.DecodeString(h)
				return b
			}
		}
		return nil
	}
}

func helperCapture(args []string) int {
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var proto int
	fmt.Sscan(args[1], &proto)
	limit, _ := time.ParseDuration(args[2])
	c, err := packet.Listen(ifi, packet.Raw, proto, nil)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer c.Close()
	fmt.Println("ready")
	_ = c.SetReadDeadline(time.Now().Add(limit))
	b := make([]byte, 2048)
	n, _, err := c.ReadFrom(b)
	if err != nil {
		fmt.Println("no frame:", err)
		return 1
	}
	fmt.Printf("frame %x\n", b[:n])
	return 0
}
