package spa

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/knockd-go/knockd-go/src/internal/l4"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// TestInteropFwknopClient verifies packets made during the test by the
// installed fwknop client (test mode, -T, saved with -B). It needs no
// privilege.
func TestInteropFwknopClient(t *testing.T) {
	bin := testenv.NeedBin(t, "fwknop")
	dir := t.TempDir()
	t.Setenv("HOME", dir) // the client reads and may write ~/.fwknoprc

	b64keys := []string{"--key-base64-rijndael", vecKeyB64, "--key-base64-hmac", vecHMACB64}
	tests := []struct {
		name    string
		args    []string
		keys    []string // nil: b64keys
		hmac    string   // HMAC digest type of the door
		typ     MsgType
		access  string
		nat     string
		timeout int
		digest  string
		reason  Reason // expected rejection, 0 to accept
	}{
		{name: "default", args: []string{"-A", "tcp/22", "-a", "10.99.0.1"},
			typ: TypeAccess, access: "10.99.0.1,tcp/22", digest: "sha256"},
		{name: "md5", args: []string{"-A", "tcp/22,udp/53", "-a", "192.0.2.1", "-m", "md5", "--hmac-digest-type", "md5"},
			hmac: "md5", typ: TypeAccess, access: "192.0.2.1,tcp/22,udp/53", digest: "md5"},
		{name: "sha1", args: []string{"-A", "tcp/22", "-a", "192.0.2.1", "-m", "sha1", "--hmac-digest-type", "sha1"},
			hmac: "sha1", typ: TypeAccess, access: "192.0.2.1,tcp/22", digest: "sha1"},
		{name: "sha384", args: []string{"-A", "tcp/22", "-a", "192.0.2.1", "-m", "sha384", "--hmac-digest-type", "sha384"},
			hmac: "sha384", typ: TypeAccess, access: "192.0.2.1,tcp/22", digest: "sha384"},
		{name: "sha512", args: []string{"-A", "tcp/22", "-a", "192.0.2.1", "-m", "sha512", "--hmac-digest-type", "sha512"},
			hmac: "sha512", typ: TypeAccess, access: "192.0.2.1,tcp/22", digest: "sha512"},
		{name: "sha3_256", args: []string{"-A", "tcp/22", "-a", "192.0.2.1", "-m", "sha3_256", "--hmac-digest-type", "sha3_256"},
			hmac: "sha3_256", typ: TypeAccess, access: "192.0.2.1,tcp/22", digest: "sha3_256"},
		{name: "sha3_512", args: []string{"-A", "tcp/22", "-a", "192.0.2.1", "-m", "sha3_512", "--hmac-digest-type", "sha3_512"},
			hmac: "sha3_512", typ: TypeAccess, access: "192.0.2.1,tcp/22", digest: "sha3_512"},
		{name: "source -s", args: []string{"-A", "udp/1194", "-s"},
			typ: TypeAccess, access: "0.0.0.0,udp/1194", digest: "sha256"},
		{name: "client timeout", args: []string{"-A", "tcp/22", "-a", "10.99.0.1", "-f", "77"},
			typ: TypeClientTimeoutAccess, access: "10.99.0.1,tcp/22", timeout: 77, digest: "sha256"},
		{name: "NAT", args: []string{"-A", "tcp/2222", "-a", "10.99.0.1", "-N", "192.168.1.10:22"},
			typ: TypeNATAccess, access: "10.99.0.1,tcp/2222", nat: "192.168.1.10,22", digest: "sha256"},
		{name: "NAT timeout", args: []string{"-A", "tcp/2222", "-a", "10.99.0.1", "-N", "192.168.1.10:22", "-f", "30"},
			typ: TypeClientTimeoutNATAccess, access: "10.99.0.1,tcp/2222", nat: "192.168.1.10,22", timeout: 30, digest: "sha256"},
		{name: "local NAT", args: []string{"-A", "tcp/22", "-a", "10.99.0.1", "--nat-local", "--nat-port", "55000"},
			typ: TypeLocalNATAccess, access: "10.99.0.1,tcp/55000", nat: "10.99.0.2,22", digest: "sha256"},
		{name: "local NAT timeout", args: []string{"-A", "tcp/22", "-a", "10.99.0.1", "--nat-local", "--nat-port", "55000", "-f", "9"},
			typ: TypeClientTimeoutLocalNATAccess, access: "10.99.0.1,tcp/55000", nat: "10.99.0.2,22", timeout: 9, digest: "sha256"},
		{name: "command", args: []string{"-a", "10.99.0.1", "-C", "uptime -p"},
			typ: TypeCommand, access: "10.99.0.1,uptime -p", digest: "sha256"},
		{name: "passphrases", args: []string{"-A", "tcp/22", "-a", "10.99.0.1"},
			keys: []string{"--key-rijndael", "fwknoptest", "--key-hmac", "hmactestkey"},
			typ:  TypeAccess, access: "10.99.0.1,tcp/22", digest: "sha256"},
		{name: "clock 10 min behind", args: []string{"-A", "tcp/22", "-a", "10.99.0.1", "--time-offset-minus", "10m"},
			reason: ReasonStale},
		{name: "other HMAC key", args: []string{"-A", "tcp/22", "-a", "10.99.0.1"},
			keys:   []string{"--key-base64-rijndael", vecKeyB64, "--key-hmac", "another key"},
			reason: ReasonHMAC},
		{name: "HMAC type differs", args: []string{"-A", "tcp/22", "-a", "10.99.0.1", "--hmac-digest-type", "sha512"},
			reason: ReasonHMAC},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = b64keys
			}
			file := filepath.Join(dir, fmt.Sprintf("pkt%d", i))
			args := append([]string{"--no-rc-file", "--no-save-args", "-D", "10.99.0.2", "-U", "spauser", "-T", "-B", file}, keys...)
			args = append(args, tc.args...)
			if out, err := testenv.Output(bin, args...); err != nil {
				t.Fatalf("fwknop %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(raw, []byte("\n")) {
				t.Fatalf("-B file without its trailing newline: %q", raw)
			}
			wire := bytes.TrimSuffix(raw, []byte("\n"))

			var k Keys
			if tc.name == "passphrases" {
				k = Keys{Rijndael: []byte("fwknoptest"), HMAC: []byte("hmactestkey")}
			} else {
				k = vec(t, "v1").keys(t)
			}
			k.HMACDigest = tc.hmac
			v := mustVerifier(t, openPolicy(k), time.Now)
			src := netip.MustParseAddr("10.99.0.1")

			// The -B file as is (with its newline) is not a packet.
			if _, err := v.Verify(raw, src); ReasonOf(err) != ReasonNotBase64 {
				t.Errorf("file with newline: %v", err)
			}
			m, err := v.Verify(wire, src)
			if tc.reason != 0 {
				wantReject(t, err, tc.reason, "")
				return
			}
			if err != nil {
				t.Fatalf("Verify %s: %v", wire, err)
			}
			checkField(t, "Type", m.Type, tc.typ)
			checkField(t, "Access", m.Access, tc.access)
			checkField(t, "NATAccess", m.NATAccess, tc.nat)
			checkField(t, "ClientTimeout", m.ClientTimeout, tc.timeout)
			checkField(t, "DigestType", m.DigestType, tc.digest)
			checkField(t, "User", m.User, "spauser")
			checkField(t, "Version", m.Version, "3.0.0")
			if d := time.Since(m.Timestamp); d < -5*time.Second || d > 30*time.Second {
				t.Errorf("timestamp %v is %v away from now", m.Timestamp, d)
			}
			want := netip.MustParseAddr(tc.access[:strings.IndexByte(tc.access, ',')])
			if want.IsUnspecified() {
				want = src
			}
			checkField(t, "Grant", m.Grant, want)
		})
	}
}

// sendFromNS sends one UDP datagram from network namespace ns: the socket
// is created on a thread moved into ns, then the thread is moved back.
func sendFromNS(t *testing.T, ns, addr string, payload []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			} // otherwise the thread ends with this goroutine
		}()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		conn, dialErr := net.Dial("udp4", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			restored = true
		}
		if dialErr != nil {
			errc <- dialErr
			return
		}
		_, err = conn.Write(payload)
		conn.Close()
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("send from %s: %v", ns, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("send: timed out")
	}
}

// TestInteropFwknopd sends packets built by Encode to the installed
// fwknopd, running in its own network namespace in UDP server mode with
// CMD_CYCLE_OPEN commands instead of firewall rules, and checks that it
// acted on them.
func TestInteropFwknopd(t *testing.T) {
	testenv.NeedRoot(t)
	fwknopd := testenv.NeedBin(t, "fwknopd")
	touch := testenv.NeedBin(t, "touch")
	testenv.NeedBin(t, "ss")
	srv := testenv.NetNS(t, "spas")
	cli := testenv.NetNS(t, "spac")
	srvDev, _ := testenv.Veth(t, srv, "10.99.0.2/24", cli, "10.99.0.1/24")

	dir := t.TempDir()
	k := vec(t, "v1").keys(t)
	pass := Keys{Rijndael: []byte("knockd-go-test"), HMAC: []byte("knockd-go-hmac"), HMACDigest: "sha3_512"}
	sha1Keys := k
	sha1Keys.HMACDigest = "sha1"

	conf := fmt.Sprintf("PCAP_INTF %s;\nENABLE_UDP_SERVER Y;\nUDPSERV_PORT %d;\nMAX_SPA_PACKET_AGE 120;\n", srvDev, DefaultPort)
	stanza := func(keyLines, hmacType, ports, name string) string {
		return fmt.Sprintf("SOURCE ANY\n%sHMAC_DIGEST_TYPE %s\nOPEN_PORTS %s\nREQUIRE_SOURCE_ADDRESS Y\n"+
			"CMD_CYCLE_OPEN %s %s/%s.$IP.$PORT.$TIMEOUT\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 5\n\n",
			keyLines, hmacType, ports, touch, dir, name)
	}
	b64Lines := fmt.Sprintf("KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\n", vecKeyB64, vecHMACB64)
	access := stanza(b64Lines, "sha256", "tcp/22", "s1") +
		stanza(fmt.Sprintf("KEY %s\nHMAC_KEY %s\n", pass.Rijndael, pass.HMAC), "sha3_512", "udp/53", "s2") +
		stanza(b64Lines, "sha1", "tcp/443", "s3")
	for name, body := range map[string]string{"fwknopd.conf": conf, "access.conf": access} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}

	var log testenv.Buffer
	cmd := exec.Command("ip", "netns", "exec", srv, fwknopd, "-f", "-v",
		"-c", filepath.Join(dir, "fwknopd.conf"), "-a", filepath.Join(dir, "access.conf"),
		"-d", filepath.Join(dir, "digest.cache"), "-p", filepath.Join(dir, "run", "fwknopd.pid"),
		"-r", filepath.Join(dir, "run"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		if t.Failed() {
			t.Logf("fwknopd output:\n%s", log.String())
		}
	})
	listening := testenv.Eventually(10*time.Second, func() bool {
		out, _ := testenv.InOutput(srv, "ss", "-Hlun", fmt.Sprintf("sport = :%d", DefaultPort))
		return strings.Contains(out, fmt.Sprint(DefaultPort))
	})
	if !listening {
		t.Fatalf("fwknopd not listening:\n%s", log.String())
	}

	addr := netip.MustParseAddr("10.99.0.1")
	dst := fmt.Sprintf("10.99.0.2:%d", DefaultPort)
	packets := []struct {
		name string
		keys Keys
		m    Message
		file string // touched by CMD_CYCLE_OPEN ("" for none), plus "." and the expiry time
		ttl  int64  // expected access time (CMD_CYCLE_TIMER or the client timeout)
		log  string // expected in the log
	}{
		{"sha256/sha256 tcp/22", k, Message{User: "goclient", Addr: addr, Ports: []l4.Port{{Proto: l4.TCP, Num: 22}}},
			"s1.10.99.0.1.22", 5, ""},
		{"passphrase sha3_256/sha3_512 udp/53", pass, Message{User: "goclient", Addr: addr, Ports: []l4.Port{{Proto: l4.UDP, Num: 53}},
			DigestType: "sha3_256"}, "s2.10.99.0.1.53", 5, ""},
		{"md5/sha1 tcp/443 client timeout 60", sha1Keys, Message{User: "goclient", Addr: addr, Ports: []l4.Port{{Proto: l4.TCP, Num: 443}},
			DigestType: "md5", ClientTimeout: 60}, "s3.10.99.0.1.443", 60, ""},
		{"NAT access", k, Message{Type: TypeNATAccess, User: "goclient", Addr: addr, Ports: []l4.Port{{Proto: l4.TCP, Num: 22}},
			NATTo: netip.MustParseAddrPort("192.168.1.10:22")}, "", 0, "requested NAT access"},
	}
	var first []byte
	for _, p := range packets {
		m := p.m
		m.Timestamp = time.Now()
		wire, err := Encode(&m, p.keys, nil)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if first == nil {
			first = wire
		}
		sendFromNS(t, cli, dst, wire)
		if p.file != "" {
			// $TIMEOUT expands to the absolute expiry time.
			var found []string
			if !testenv.Eventually(5*time.Second, func() bool {
				found, _ = filepath.Glob(filepath.Join(dir, p.file+".*"))
				return len(found) > 0
			}) {
				t.Fatalf("%s: fwknopd did not run CMD_CYCLE_OPEN (no %s.*)", p.name, p.file)
			}
			exp, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(found[0]), p.file+"."), 10, 64)
			if ttl := exp - m.Timestamp.Unix(); err != nil || ttl < p.ttl || ttl > p.ttl+3 {
				t.Errorf("%s: access expires %v after the packet, want %ds (%v)", p.name, ttl, p.ttl, err)
			}
		}
		if p.log != "" && !testenv.Eventually(5*time.Second, func() bool { return strings.Contains(log.String(), p.log) }) {
			t.Fatalf("%s: no %q in the fwknopd log", p.name, p.log)
		}
		t.Logf("%s: fwknopd acted on our %d-byte packet", p.name, len(wire))
	}
	// A packet with another HMAC key must not open anything.
	bad := k
	bad.HMAC = []byte("some other key")
	wire, err := Encode(&Message{User: "goclient", Timestamp: time.Now(), Addr: addr, Ports: []l4.Port{{Proto: l4.TCP, Num: 2222}}}, bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	sendFromNS(t, cli, dst, wire)
	// fwknopd keys its replay cache as we do. It handles datagrams in
	// order, so once the replay is logged the bad packet was processed.
	sendFromNS(t, cli, dst, first)
	if !testenv.Eventually(5*time.Second, func() bool { return strings.Contains(log.String(), "Replay detected") }) {
		t.Fatal("fwknopd did not detect the replay")
	}
	if found, _ := filepath.Glob(filepath.Join(dir, "s*.2222.*")); len(found) > 0 {
		t.Errorf("packet with a wrong HMAC key accepted: %v", found)
	}
	if n := strings.Count(log.String(), "Running CMD_CYCLE_OPEN"); n != 3 {
		t.Errorf("fwknopd ran CMD_CYCLE_OPEN %d times, want 3", n)
	}
}
