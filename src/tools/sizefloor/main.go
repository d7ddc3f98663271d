// Command sizefloor is the size floor of knockd: a program that uses only
// knockd's fixed dependencies — github.com/mdlayher/packet,
// golang.org/x/net/bpf, github.com/mdlayher/wol (the raw magic packet),
// github.com/coreos/go-iptables and golang.org/x/sys/unix — with fmt,
// os/exec and os/signal, each the way knockd uses it, so the linker keeps
// what knockd needs of them. scripts/size.sh compares knockd with it: what
// knockd weighs above this program is knockd's own code and the other
// standard packages it pulls in.
//
//	sizefloor IFACE [MAC]
//
// It captures TCP SYNs on IFACE through a kernel BPF filter, and for each
// one lists the iptables filter chains, inserts and deletes an ACCEPT rule
// for the source, runs a command and, with MAC, sends a Wake-on-LAN frame,
// until SIGINT or SIGTERM. It is a measuring stick, not a tool.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/mdlayher/packet"
	"github.com/mdlayher/wol"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: sizefloor IFACE [MAC]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "sizefloor: %v\n", err)
		os.Exit(1)
	}
}

// synFilter accepts IPv4 TCP segments with SYN set and not ACK, 64 bytes
// of them, on a cooked (Datagram) socket whose data starts at the IP
// header.
func synFilter() ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: 4},
		bpf.LoadMemShift{Off: 0},
		bpf.LoadIndirect{Off: 13, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x10, SkipTrue: 1},
		bpf.RetConstant{Val: 64},
		bpf.RetConstant{Val: 0},
	})
}

func run(ifname string, args []string) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	filter, err := synFilter()
	if err != nil {
		return err
	}
	c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return err
	}
	defer c.Close()
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		})
	}
	ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(5))
	if err != nil {
		return err
	}
	var wake *wol.RawClient
	var mac net.HardwareAddr
	if len(args) == 1 {
		if mac, err = net.ParseMAC(args[0]); err != nil {
			return err
		}
		if wake, err = wol.NewRawClient(ifi); err != nil {
			return err
		}
		defer wake.Close()
	}

	go func() {
		<-sigs
		c.SetReadDeadline(time.Now())
	}()
	buf := make([]byte, 64)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if os.IsTimeout(err) {
				return nil
			}
			return err
		}
		if n < 20 {
			continue
		}
		src := net.IP(buf[12:16]).String()
		fmt.Printf("SYN from %s (%v)\n", src, from)
		chains, err := ipt.ListChains("filter")
		if err != nil {
			return err
		}
		rule := []string{"-s", src, "-p", "tcp", "-j", "ACCEPT"}
		if err := ipt.Insert("filter", chains[0], 1, rule...); err != nil {
			return err
		}
		out, err := exec.Command("/bin/sh", "-c", "echo "+src).CombinedOutput()
		fmt.Printf("command: %q %v\n", out, err)
		if err := ipt.DeleteIfExists("filter", chains[0], rule...); err != nil {
			return err
		}
		if wake != nil {
			if err := wake.Wake(mac); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}
}
