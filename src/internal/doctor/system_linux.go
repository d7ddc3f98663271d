package doctor

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/feature"
)

// OS is the real System.
type OS struct{}

var _ System = OS{}

// Link reads a device's flags and addresses.
func (OS) Link(name string) (Link, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return Link{}, false
	}
	l := Link{Up: ifc.Flags&net.FlagUp != 0, Running: ifc.Flags&net.FlagRunning != 0}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(n.IP)
			ones, _ := n.Mask.Size()
			p := netip.PrefixFrom(ip.Unmap(), ones)
			if !p.Addr().IsLinkLocalUnicast() {
				l.Addrs = append(l.Addrs, p)
			}
		}
	}
	return l, true
}

// ReadFile reads at most 64 KiB of a file.
func (OS) ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	return b, err
}

// Run runs a program for at most 10 s.
func (OS) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if msg := bytes.TrimSpace(errb.Bytes()); len(msg) > 0 {
			if len(msg) > 300 {
				msg = msg[:300]
			}
			return out.String(), errors.New(err.Error() + ": " + string(msg))
		}
		return out.String(), err
	}
	return out.String(), nil
}

// LookPath finds a program in PATH, and in the sbin directories a
// non-root PATH may lack.
func (OS) LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Stat follows symlinks.
func (OS) Stat(path string) (File, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return File{}, err
	}
	st, err := os.Stat(real)
	if err != nil {
		return File{}, err
	}
	f := File{Path: real, Mode: st.Mode()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		f.Uid, f.Gid = s.Uid, s.Gid
	}
	return f, nil
}

// Clock reads the time and the kernel's sync state (adjtimex).
func (OS) Clock() Clock {
	k := Clock{Now: time.Now()}
	var tx unix.Timex
	if state, err := unix.Adjtimex(&tx); err == nil {
		k.Known = true
		k.Synced = tx.Status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR
	}
	return k
}

// Daemon asks the daemon at socket for its flat status.
func (OS) Daemon(socket string) (map[string]string, error) {
	if !feature.Control {
		return nil, feature.Missing("the control socket", "knockd_nocontrol")
	}
	b, err := control.Call(socket, control.Request("status", "format", "flat"))
	if err != nil {
		return nil, err
	}
	m, err := control.ParseFlat(b)
	if err != nil {
		return nil, errors.New("control socket " + socket + ": " + err.Error())
	}
	if e, ok := m["error"]; ok {
		return nil, errors.New("control socket " + socket + ": " + e)
	}
	return m, nil
}
