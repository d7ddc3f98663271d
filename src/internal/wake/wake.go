// Package wake sends Wake-on-LAN magic packets from the router to hosts on
// its LAN.
//
// A magic packet is six 0xff bytes, the target's MAC address sixteen times
// and an optional SecureOn password of 4 or 6 bytes. Raw sends it as a raw
// Ethernet frame with EtherType 0x0842 on a LAN device such as br-lan, so it
// needs neither an IP address on the device nor a route; it needs root or
// CAP_NET_RAW. Recorder is a fake for the tests of other packages.
//
// MAC addresses and passwords are parsed when the configuration is read
// (macaddr.Parse, macaddr.ParsePassword): the errors then name the bad
// value, and Wake only fails for reasons of the moment (device gone,
// permission).
package wake

import (
	"errors"
	"fmt"
	"net"

	"github.com/knockd-go/knockd-go/src/internal/macaddr"
)

// A Waker wakes the host with hardware address mac by sending a magic packet
// out of the network device ifname, with an optional SecureOn password of
// 0, 4 or 6 bytes. Implementations must be safe for concurrent use.
type Waker interface {
	Wake(ifname string, mac net.HardwareAddr, password []byte) error
}

// Check validates the arguments of a Wake call as Raw does; it returns the
// error Raw would return for them.
func Check(ifname string, mac net.HardwareAddr, password []byte) error {
	if ifname == "" {
		return errors.New("no network device given")
	}
	if err := macaddr.Check(mac); err != nil {
		return fmt.Errorf("MAC address %v: %v", mac, err)
	}
	if err := macaddr.CheckPassword(password); err != nil {
		return err
	}
	return nil
}
