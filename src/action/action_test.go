package action

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/config"
	"github.com/knockd-go/knockd-go/src/daemon"
	"github.com/knockd-go/knockd-go/src/firewall"
	"github.com/knockd-go/knockd-go/src/mail"
	"github.com/knockd-go/knockd-go/src/wake"
)

type fakeGranter struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeGranter) Grant(door string, src netip.Addr, s firewall.Spec, d time.Duration) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %v %v", door, src, s, d))
	if f.err != nil {
		return time.Time{}, f.err
	}
	return time.Unix(1700000000, 0).Add(d), nil
}

type logRec struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRec) Printf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}

func door(t *testing.T, conf string) *config.Door {
	t.Helper()
	c, err := config.Parse("test.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	return c.Doors[0]
}

func TestDoAllActions(t *testing.T) {
	d := door(t, `[vpn]
  sequence = 1,2
  forward = tcp/1723 -> 192.168.1.51:1723
  open = udp/1194
  duration = 20
  wake = 00:11:22:33:44:55
  wake_interface = br-lan
  notify = admin@example.com
  command = logger %IP%
`)
	fw := &fakeGranter{}
	wk := &wake.Recorder{}
	ml := &mail.Recorder{}
	lg := &logRec{}
	a := &Actions{Firewall: fw, Waker: wk, Mailer: ml, MailFrom: "knockd@router", Log: lg.Printf}
	src := netip.MustParseAddr("203.0.113.7")
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a.Do(context.Background(), d, src, at, nil)

	if len(fw.calls) != 1 || !strings.Contains(fw.calls[0], "vpn 203.0.113.7") || !strings.Contains(fw.calls[0], "20s") ||
		!strings.Contains(fw.calls[0], "1723") || !strings.Contains(fw.calls[0], "1194") {
		t.Errorf("firewall calls: %q", fw.calls)
	}
	calls := wk.Calls()
	if len(calls) != 1 || calls[0].Ifname != "br-lan" || calls[0].MAC.String() != "00:11:22:33:44:55" {
		t.Errorf("wake calls: %+v", calls)
	}
	msgs := ml.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails", len(msgs))
	}
	m := msgs[0]
	for _, want := range []string{"forward tcp/1723->192.168.1.51:1723", "udp/1194", "wake-on-LAN packet to 00:11:22:33:44:55", "ran: logger 203.0.113.7"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.From != "knockd@router" || m.To[0] != "admin@example.com" || !strings.Contains(m.Subject, `"vpn"`) || !m.Date.Equal(at) {
		t.Errorf("mail headers: %+v", m)
	}
}

func TestFailuresAreMailedNotFatal(t *testing.T) {
	d := door(t, "[d]\n  sequence = 1\n  open = tcp/22\n  wake = 00:11:22:33:44:55\n  notify = root@localhost\n")
	fw := &fakeGranter{err: errors.New("iptables: exit status 4")}
	wk := &wake.Recorder{Err: errors.New("no such device br-lan")}
	ml := &mail.Recorder{}
	lg := &logRec{}
	a := &Actions{Firewall: fw, Waker: wk, Mailer: ml, Log: lg.Printf}
	a.Do(context.Background(), d, netip.MustParseAddr("2001:db8::7"), time.Now(), nil)
	msgs := ml.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "2 actions failed") ||
		!strings.Contains(msgs[0].Body, "iptables: exit status 4") || !strings.Contains(msgs[0].Body, "no such device") {
		t.Fatalf("failures not reported in the mail: %+v", msgs)
	}
	joined := strings.Join(lg.lines, "\n")
	if !strings.Contains(joined, "2001:db8::7: d: error: firewall: iptables: exit status 4") {
		t.Errorf("log: %s", joined)
	}
}

func TestMailFailureLogged(t *testing.T) {
	d := door(t, "[d]\n  sequence = 1\n  wake = 00:11:22:33:44:55\n  notify = root@localhost\n")
	ml := &mail.Recorder{Err: errors.New("sendmail: exit status 1")}
	lg := &logRec{}
	a := &Actions{Waker: &wake.Recorder{}, Mailer: ml, Log: lg.Printf}
	a.Do(context.Background(), d, netip.MustParseAddr("192.0.2.9"), time.Now(), nil)
	if !strings.Contains(strings.Join(lg.lines, "\n"), "notification to root@localhost failed: sendmail: exit status 1") {
		t.Fatalf("log: %q", lg.lines)
	}
}

func TestSPAGrantOverridesDoor(t *testing.T) {
	d := door(t, "[d]\n  spa = yes\n  spa_key = k\n  spa_hmac_key = h\n  open = tcp/22, tcp/443\n  duration = 30\n")
	fw := &fakeGranter{}
	a := &Actions{Firewall: fw, Log: (&logRec{}).Printf}
	g := &daemon.Grant{Open: []config.Port{{Proto: config.TCP, Port: 22}}, Duration: 7 * time.Second}
	a.Do(context.Background(), d, netip.MustParseAddr("192.0.2.9"), time.Now(), g)
	if len(fw.calls) != 1 || strings.Contains(fw.calls[0], "443") || !strings.Contains(fw.calls[0], "7s") {
		t.Fatalf("SPA grant not used: %q", fw.calls)
	}
}
