//go:build linux

package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/knockd-go/knockd-go/src/internal/capture"
	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/logx"
)

// subcommand runs `knockd status|revoke|keygen` and rpcd's `list|call`;
// ok is false when args name none of them.
func subcommand(f flags, stdout, stderr io.Writer) (code int, ok bool) {
	if len(f.r.Args) == 0 {
		return 0, false
	}
	socket := f.socket()
	switch op, args := f.r.Args[0], f.r.Args[1:]; op {
	case "doctor":
		return doctorCmd(f, args, stdout, stderr), true
	case "list", "call":
		if len(args) == 1 && args[0] == "doctor" {
			return rpcdDoctor(f, stdout), true
		}
		if !feature.Control {
			return noControl(op, stderr), true
		}
		return control.RPCD(f.r.Args, stdin, stdout, socket, control.DefaultHostFiles), true
	case "status":
		if !feature.Control {
			return noControl(op, stderr), true
		}
		if len(args) > 1 || len(args) == 1 && args[0] != "json" {
			fmt.Fprintf(stderr, "knockd: usage: knockd status [--json | -j | json]\n")
			return 1, true
		}
		req := control.Request("status", "format", "text")
		if len(args) == 1 || f.r.Has('j') {
			req = control.Request("status")
		}
		reply, err := control.Call(socket, req)
		if err != nil {
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1, true
		}
		if e, ok := control.Field(reply, "error"); ok {
			fmt.Fprintf(stderr, "knockd: %s\n", e)
			return 1, true
		}
		if txt, ok := control.Field(reply, "text"); ok {
			fmt.Fprint(stdout, txt)
		} else {
			stdout.Write(reply)
		}
		return 0, true
	case "revoke":
		if !feature.Control {
			return noControl(op, stderr), true
		}
		if len(args) != 2 {
			fmt.Fprintf(stderr, "knockd: usage: knockd revoke DOOR SOURCE\n")
			return 1, true
		}
		if _, err := netip.ParseAddr(args[1]); err != nil {
			fmt.Fprintf(stderr, "knockd: revoke: %q is not an IP address\n", args[1])
			return 1, true
		}
		reply, err := control.Call(socket, control.Request("revoke", "door", args[0], "source", args[1]))
		if err != nil {
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1, true
		}
		if e, ok := control.Field(reply, "error"); ok {
			fmt.Fprintf(stderr, "knockd: %s\n", e)
			return 1, true
		}
		if n, _ := control.Field(reply, "revoked"); n == "0" {
			fmt.Fprintf(stderr, "knockd: no grant of door %s for %s\n", args[0], args[1])
			return 1, true
		}
		fmt.Fprintf(stdout, "revoked the grant of door %s for %s\n", args[0], args[1])
		return 0, true
	case "keygen":
		return keygen(f, args, stdout, stderr), true
	}
	return 0, false
}

// noControl refuses a command that talks to the control socket in a
// build without it (knockd_nocontrol).
func noControl(op string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "knockd: %s: %v\n", op, feature.Missing("the control socket", "knockd_nocontrol"))
	return 2
}

// socket is the control socket: --socket, else the configuration's when
// -c or -u is given and reads, else the default.
func (f flags) socket() string {
	if f.r.Has(optSocket) {
		return f.r.Last(optSocket, "")
	}
	if f.r.Has('c') || f.r.Has('u') {
		if cfg, err := f.load(); err == nil && cfg.Options.ControlSocket != "" {
			return cfg.Options.ControlSocket
		}
	}
	return config.DefaultControlSocket
}

// deviceStatus reports the capture devices for the status.
func deviceStatus(g *capture.Group) func() []control.Device {
	return func() []control.Device {
		var out []control.Device
		for _, c := range g.Devices() {
			out = append(out, control.Device{Name: c.Name(), Present: c.Present(), Addresses: c.Addrs()})
		}
		return out
	}
}

// listen opens the control socket when the configuration has one.
func listen(cfg *config.Config, h control.Handler, log *logx.Logger, open opener) (*control.Server, error) {
	path := cfg.Options.ControlSocket
	if path == "" {
		return nil, nil
	}
	if open == nil {
		return control.Listen(path, h, log)
	}
	ln, err := open(path) // bound and listening
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err // "bind: address already in use"
		}
		return nil, fmt.Errorf("control socket: listen unix %s: %w", path, err)
	}
	return control.Serving(ln, path, h, log), nil
}

// stdin is what rpcd's calls read their arguments from.
var stdin io.Reader = os.Stdin
