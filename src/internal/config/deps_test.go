package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConfigIsALeaf: the configuration imports only value packages: it
// touches no firewall, mail, wake-up, spawner or privilege code and no
// module outside the standard library, and can be fuzzed alone.
func TestConfigIsALeaf(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the imports:", err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const internal = "github.com/knockd-go/knockd-go/src/internal/"
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "golang.org/x/crypto/sha3", "golang.org/x/sys/cpu":
			continue // SHA-3 for SPA digests where the standard library has none (Go 1.23)
		}
		switch strings.TrimPrefix(p, internal) {
		case "config", "l4", "grant", "macaddr", "mailaddr", "rotate", "errs", "spa", "uci",
			"feature": // which optional features the build has: constants
		default:
			t.Errorf("config imports %s", p)
		}
	}
}
