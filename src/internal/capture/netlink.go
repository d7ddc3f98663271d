//go:build linux

package capture

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// netlinkConn is a rtnetlink socket subscribed to link and address changes.
type netlinkConn struct{ f *os.File }

func watchNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &netlinkConn{f: os.NewFile(uintptr(fd), "rtnetlink")}, nil
}

func (n *netlinkConn) Read(b []byte) (int, error) { return n.f.Read(b) }
func (n *netlinkConn) Close() error               { return n.f.Close() }
