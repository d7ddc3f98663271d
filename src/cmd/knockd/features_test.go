//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// omitTags are the tags that leave knockd's optional features out
// (src/internal/feature, docs/size.md).
const omitTags = "knockd_nospa knockd_nomail knockd_norotate knockd_nocontrol knockd_nodoctor"

// TestFeatureTags builds knockd with every feature tag: a configuration
// that asks for a feature the build lacks is refused at its line, naming
// the tag; the commands of a missing feature say so; a configuration
// without them is accepted; and the code of what was left out is not in
// the binary (the default build has it: the names below are right).
func TestFeatureTags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds knockd twice; not in -short")
	}
	dir := t.TempDir()
	small, full := filepath.Join(dir, "knockd-small"), filepath.Join(dir, "knockd")
	for _, b := range []struct{ bin, tags string }{{small, omitTags}, {full, ""}} {
		if out, err := exec.Command("go", "build", "-tags", b.tags, "-o", b.bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build -tags %q: %v\n%s", b.tags, err, out)
		}
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.conf", "[options]\n  firewall = none\n[ssh]\n  sequence = 7000,8000\n  command = true\n")
	asks := write("asks.conf", `[options]
  firewall = none
  control_socket = /run/knockd.sock
[fw]
  spa = yes
  spa_key = secret
  spa_hmac_key = hmac-secret
  open = 22/tcp
[mailer]
  sequence = 7001,8001
  notify = root@localhost
[rot]
  sequence_secret = MD6CVGQYHUUM6B2PECE23L4WHAEHGB7Y
`)
	run := func(bin string, args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader("{}")
		out, err := cmd.CombinedOutput()
		if e, ok := err.(*exec.ExitError); ok {
			return string(out), e.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	if out, code := run(small, "-c", plain, "-k"); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("knockd -k of a configuration with no optional feature: exit %d, %q", code, out)
	}
	out, code := run(small, "-c", asks, "-k")
	for _, want := range []string{
		asks + ":3: control_socket: the control socket: not in this build (built with the tag knockd_nocontrol)",
		asks + `:5: door "fw": spa: SPA (fwknop): not in this build (built with the tag knockd_nospa)`,
		asks + `:11: door "mailer": notify: mail: not in this build (built with the tag knockd_nomail)`,
		asks + `:13: door "rot": sequence_secret: rotating knocks: not in this build (built with the tag knockd_norotate)`,
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("knockd -k: exit %d, output\n%s\nwant exit 1 and %q", code, out, want)
		}
	}
	if out, code := run(full, "-c", asks, "-k"); code != 0 {
		t.Errorf("the default build: knockd -k: exit %d, %q; want the configuration accepted", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, 2, "knockd: status: the control socket: not in this build (built with the tag knockd_nocontrol)"},
		{[]string{"revoke", "ssh", "192.0.2.1"}, 2, "knockd: revoke: the control socket: not in this build"},
		{[]string{"list"}, 2, "knockd: list: the control socket: not in this build"},
		{[]string{"call", "status"}, 2, "knockd: call: the control socket: not in this build"},
		{[]string{"keygen", "rotating"}, 1, "knockd: keygen: rotating knocks: not in this build (built with the tag knockd_norotate)"},
		{[]string{"keygen", "spa"}, 1, "knockd: keygen: SPA (fwknop): not in this build (built with the tag knockd_nospa)"},
		{[]string{"doctor"}, 2, "knockd: doctor: not in this build (built with the tag knockd_nodoctor)"},
	} {
		args := append([]string{"-c", plain}, c.args...)
		if out, code := run(small, args...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("knockd %s: exit %d, %q; want exit %d and %q", strings.Join(c.args, " "), code, out, c.code, c.want)
		}
	}

	// The code of each feature left out, by one of its functions.
	syms := []string{
		"internal/spa.(*Verifier).Verify", "crypto/md5.", "crypto/sha1.", "crypto/aes.NewCipher",
		"internal/mail.(*Sendmail).Send", "internal/mail.Knock", "internal/mailaddr.Parse",
		"internal/rotate.Params.Sequence", "internal/rotate.URI", "internal/rotate.NewSecret",
		"internal/control.Listen", "internal/control.RPCD", "internal/control.Status.Text",
		"internal/doctor.",
		// What only keygen, SPA and the rotating sequences use: with all
		// five left out no package of knockd imports crypto.
		"crypto/rand.", "crypto/hmac.", "crypto/sha256.",
	}
	nm := func(bin string) string {
		out, err := exec.Command("go", "tool", "nm", bin).Output()
		if err != nil {
			t.Fatalf("go tool nm %s: %v", bin, err)
		}
		return string(out)
	}
	inSmall, inFull := nm(small), nm(full)
	for _, s := range syms {
		if !strings.Contains(inFull, s) {
			t.Errorf("the default build has no %s: the name is wrong", s)
		}
		if strings.Contains(inSmall, s) {
			t.Errorf("the build with %s links %s", omitTags, s)
		}
	}
}
