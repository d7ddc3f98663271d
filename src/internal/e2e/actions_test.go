package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// router is an outside host (two addresses: A knocks, B does not), a
// router with a WAN and a LAN side and a default-drop firewall, and a LAN
// host running a service on tcp/1723 (the seed's VPN server).
type router struct {
	*pair
	lan, lanHost string // router's LAN device, LAN host namespace
	lanPeer      string // LAN host's device
	lanMAC       net.HardwareAddr
	a, b         string // outside addresses
}

func newRouter(t *testing.T, ipt string) *router {
	t.Helper()
	p := newPair(t)
	r := &router{pair: p, a: p.haddr4, b: "10.77.0.3"}
	testenv.Run(t, "ip", "-n", p.host, "addr", "add", r.b+"/24", "dev", p.hdev)
	r.lanHost = testenv.NetNS(t, "kl")
	r.lan, r.lanPeer = testenv.Veth(t, p.router, "192.168.1.1/24", r.lanHost, "192.168.1.51/24")
	r.lanMAC = macOf(t, r.lanHost, r.lanPeer)
	testenv.Run(t, "ip", "-n", r.lanHost, "route", "add", "default", "via", "192.168.1.1")
	testenv.In(t, p.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	if ipt != "" {
		r.baseRules(t, ipt)
	}
	serve(t, r.lanHost, "0.0.0.0:1723", "vpn-server")
	serve(t, p.router, "0.0.0.0:2222", "router-ssh")
	return r
}

// baseRules installs a router's usual default-drop rules (what a firewall
// reload also restores).
func (r *router) baseRules(t *testing.T, ipt string) {
	t.Helper()
	for _, rule := range [][]string{
		{"-P", "INPUT", "DROP"},
		{"-P", "FORWARD", "DROP"},
		{"-A", "INPUT", "-i", "lo", "-j", "ACCEPT"},
		{"-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
	} {
		testenv.In(t, r.router, ipt, rule...)
	}
}

// sshConf is a door opening the router's tcp/2222 after 7000,8000.
func sshConf(fw string, duration int) string {
	return fmt.Sprintf("[options]\n  firewall = %s\n[ssh]\n  sequence = 7000,8000\n  open = tcp/2222\n  duration = %d\n", fw, duration)
}

// knockOpen knocks 7000,8000 from A and waits until the daemon opened
// tcp/2222; it returns when that happened.
func (r *router) knockOpen(t *testing.T, d *proc) time.Time {
	t.Helper()
	testenv.In(t, r.host, testenv.NeedBin(t, "knock"), r.raddr4, "7000", "8000")
	d.mustSee(r.a+": ssh: opened tcp/2222", wait)
	return time.Now()
}

// sendmailStub writes a sendmail stand-in that records argv and the
// message into dir.
func sendmailStub(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "sendmail")
	// Like OpenWrt's msmtp and ssmtp, it reads a configuration of root's
	// with mode 0600, and fails without it.
	script := fmt.Sprintf("#!/bin/sh\nread -r account < %[1]s/sendmailrc || exit 78\necho \"$@\" > %[1]s/argv\ncat > %[1]s/message\n", dir)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sendmailrc"), []byte("account default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedConf is the seed's configuration rewritten with built-in actions
// instead of scripts: wake the laptop and mail the admin; forward
// WAN tcp/1723 to the VPN server for 20 s. A door opening the router's
// own tcp/2222 sits beside them.
func seedConf(fw, sendmail, lan string, laptop net.HardwareAddr) string {
	return fmt.Sprintf(`[options]
    firewall = %s
    sendmail = %s
    mail_from = knockd@router.example
[WOL-Laptop]
    sequence    = 04,04,04,2012,2012,2012,03,03,03
    seq_timeout = 50
    tcpflags    = syn
    wake        = %s
    wake_interface = %s
    notify      = admin@example.com
[enable-VPN]
    sequence = 02,02,02,01,01,01,2010,2010,2010
    seq_timeout = 120
    forward  = tcp/1723 -> 192.168.1.51:1723
    cmd_timeout = 20
    notify   = admin@example.com
[ssh]
    sequence = 7000,8000,9000
    open     = tcp/2222
    duration = 20
`, fw, sendmail, laptop, lan)
}

func TestSeedConfigurationEndToEnd(t *testing.T) {
	for _, v := range []string{"iptables-legacy", "iptables-nft"} {
		v := v
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			ipt := testenv.NeedBin(t, v)
			knock := testenv.NeedBin(t, "knock")
			r := newRouter(t, ipt)
			dir := testenv.SharedDir(t)
			laptop := net.HardwareAddr{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
			d := knockd(t, r.router, r.rdev, seedConf(v, sendmailStub(t, dir), r.lan, laptop))
			wan := r.raddr4

			// Before: nobody gets through.
			if out, err := dial(r.host, r.a, wan+":1723"); err == nil {
				t.Fatalf("forward open before the knock: %s", out)
			}
			// Wake: the seed knocks every port three times.
			frame := captureFrames(t, r.lanHost, r.lanPeer, 0x0842, 10*time.Second)
			testenv.In(t, r.host, knock, wan, "04", "04", "04", "2012", "2012", "2012", "03", "03", "03")
			checkMagic(t, frame(), macOf(t, r.router, r.lan), laptop)
			d.mustSee(r.a+": WOL-Laptop: sent a wake-on-LAN packet to "+laptop.String(), wait)
			if !testenv.Eventually(wait, func() bool { b, _ := os.ReadFile(dir + "/message"); return len(b) > 0 }) {
				t.Fatalf("no mail:\n%s", d.out.String())
			}
			msg, _ := os.ReadFile(dir + "/message")
			for _, want := range []string{"To: admin@example.com", "Subject: knockd: door \"WOL-Laptop\" opened for " + r.a,
				"wake-on-LAN packet to " + laptop.String(), "From: knockd@router.example"} {
				if !bytes.Contains(msg, []byte(want)) {
					t.Errorf("mail lacks %q:\n%s", want, msg)
				}
			}

			// VPN forward: A knocks, A gets through, B does not.
			t0 := time.Now()
			testenv.In(t, r.host, knock, wan, "02", "02", "02", "01", "01", "01", "2010", "2010", "2010")
			d.mustSee(r.a+": enable-VPN: opened forward tcp/1723->192.168.1.51:1723", wait)
			if out, err := dial(r.host, r.a, wan+":1723"); err != nil || out != "vpn-server" {
				t.Fatalf("knocker A cannot reach the VPN server: %q %v\n%s", out, err, d.out.String())
			}
			if out, err := dial(r.host, r.b, wan+":1723"); err == nil {
				t.Fatalf("B reached the VPN server without knocking: %q", out)
			}
			// Open: the router's own port.
			testenv.In(t, r.host, knock, wan, "7000", "8000", "9000")
			d.mustSee(r.a+": ssh: opened tcp/2222", wait)
			if out, err := dial(r.host, r.a, wan+":2222"); err != nil || out != "router-ssh" {
				t.Fatalf("A cannot reach the opened router port: %q %v", out, err)
			}
			if out, err := dial(r.host, r.b, wan+":2222"); err == nil {
				t.Fatalf("B reached the router port without knocking: %q", out)
			}
			// A repeated knock extends, never duplicates.
			testenv.In(t, r.host, knock, wan, "7000", "8000", "9000")
			time.Sleep(300 * time.Millisecond)
			rules := testenv.In(t, r.router, ipt, "-S", "KNOCKD_INPUT")
			if n := strings.Count(rules, "--dport 2222"); n != 1 {
				t.Fatalf("%d rules for tcp/2222 after a repeated knock, want 1:\n%s", n, rules)
			}
			// After 20 s, A's new connections fail.
			time.Sleep(time.Until(t0.Add(21 * time.Second)))
			if out, err := dial(r.host, r.a, wan+":1723"); err == nil {
				t.Fatalf("forward still open after its 20 s: %q\n%s", out, d.out.String())
			}
		})
	}
}

// checkMagic checks a Wake-on-LAN frame byte by byte.
func checkMagic(t *testing.T, f []byte, src, target net.HardwareAddr) {
	t.Helper()
	if len(f) < 14+6+16*6 {
		t.Fatalf("no magic packet captured (%d bytes)", len(f))
	}
	want := []byte{}
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	want = append(want, src...)
	want = append(want, 0x08, 0x42)
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	for i := 0; i < 16; i++ {
		want = append(want, target...)
	}
	if !bytes.Equal(f[:len(want)], want) {
		t.Fatalf("magic packet:\n got %x\nwant %x", f[:len(want)], want)
	}
}

func TestKill9ThenRestartRemovesIptablesGrants(t *testing.T) {
	r := newRouter(t, testenv.NeedBin(t, "iptables-legacy"))
	conf := sshConf("iptables-legacy", 600)
	d := knockd(t, r.router, r.rdev, conf)
	r.knockOpen(t, d)
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err != nil {
		t.Fatalf("grant not working: %v", err)
	}
	d.signal(syscall.SIGKILL)
	<-d.done
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err != nil {
		t.Fatalf("expected the grant to survive a kill -9 until restart: %v", err)
	}
	knockd(t, r.router, r.rdev, conf)
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("a grant from the killed daemon survived the restart: %q", out)
	}
}

func TestSIGTERMClosesGrants(t *testing.T) {
	ipt := testenv.NeedBin(t, "iptables-nft")
	r := newRouter(t, ipt)
	d := knockd(t, r.router, r.rdev, sshConf("iptables-nft", 600))
	r.knockOpen(t, d)
	d.stop(10 * time.Second)
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("grant left open after SIGTERM: %q", out)
	}
	if out, _ := testenv.InOutput(r.router, ipt, "-S"); strings.Contains(out, "KNOCKD") {
		t.Fatalf("knockd-go chains left behind:\n%s", out)
	}
}
