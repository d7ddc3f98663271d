package wake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/macaddr"
	"github.com/mdlayher/packet"
	"github.com/mdlayher/wol"
)

// DefaultSendTimeout bounds one send when Raw.Timeout is zero.
const DefaultSendTimeout = 2 * time.Second

// Broadcast is the Ethernet broadcast address, the default destination of
// Raw's frames.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Raw is the Waker of the router: it sends the magic packet as a raw
// Ethernet frame (EtherType 0x0842) out of the named device, addressed to
// the Ethernet broadcast address, with the device's own MAC as the source.
// It needs root or CAP_NET_RAW. The zero value is ready to use and safe for
// concurrent use.
//
// Each call looks the device up and opens its own AF_PACKET socket, which it
// closes before returning: wakes are rare, LAN devices come and go (a bridge
// re-created by a network reload gets a new index), and a socket kept open
// would only collect every 0x0842 frame on the LAN in its receive queue.
type Raw struct {
	_ [0]func() // not comparable: no equality function in the binary
	// Unicast addresses the frame to the target's MAC instead of the
	// broadcast address, like etherwake without -b and wol.RawClient.
	// Switches flood frames for a MAC they no longer know, so both reach a
	// sleeping host on a plain LAN; broadcast also crosses bridges and
	// access points that drop unicast to unknown stations.
	Unicast bool
	// Timeout bounds the send; zero means DefaultSendTimeout.
	Timeout time.Duration
}

var _ Waker = (*Raw)(nil)

// Wake sends one magic packet for mac, with the optional SecureOn password,
// out of the device ifname.
func (r *Raw) Wake(ifname string, mac net.HardwareAddr, password []byte) error {
	if err := Check(ifname, mac, password); err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("device %q: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("device %q has no Ethernet address (hardware address %q)", ifname, ifi.HardwareAddr)
	}
	dst := Broadcast
	if r.Unicast {
		dst = mac
	}
	b, err := Frame(dst, ifi.HardwareAddr, mac, password)
	if err != nil {
		return err
	}

	c, err := packet.Listen(ifi, packet.Raw, wol.EtherType, nil)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("open raw socket on %q (needs root or CAP_NET_RAW): %w", ifname, err)
		}
		return fmt.Errorf("open raw socket on %q: %w", ifname, err)
	}
	defer c.Close()
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set deadline on %q: %w", ifname, err)
	}
	if _, err := c.WriteTo(b, &packet.Addr{HardwareAddr: dst}); err != nil {
		return fmt.Errorf("send magic packet for %v on %q: %w", mac, ifname, err)
	}
	return nil
}

// Frame returns the Ethernet frame Raw sends: destination dst, source src,
// EtherType 0x0842, then the magic packet for mac (6×0xff, 16×mac) and the
// password. The magic packet is encoded by wol.MagicPacket.
func Frame(dst, src, mac net.HardwareAddr, password []byte) ([]byte, error) {
	if len(dst) != 6 || len(src) != 6 {
		return nil, fmt.Errorf("frame addresses %v > %v: want 6 bytes each", src, dst)
	}
	if err := macaddr.Check(mac); err != nil {
		return nil, fmt.Errorf("MAC address %v: %v", mac, err)
	}
	if err := macaddr.CheckPassword(password); err != nil {
		return nil, err
	}
	mp := wol.MagicPacket{Target: mac, Password: password}
	payload, err := mp.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode magic packet for %v: %w", mac, err)
	}
	b := make([]byte, 14+len(payload))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], wol.EtherType)
	copy(b[14:], payload)
	return b, nil
}
