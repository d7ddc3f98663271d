package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/rotate"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// TestRotatingKnockIPv6AllActions: a rotating door over IPv6 with the
// built-in actions (open through ip6tables, notify, a command): the owner's
// knock (knock --secret -6) opens the port for its address only and mails;
// the same ports replayed from another IPv6 address open nothing.
func TestRotatingKnockIPv6AllActions(t *testing.T) {
	ipt := testenv.NeedBin(t, "ip6tables-legacy")
	testenv.NeedBin(t, "iptables-legacy")
	r := newRouter(t, "")
	const other = "fd77::3"
	// Deprecated (preferred_lft 0): never picked as the knock's source, but
	// the attacker's packets and connections can still use it.
	testenv.Run(t, "ip", "-n", r.host, "addr", "add", other+"/64", "dev", r.hdev, "nodad", "preferred_lft", "0")
	for _, rule := range [][]string{
		{"-P", "INPUT", "DROP"},
		{"-A", "INPUT", "-i", "lo", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"},
		{"-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
	} {
		testenv.In(t, r.router, ipt, rule...)
	}
	svc := "[" + r.raddr6 + "]:2223"
	serve(t, r.router, svc, "router-ssh6")
	if _, err := dial(r.host, r.haddr6, svc); err == nil {
		t.Fatal("tcp/2223 reachable over IPv6 before any knock")
	}

	dir := t.TempDir()
	mail := sendmailStub(t, dir)
	conf := fmt.Sprintf(`[options]
    firewall = iptables-legacy
    sendmail = %s
    sendmail_user = root
    mail_from = knockd@router.example
[rot]
    sequence_secret = %s
    sequence_step = 5
    open = tcp/2223
    duration = 30
    notify = admin@example.com
    command = touch %s/opened-%%IP%%
`, mail, rotSecret, dir)
	d := knockd(t, r.router, r.rdev, conf)

	p := rotate.Default([]byte("12345678901234567890"))
	p.Step = 5 * time.Second
	time.Sleep(time.Until(p.Start(p.Counter(time.Now()) + 1).Add(100 * time.Millisecond)))
	c := p.Counter(time.Now())
	testenv.In(t, r.host, bin.knock, "-6", "--secret", rotSecret, "--step", "5", r.raddr6)
	d.mustSee(r.haddr6+": rot: opened tcp/2223", wait)
	if !fileAppears(filepath.Join(dir, "opened-"+r.haddr6), wait) {
		t.Fatalf("the door's command did not run for %s:\n%s", r.haddr6, d.out.String())
	}
	if g, err := dial(r.host, r.haddr6, svc); err != nil || g != "router-ssh6" {
		t.Fatalf("the owner cannot reach tcp/2223 over IPv6 after the knock: %q %v\n%s", g, err, d.out.String())
	}
	if _, err := dial(r.host, other, svc); err == nil {
		t.Fatal("the grant opened tcp/2223 for another address too")
	}
	if !fileAppears(filepath.Join(dir, "message"), wait) {
		t.Fatalf("no notify mail:\n%s", d.out.String())
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "message"))
	if !strings.Contains(string(msg), r.haddr6) {
		t.Fatalf("the mail does not name the knocker %s:\n%s", r.haddr6, msg)
	}

	// Another address replays the sniffed sequence within the same step.
	r.injectSYNs(t, other, r.raddr6, 42000, p.Sequence(c))
	time.Sleep(500 * time.Millisecond)
	if d.count(other+": rot: OPEN SESAME") != 0 || fileAppears(filepath.Join(dir, "opened-"+other), 0) {
		t.Fatalf("the replayed IPv6 knock opened:\n%s", d.out.String())
	}
	if _, err := dial(r.host, other, svc); err == nil {
		t.Fatal("the replayed knock opened tcp/2223 for the attacker")
	}
}
