// Command usign signs and verifies files in the format of OpenWrt's usign
// (Ed25519, signify-compatible), with the same command line, so that the
// packaging scripts can sign an opkg feed's Packages without the OpenWrt
// tools and either tool can check the other's signatures.
//
//	usign -G -s SECKEY -p PUBKEY [-c COMMENT]   generate a key pair
//	usign -S -m MSG -s SECKEY [-x SIG] [-c COMMENT]
//	usign -V -m MSG (-p PUBKEY | -P KEYDIR) [-x SIG] [-q]
//	usign -F (-s SECKEY | -p PUBKEY | -x SIG)   print the key fingerprint
//
// MSG may be "-" (standard input) for -V; SIG defaults to MSG.sig. With -P
// the key is KEYDIR/<fingerprint of the signature>, the layout of
// /etc/opkg/keys.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

type options struct {
	cmd                                 byte
	msg, pub, pubDir, sec, sig, comment string
	quiet                               bool
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) != 2 || a[0] != '-' {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		switch a[1] {
		case 'V', 'S', 'F', 'G':
			o.cmd = a[1]
			continue
		case 'q':
			o.quiet = true
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("option %s needs a value", a)
		}
		i++
		v := args[i]
		switch a[1] {
		case 'm':
			o.msg = v
		case 'p':
			o.pub = v
		case 'P':
			o.pubDir = v
		case 's':
			o.sec = v
		case 'x':
			o.sig = v
		case 'c':
			o.comment = v
		default:
			return nil, fmt.Errorf("unknown option %s", a)
		}
	}
	if o.sig == "" && o.msg != "" && o.msg != "-" {
		o.sig = o.msg + ".sig"
	}
	return o, nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err == nil {
		err = run(o)
	}
	var fail verifyFailure
	switch {
	case errors.As(err, &fail):
		if !o.quiet {
			fmt.Fprintln(os.Stderr, fail.err)
		}
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "usign:", err)
		os.Exit(1)
	}
}

// verifyFailure is a signature that did not verify: usign -q prints nothing.
type verifyFailure struct{ err error }

func (v verifyFailure) Error() string { return v.err.Error() }

func run(o *options) error {
	switch o.cmd {
	case 'G':
		if o.sec == "" || o.pub == "" {
			return errors.New("-G needs -s and -p")
		}
		k, err := GenerateKey(nil)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.sec, k.Marshal(o.comment), 0o600); err != nil {
			return err
		}
		return os.WriteFile(o.pub, k.Public().Marshal(o.comment), 0o644)
	case 'S':
		if o.msg == "" || o.sec == "" {
			return errors.New("-S needs -m and -s")
		}
		p, err := os.ReadFile(o.sec)
		if err != nil {
			return err
		}
		k, err := ParseSecretKey(p)
		if err != nil {
			return err
		}
		msg, err := os.ReadFile(o.msg)
		if err != nil {
			return err
		}
		return os.WriteFile(o.sig, k.Sign(msg).Marshal(o.comment), 0o644)
	case 'V':
		return verify(o)
	case 'F':
		num, err := fingerprint(o)
		if err != nil {
			return err
		}
		fmt.Println(num)
		return nil
	}
	return errors.New("usage: usign -G|-S|-V|-F [-m MSG] [-p PUB|-P DIR] [-s SEC] [-x SIG] [-c COMMENT] [-q]")
}

func verify(o *options) error {
	if o.msg == "" || (o.pub == "" && o.pubDir == "") || o.sig == "" {
		return errors.New("-V needs -m, -p or -P, and -x when MSG is -")
	}
	var msg []byte
	var err error
	if o.msg == "-" {
		msg, err = io.ReadAll(os.Stdin)
	} else {
		msg, err = os.ReadFile(o.msg)
	}
	if err != nil {
		return err
	}
	p, err := os.ReadFile(o.sig)
	if err != nil {
		return err
	}
	sig, err := ParseSignature(p)
	if err != nil {
		return verifyFailure{err}
	}
	pubFile := o.pub
	if pubFile == "" {
		pubFile = filepath.Join(o.pubDir, sig.Num.String())
	}
	if p, err = os.ReadFile(pubFile); err != nil {
		return verifyFailure{err}
	}
	pub, err := ParsePublicKey(p)
	if err != nil {
		return verifyFailure{err}
	}
	if err := pub.Verify(msg, sig); err != nil {
		return verifyFailure{err}
	}
	if !o.quiet {
		fmt.Fprintln(os.Stderr, "OK")
	}
	return nil
}

func fingerprint(o *options) (KeyNum, error) {
	read := func(f string, parse func([]byte) (KeyNum, error)) (KeyNum, error) {
		p, err := os.ReadFile(f)
		if err != nil {
			return KeyNum{}, err
		}
		return parse(p)
	}
	switch {
	case o.sec != "":
		return read(o.sec, func(p []byte) (KeyNum, error) {
			k, err := ParseSecretKey(p)
			if err != nil {
				return KeyNum{}, err
			}
			return k.Num, nil
		})
	case o.pub != "":
		return read(o.pub, func(p []byte) (KeyNum, error) {
			k, err := ParsePublicKey(p)
			if err != nil {
				return KeyNum{}, err
			}
			return k.Num, nil
		})
	case o.sig != "":
		return read(o.sig, func(p []byte) (KeyNum, error) {
			s, err := ParseSignature(p)
			if err != nil {
				return KeyNum{}, err
			}
			return s.Num, nil
		})
	}
	return KeyNum{}, errors.New("-F needs -s, -p or -x")
}
