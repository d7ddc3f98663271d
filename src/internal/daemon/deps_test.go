package daemon

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPacketPathImportsNoAction: the packet path reaches no package that
// acts (commands, firewall, mail, wake-up, the spawner): it hands
// door.Success to an Acter.
func TestPacketPathImportsNoAction(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the imports:", err)
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const internal = "github.com/knockd-go/knockd-go/src/internal/"
	for _, p := range strings.Fields(string(out)) {
		switch strings.TrimPrefix(p, internal) {
		case "action", "command", "firewall", "mail", "wake", "spawn":
			t.Errorf("the packet path imports %s", p)
		}
	}
}
