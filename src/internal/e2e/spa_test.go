package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/pktbuild"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

var (
	spaKey  = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	spaHMAC = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("hmac-key"), 8))
)

func spaConf(fw string, duration int) string {
	return fmt.Sprintf(`[options]
    firewall = %s
[spa]
    spa                 = yes
    spa_key_base64      = %s
    spa_hmac_key_base64 = %s
    open                = tcp/2222
    duration            = %d
`, fw, spaKey, spaHMAC, duration)
}

// fwknop runs Debian's fwknop client in ns with the test keys; extra
// arguments follow. With save set, the packet is written there instead of
// sent.
func fwknop(t *testing.T, ns, server, save string, keys []string, extra ...string) {
	t.Helper()
	bin := testenv.NeedBin(t, "fwknop")
	if keys == nil {
		keys = []string{"--key-base64-rijndael", spaKey, "--key-base64-hmac", spaHMAC}
	}
	args := []string{"netns", "exec", ns, "env", "HOME=" + t.TempDir(), bin, "--no-rc-file", "--no-save-args", "-D", server}
	if save != "" {
		args = append(args, "-T", "-B", save)
	}
	args = append(append(args, keys...), extra...)
	testenv.Run(t, "ip", args...)
}

func TestFwknopClientOpensSPADoor(t *testing.T) {
	ipt := testenv.NeedBin(t, "iptables-legacy")
	r := newRouter(t, ipt)
	d := knockd(t, r.router, r.rdev, spaConf("iptables-legacy", 3))
	fwknop(t, r.host, r.raddr4, "", nil, "-A", "tcp/2222", "-a", r.a)
	d.mustSee(r.a+": spa: SPA accepted", wait)
	d.mustSee(r.a+": spa: opened tcp/2222", wait)
	t0 := time.Now()
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err != nil || out != "router-ssh" {
		t.Fatalf("knocker cannot connect after SPA: %q %v\n%s", out, err, d.out.String())
	}
	if out, err := dial(r.host, r.b, r.raddr4+":2222"); err == nil {
		t.Fatalf("B connected without SPA: %q", out)
	}
	time.Sleep(time.Until(t0.Add(3500 * time.Millisecond)))
	if out, err := dial(r.host, r.a, r.raddr4+":2222"); err == nil {
		t.Fatalf("SPA grant outlived its 3 s: %q", out)
	}
}

func TestSPARejections(t *testing.T) {
	r := newRouter(t, "")
	d := knockd(t, r.router, r.rdev, spaConf("none", 3))
	dir := t.TempDir()
	src, dst := netip.MustParseAddr(r.a), netip.MustParseAddr(r.raddr4)
	send := func(payload []byte) {
		inject(t, r.host, r.hdev, r.rmac, pktbuild.UDP4(src, dst, 40000, 62201, payload))
	}
	save := func(name string, keys []string, extra ...string) []byte {
		f := filepath.Join(dir, name)
		fwknop(t, r.host, r.raddr4, f, keys, extra...)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(b)
	}
	good := save("good", nil, "-A", "tcp/2222", "-a", r.a)
	cases := []struct {
		name    string
		payload []byte
		reason  string
	}{
		{"stale timestamp", save("stale", nil, "-A", "tcp/2222", "-a", r.a, "--time-offset-minus", "10m"), "stale timestamp"},
		{"wrong HMAC key", save("wrongkey", []string{"--key-base64-rijndael", spaKey, "--key-hmac", "not the key"}, "-A", "tcp/2222", "-a", r.a), "HMAC"},
		{"flipped bit", flip(good, len(good)/2), "HMAC"},
		{"U2FsdGVkX1 prefix", append([]byte("U2FsdGVkX1"), good...), "payload starts with U2FsdGVkX1"},
		{"denied port", save("port", nil, "-A", "tcp/23", "-a", r.a), "port tcp/23 not allowed"},
		{"truncated", good[:100], "truncated"},
	}
	var staleAt time.Time
	for _, c := range cases {
		send(c.payload)
		d.mustSee("spa: SPA packet rejected: "+c.reason, wait)
		if c.reason == "stale timestamp" {
			staleAt = time.Now()
		}
	}
	if strings.Contains(d.out.String(), "OPEN SESAME") {
		t.Fatalf("a bad packet opened the door:\n%s", d.out.String())
	}
	send(good)
	d.mustSee(r.a+": spa: OPEN SESAME", wait)
	// Stale and replayed packets share the door's budget of a line a
	// second: the replay's line comes a second after the stale one's.
	time.Sleep(time.Until(staleAt.Add(1100 * time.Millisecond)))
	send(good) // replay
	d.mustSee("spa: SPA packet rejected: replayed packet", wait)
	if n := d.count("OPEN SESAME"); n != 1 {
		t.Fatalf("OPEN SESAME %d times, want 1 (replay accepted?)", n)
	}
}

func TestKnockSPAClient(t *testing.T) {
	r := newRouter(t, "")
	d := knockd(t, r.router, r.rdev, spaConf("none", 3))
	for _, dst := range []string{r.raddr4, r.raddr6} {
		testenv.In(t, r.host, bin.knock, "-S", "-v", "--key-base64", spaKey, "--hmac-key-base64", spaHMAC, "-A", "tcp/2222", dst)
	}
	d.mustSee(r.a+": spa: OPEN SESAME", wait)
	d.mustSee(r.haddr6+": spa: OPEN SESAME", wait) // IPv6, which fwknop does not do
}

func TestKnockSPAClientWithFwknopd(t *testing.T) {
	fwknopd := testenv.NeedBin(t, "fwknopd")
	p := newPair(t)
	dir := t.TempDir()
	conf := fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nUDPSERV_PORT 62201;\n", p.rdev)
	access := fmt.Sprintf("SOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nOPEN_PORTS tcp/22\nREQUIRE_SOURCE_ADDRESS Y\n"+
		"CMD_CYCLE_OPEN /usr/bin/touch %s/opened.$IP\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 5\n", spaKey, spaHMAC, dir)
	os.WriteFile(filepath.Join(dir, "fwknopd.conf"), []byte(conf), 0o600)
	os.WriteFile(filepath.Join(dir, "access.conf"), []byte(access), 0o600)
	os.Mkdir(filepath.Join(dir, "run"), 0o700)
	f := start(t, p.router, fwknopd, "-f", "-v", "-c", filepath.Join(dir, "fwknopd.conf"), "-a", filepath.Join(dir, "access.conf"),
		"-d", filepath.Join(dir, "digest.cache"), "-p", filepath.Join(dir, "run", "pid"), "-r", filepath.Join(dir, "run"))
	if !testenv.Eventually(10*time.Second, func() bool {
		out, _ := testenv.InOutput(p.router, "ss", "-Hlun", "sport = :62201")
		return strings.Contains(out, "62201")
	}) {
		t.Fatalf("fwknopd not listening:\n%s", f.out.String())
	}
	testenv.In(t, p.host, bin.knock, "-S", "--key-base64", spaKey, "--hmac-key-base64", spaHMAC, "-A", "tcp/22", p.raddr4)
	if !fileAppears(filepath.Join(dir, "opened."+p.haddr4), wait) {
		t.Fatalf("fwknopd did not accept knock -S:\n%s", f.out.String())
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	if c[i] == 'A' {
		c[i] = 'B'
	} else {
		c[i] = 'A'
	}
	return c
}
