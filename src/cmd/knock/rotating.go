package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/rotate"
)

// Long-only options of rotating knocks.
const (
	optSecret     = 0xa0 + iota // --secret
	optSecretFile               // --secret-file
	optURI                      // --uri
	optLength                   // --length
	optStep                     // --step
	optPorts                    // --ports
	optProtocol                 // --protocol
)

var rotateOptions = []getopt.Option{
	{Short: optSecret, Long: "secret", HasArg: true},
	{Short: optSecretFile, Long: "secret-file", HasArg: true},
	{Short: optURI, Long: "uri", HasArg: true},
	{Short: optLength, Long: "length", HasArg: true},
	{Short: optStep, Long: "step", HasArg: true},
	{Short: optPorts, Long: "ports", HasArg: true},
	{Short: optProtocol, Long: "protocol", HasArg: true},
}

const rotateUsage = `Rotating knocks (a door with sequence_secret; the sequence changes every step):
  knock --secret <base32> [--length N] [--step S] [--ports LO-HI] [--protocol tcp|udp] <host>
  knock --uri '<otpauth://knock/... URI>' [host]
  knock --secret-file <file> [host]
      --secret <base32>     the door's sequence_secret
      --secret-file <file>  read the secret, or a URI, from a file (mode 600)
      --uri <uri>           everything from the URI of knockd --show-secret-uri
      --length <n>          ports per sequence (default 4)
      --step <s>            seconds per sequence (default 30)
      --ports <lo-hi>       port range (default 10000-60000)
      --protocol <p>        tcp (default) or udp; -u means udp
  --length, --step, --ports and --protocol override a URI's values; -d, -4, -6 and -v
  work as for plain knocks.
`

// runRotating sends the current sequence of a rotating door. It is long
// because it reads the door from its three sources (secret, secret file,
// URI) and applies the overriding flags in the order the usage text gives.
func (c *client) runRotating(r *getopt.Result) int {
	var p rotate.Params
	var host string
	given := 0
	for _, o := range []byte{optSecret, optSecretFile, optURI} {
		if r.Has(o) {
			given++
		}
	}
	if given > 1 {
		return c.fail("use one of --secret, --secret-file and --uri")
	}
	var err error
	switch {
	case r.Has(optURI):
		if p, _, host, err = rotate.ParseURI(r.Last(optURI, "")); err != nil {
			return c.fail("--uri: %v", err)
		}
	case r.Has(optSecretFile):
		if p, host, err = readSecretFile(r.Last(optSecretFile, "")); err != nil {
			return c.fail("%v", err)
		}
	default:
		secret, err := rotate.ParseSecret(r.Last(optSecret, ""))
		if err != nil {
			return c.fail("--secret: %v", err)
		}
		p = rotate.Default(secret)
	}
	if r.Has(optLength) {
		if p.Length, err = strconv.Atoi(r.Last(optLength, "")); err != nil {
			return c.fail("--length: %q is not a number", r.Last(optLength, ""))
		}
	}
	if r.Has(optStep) {
		n, err := strconv.Atoi(r.Last(optStep, ""))
		if err != nil || n > int(rotate.MaxStep/time.Second) {
			return c.fail("--step: %q is not a number of seconds (5-3600)", r.Last(optStep, ""))
		}
		p.Step = time.Duration(n) * time.Second
	}
	if r.Has(optPorts) {
		if p.Lo, p.Hi, err = rotate.ParseRange(r.Last(optPorts, "")); err != nil {
			return c.fail("--ports: %v", err)
		}
	}
	if r.Has(optProtocol) {
		if p.Proto, err = l4.ParseProto(r.Last(optProtocol, "")); err != nil {
			return c.fail("--protocol: %v", err)
		}
	}
	if r.Has('u') {
		if r.Has(optProtocol) && p.Proto != l4.UDP {
			return c.fail("-u and --protocol %s exclude each other", p.Proto)
		}
		p.Proto = l4.UDP
	}
	if err := p.Validate(); err != nil {
		return c.fail("%v", err)
	}
	switch {
	case len(r.Args) > 1:
		return c.fail("a rotating knock takes a host and no ports (%q)", strings.Join(r.Args[1:], " "))
	case len(r.Args) == 1:
		host = r.Args[0]
	case host == "":
		return c.fail("no host: give one after the options, or use a URI with host=")
	}

	counter := p.Counter(c.now())
	seq := p.Sequence(counter)
	hits := make([]hit, len(seq))
	knocks := make([]string, len(seq))
	for i, port := range seq {
		hits[i] = hit{port: strconv.Itoa(int(port.Num)), proto: port.Proto.String()}
		knocks[i] = port.Knock()
	}
	if r.Has('v') {
		from := p.Start(counter).UTC()
		fmt.Fprintf(c.stdout, "sequence %d (%s to %s): %s\n", counter, from.Format(time.TimeOnly),
			from.Add(p.Step).Format(time.TimeOnly+" UTC"), strings.Join(knocks, " "))
	}
	return c.knockAll(r, host, hits)
}

// readSecretFile reads a rotating door's secret, or its URI, from the
// first line of a file that is not blank or a # comment.
func readSecretFile(path string) (p rotate.Params, host string, err error) {
	data, err := readPrivate(path)
	if err != nil {
		return p, "", err
	}
	return parseSecretFile(path, data)
}

// parseSecretFile parses what readSecretFile read.
func parseSecretFile(path string, data []byte) (p rotate.Params, host string, err error) {
	found := 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if found > 0 {
			return p, "", fmt.Errorf("%s:%d: a second secret (the first is on line %d)", path, i+1, found)
		}
		found = i + 1
		if strings.HasPrefix(strings.ToLower(line), "otpauth:") {
			p, _, host, err = rotate.ParseURI(line)
		} else {
			var secret []byte
			secret, err = rotate.ParseSecret(line)
			p = rotate.Default(secret)
		}
		if err != nil {
			return p, "", fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	if found == 0 {
		return p, "", fmt.Errorf("%s: no secret", path)
	}
	return p, host, nil
}
