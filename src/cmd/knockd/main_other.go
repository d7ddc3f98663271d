//go:build !linux

// Command knockd is knockd-go's port-knock daemon. It captures with
// AF_PACKET and changes Linux firewalls: it runs on Linux only (the knock
// client runs everywhere).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "knockd: runs on Linux only")
	os.Exit(1)
}
