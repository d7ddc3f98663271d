package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/getopt"
	"github.com/knockd-go/knockd-go/src/internal/spa"
)

// interopRC is read by both knock and the fwknop client.
const interopRC = `[default]
HMAC_DIGEST_TYPE    sha512
SPA_SERVER_PORT     62202

[a]
SPA_SERVER          127.0.0.1
ACCESS              tcp/22,udp/1194
KEY_BASE64:         ` + keyB64 + `   # from --key-gen
HMAC_KEY_BASE64     ` + hmacB64 + `
ALLOW_IP	10.1.2.3;cut here
SPOOF_USER          alice smith
FW_TIMEOUT          45
NAT_ACCESS          192.168.1.55,88
DIGEST_TYPE         sha384

[b]
KEY                 fwknoptest#cut
HMAC_KEY:           hmactestkey
HMAC_DIGEST_TYPE    sha256
ACCESS              tcp/22
ALLOW_IP            source
SPA_SERVER          127.0.0.1
SPOOF_USER          bob
`

// TestRCLikeFwknop: Debian's fwknop client (when installed) reads the same
// stanzas into the same values, and the packet it builds from them
// verifies with the keys knock read.
func TestRCLikeFwknop(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("fwknop")
	if err != nil {
		t.Skip("fwknop client not installed (Debian: apt-get install fwknop-client)")
	}
	dir := t.TempDir()
	rc := writeFile(t, dir, "rc", interopRC, 0o600)
	for _, name := range []string{"a", "b"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, bin, "--rc-file", rc, "-n", name, "--no-save-args", "-T", "-v")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("fwknop -n %s: %v\n%s", name, err, out)
		}
		field := func(label string) string {
			for _, l := range strings.Split(string(out), "\n") {
				if k, v, ok := strings.Cut(l, ": "); ok && strings.TrimSpace(k) == label {
					return strings.TrimSpace(v)
				}
			}
			t.Fatalf("fwknop -n %s: no %q in\n%s", name, label, out)
			return ""
		}
		c, _, _ := testClient(time.Now(), dir)
		r, _ := getopt.Parse(allOptions(), []string{"-S", "--fwknoprc", rc, "-n", name})
		s, err := c.spaSettingsOf(r)
		if err != nil {
			t.Fatal(err)
		}
		addr := "0.0.0.0"
		if !s.allowSource {
			addr = s.allowIP.String()
		}
		var ports []string
		for _, p := range s.access {
			ports = append(ports, p.String())
		}
		nat := "<NULL>"
		if s.nat.IsValid() {
			nat = s.nat.Addr().String() + "," + strconv.Itoa(int(s.nat.Port()))
		}
		digestName := func(v string) string { // "5 (SHA512)" -> sha512
			_, n, _ := strings.Cut(v, "(")
			return strings.ToLower(strings.TrimSuffix(n, ")"))
		}
		orDefault := func(d string) string {
			if d == "" {
				return "sha256"
			}
			return d
		}
		for _, c := range []struct{ what, fwknop, knock string }{
			{"user", field("Username"), s.user},
			{"message", field("Message String"), addr + "," + strings.Join(ports, ",")},
			{"NAT", field("Nat Access"), nat},
			{"client timeout", field("Client Timeout"), strconv.Itoa(s.timeout)},
			{"HMAC type", digestName(field("HMAC Type")), orDefault(s.keys.HMACDigest)},
			{"digest type", digestName(field("Digest Type")), orDefault(s.digest)},
			{"server", field("IP/host"), s.server},
			{"port", field("destination port"), strconv.Itoa(s.port)},
		} {
			if c.fwknop != c.knock {
				t.Errorf("stanza %s: %s: fwknop %q, knock %q", name, c.what, c.fwknop, c.knock)
			}
		}
		v, err := spa.NewVerifier(spa.Policy{Keys: s.keys, AllowAnySource: true, AllowNAT: true,
			AllowNATTo: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify([]byte(field("Final SPA Data")), netip.MustParseAddr("10.1.2.3")); err != nil {
			t.Errorf("stanza %s: fwknop's packet with knock's keys: %v", name, err)
		}
	}
}

// TestKeyGenFile: what `fwknop --key-gen` prints is a key file as it is.
func TestKeyGenFile(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("fwknop")
	if err != nil {
		t.Skip("fwknop client not installed (Debian: apt-get install fwknop-client)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-rc-file", "--key-gen")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fwknop --key-gen: %v", err)
	}
	keys := writeFile(t, dir, "keys", string(out), 0o600)
	c, _, _ := testClient(time.Now(), dir)
	r, _ := getopt.Parse(allOptions(), []string{"-S", "--key-file", keys, "host"})
	s, err := c.spaSettingsOf(r)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(s.keys.Rijndael) != 32 || len(s.keys.HMAC) != 64 || s.keys.Validate() != nil {
		t.Errorf("keys of %d and %d bytes from\n%s", len(s.keys.Rijndael), len(s.keys.HMAC), out)
	}
}
