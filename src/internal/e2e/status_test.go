package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// TestStatusAndRevoke: `knockd status` shows the door and the open grant
// of a running daemon, `status json` is JSON, `knockd revoke` closes the
// grant in the firewall at once.
func TestStatusAndRevoke(t *testing.T) {
	ipt := testenv.NeedBin(t, "iptables-legacy")
	r := newRouter(t, ipt)
	sock := filepath.Join(t.TempDir(), "knockd.sock")
	conf := fmt.Sprintf("[options]\n  firewall = iptables-legacy\n  control_socket = %s\n[ssh]\n  sequence = 7000,8000\n  open = tcp/2222\n  duration = 300\n", sock)
	d := knockd(t, r.router, r.rdev, conf)
	status := func(args ...string) string {
		out, err := testenv.InOutput(r.router, bin.knockd, append([]string{"--socket", sock, "status"}, args...)...)
		if err != nil {
			t.Fatalf("knockd status: %v\n%s", err, out)
		}
		return out
	}
	if out := status(); !strings.Contains(out, "ssh              knock") || !strings.Contains(out, "open tcp/2222") || !strings.Contains(out, "grants:\n  none") {
		t.Fatalf("status before:\n%s", out)
	}
	r.knockOpen(t, d)
	out := status()
	if !strings.Contains(out, "ssh              "+r.a) || !strings.Contains(out, "tcp/2222, until") {
		t.Fatalf("status with a grant:\n%s", out)
	}
	t.Logf("knockd status with a grant open:\n%s", out)
	var js struct {
		Grants []struct {
			Door, Source, What string
			ExpiresIn          int `json:"expires_in"`
		}
		Devices []struct {
			Name    string
			Present bool
		}
	}
	if err := json.Unmarshal([]byte(status("json")), &js); err != nil || len(js.Grants) != 1 || js.Grants[0].Source != r.a ||
		js.Grants[0].ExpiresIn < 290 || js.Devices[0].Name != r.rdev || !js.Devices[0].Present {
		t.Fatalf("status json: %+v %v", js, err)
	}
	if _, err := dial(r.host, r.a, r.raddr4+":2222"); err != nil {
		t.Fatalf("the grant does not work: %v", err)
	}
	if out, err := testenv.InOutput(r.router, bin.knockd, "--socket", sock, "revoke", "ssh", r.a); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if !testenv.Eventually(2*time.Second, func() bool { _, err := dial(r.host, r.a, r.raddr4+":2222"); return err != nil }) {
		t.Fatal("the revoked grant still lets A in")
	}
	if out := status(); !strings.Contains(out, "grants:\n  none") {
		t.Fatalf("status after revoke:\n%s", out)
	}
	if out, err := testenv.InOutput(r.router, bin.knockd, "--socket", sock, "revoke", "ssh", r.a); err == nil || !strings.Contains(out, "no grant of door ssh") {
		t.Fatalf("second revoke: %v %s", err, out)
	}
	d.mustSee(r.a+": ssh: grant revoked", wait)
}
