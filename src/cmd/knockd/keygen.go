//go:build linux

package main

import (
	"fmt"
	"io"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/control"
	"github.com/knockd-go/knockd-go/src/internal/feature"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

const keygenUsage = "knockd: usage: knockd keygen [spa [NAME [HOST]] | rotating [--show-secret-uri DOOR [HOST]]]\n"

// keygen prints new secrets. spa: the keys in fwknop --key-gen's form,
// the door's directives and the client's ~/.fwknoprc stanza [NAME]
// (default "router", SPA_SERVER HOST, default NAME). rotating: a secret,
// and with --show-secret-uri DOOR the URI of DOOR with that secret (the
// door's other parameters from -c or -u when it is there, else the
// defaults).
func keygen(f flags, args []string, stdout, stderr io.Writer) int {
	kind := "spa"
	if len(args) > 0 {
		kind, args = args[0], args[1:]
	}
	switch {
	case kind != "spa" && kind != "rotating",
		kind == "spa" && (len(args) > 2 || f.r.Has(optShowURI)),
		kind == "rotating" && (len(args) > 1 || len(args) == 1 && !f.r.Has(optShowURI)):
		fmt.Fprint(stderr, keygenUsage)
		return 1
	}
	reply, err := control.Keygen(kind)
	if err != nil {
		fmt.Fprintf(stderr, "knockd: %v\n", err)
		return 1
	}
	if kind == "rotating" && feature.Rotate {
		secret, _ := control.Field(reply, "secret")
		fmt.Fprintf(stdout, "SEQUENCE_SECRET: %s\n", secret)
		if !f.r.Has(optShowURI) {
			return 0
		}
		door, host := f.r.Last(optShowURI, ""), ""
		if len(args) == 1 {
			host = args[0]
		}
		p, from, err := rotatingParams(f, door)
		if err != nil {
			fmt.Fprintf(stderr, "knockd: %v\n", err)
			return 1
		}
		p.Secret, _ = rotate.ParseSecret(secret)
		fmt.Fprintf(stdout, "# the URI of door %q with this secret (%s):\n%s\n", door, from, rotate.URI(p, door, host))
		return 0
	}
	key, _ := control.Field(reply, "key_base64")
	hmac, _ := control.Field(reply, "hmac_key_base64")
	name, host := "router", ""
	if len(args) > 0 {
		name = args[0]
	}
	host = name
	if len(args) > 1 {
		host = args[1]
	}
	// fwknop --key-gen's form first: the two lines go into a key file
	// (knock -S --key-file) or fwknopd's access.conf as they are.
	fmt.Fprintf(stdout, "KEY_BASE64: %s\nHMAC_KEY_BASE64: %s\n", key, hmac)
	fmt.Fprintf(stdout, `
# The door, in knockd.conf:
#   [spa]
#     spa                 = yes
#     spa_key_base64      = %[1]s
#     spa_hmac_key_base64 = %[2]s
#     open                = tcp/22
# or in /etc/config/knockd:
#   config door 'spa'
#     option spa '1'
#     option spa_key_base64 '%[1]s'
#     option spa_hmac_key_base64 '%[2]s'
#     list open 'tcp/22'
#
# The client's ~/.fwknoprc stanza (knock -S -n %[3]s, or fwknop -n %[3]s):
[%[3]s]
SPA_SERVER          %[4]s
KEY_BASE64          %[1]s
HMAC_KEY_BASE64     %[2]s
USE_HMAC            Y
HMAC_DIGEST_TYPE    sha256
ACCESS              tcp/22
`, key, hmac, name, host)
	return 0
}

// rotatingParams are door's rotating parameters from -c or -u when the
// configuration has that door, else the defaults; from says which.
func rotatingParams(f flags, door string) (rotate.Params, string, error) {
	if !f.r.Has('c') && !f.r.Has('u') {
		return rotate.Default(nil), "default parameters: sequence_length, sequence_step, sequence_ports and sequence_protocol as the door's must be", nil
	}
	cfg, err := f.load()
	if err != nil {
		return rotate.Params{}, "", err
	}
	for _, d := range cfg.Doors {
		if d.Name == door && d.Rotate != nil {
			return *d.Rotate, "its parameters from " + cfg.File + "; put the new secret in its sequence_secret", nil
		}
		if d.Name == door {
			return rotate.Params{}, "", fmt.Errorf("%s: door %q is not a rotating knock (no sequence_secret)", cfg.File, door)
		}
	}
	return rotate.Params{}, "", fmt.Errorf("%s: no door %q%s", cfg.File, door, doorList(cfg))
}

// doorList names a configuration's rotating doors, for an error.
func doorList(cfg *config.Config) string {
	var names []string
	for _, d := range cfg.Doors {
		if d.Rotate != nil {
			names = append(names, d.Name)
		}
	}
	if len(names) == 0 {
		return " (it has no rotating door)"
	}
	return fmt.Sprintf(" (rotating doors: %v)", names)
}
