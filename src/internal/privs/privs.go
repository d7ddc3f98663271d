// Package privs runs knockd-go with the least privilege it needs: the
// daemon keeps only the capabilities of its own work (raw packets, the
// firewall), children that do not need root run as another user with
// no_new_privs, and users are looked up without the C library.
package privs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LookupUser returns the credential of a user of /etc/passwd (uid and
// primary gid, no supplementary groups).
func LookupUser(name string) (*syscall.Credential, error) {
	return lookupUser("/etc/passwd", name)
}

func lookupUser(passwd, name string) (*syscall.Credential, error) {
	f, err := os.Open(passwd)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || fields[0] != name {
			continue
		}
		uid, err1 := strconv.ParseUint(fields[2], 10, 32)
		gid, err2 := strconv.ParseUint(fields[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("user %s: bad uid or gid in %s", name, passwd)
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("user %s: %s: %w", name, passwd, err)
	}
	return nil, fmt.Errorf("user %s: not in %s", name, passwd)
}
