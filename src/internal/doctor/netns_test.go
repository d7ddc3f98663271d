package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockd-go/knockd-go/src/internal/fw4ruleset"
	"github.com/knockd-go/knockd-go/src/internal/testenv"
)

// nsRig is a router namespace running knockd (real iptables, real
// capture) with a WAN peer namespace that knocks.
type nsRig struct {
	t              *testing.T
	router, wan    string
	dev            string // the router's WAN device
	dir, conf, bin string
}

var (
	binsOnce sync.Once
	binsDir  string
	binsErr  error
)

// buildBins builds knockd and knock once per test binary (removed by
// TestMain).
func buildBins(t *testing.T) string {
	t.Helper()
	binsOnce.Do(func() {
		if binsDir, binsErr = os.MkdirTemp("", "knockd-doctor-bin-"); binsErr != nil {
			return
		}
		for _, p := range []string{"knockd", "knock"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binsDir, p), "../../cmd/"+p)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				binsErr = fmt.Errorf("go build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if binsErr != nil {
		t.Fatal(binsErr)
	}
	return binsDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binsDir != "" {
		os.RemoveAll(binsDir)
	}
	os.Exit(code)
}

// newNSRig starts knockd with firewall fwProg (an iptables variant, or
// fw4 over a ruleset shaped like firewall4's) in a router namespace.
func newNSRig(t *testing.T, fwProg string) *nsRig {
	testenv.NeedRoot(t)
	if fwProg == "fw4" {
		testenv.NeedBin(t, "nft")
	} else {
		testenv.NeedBin(t, fwProg)
		testenv.NeedBin(t, fwProg+"-save")
	}
	r := &nsRig{t: t, router: testenv.NetNS(t, "dcr"), wan: testenv.NetNS(t, "dcw"), dir: testenv.SharedDir(t)}
	_, wan := testenv.Veth(t, r.wan, "198.51.100.2/24", r.router, "")
	lan, _ := testenv.Veth(t, r.router, "", r.wan, "")
	// Device names are the namespace's own: the router's are wan0 and
	// lan0, as the docs show them.
	r.dev = "wan0"
	testenv.In(t, r.router, "ip", "link", "set", wan, "down", "name", "wan0")
	testenv.In(t, r.router, "ip", "link", "set", lan, "down", "name", "lan0")
	testenv.In(t, r.router, "ip", "addr", "add", "198.51.100.1/24", "dev", "wan0")
	testenv.In(t, r.router, "ip", "addr", "add", "192.168.1.1/24", "dev", "lan0")
	testenv.In(t, r.router, "ip", "link", "set", "wan0", "up")
	testenv.In(t, r.router, "ip", "link", "set", "lan0", "up")
	lan = "lan0"
	testenv.Eventually(10*time.Second, func() bool {
		out, _ := testenv.InOutput(r.router, "ip", "link", "show", "wan0")
		return strings.Contains(out, "LOWER_UP")
	})
	testenv.In(t, r.router, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward")
	if fwProg == "fw4" {
		root, err := filepath.Abs("../../../files/usr/share/nftables.d")
		if err != nil {
			t.Fatal(err)
		}
		rules := filepath.Join(r.dir, "fw4.nft")
		if err := os.WriteFile(rules, []byte(fw4ruleset.Render(root, r.dev, lan, true)), 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.In(t, r.router, "nft", "-f", rules)
	} else {
		// The router's own policy: drop what is not allowed, silently.
		testenv.In(t, r.router, fwProg, "-P", "INPUT", "DROP")
		testenv.In(t, r.router, fwProg, "-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
		testenv.In(t, r.router, fwProg, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
	}
	r.bin = buildBins(t)
	r.conf = filepath.Join(r.dir, "knockd.conf")
	conf := "[options]\n  interface = " + r.dev + "\n  firewall = " + fwProg + "\n  logfile = " + r.dir + "/knockd.log\n" +
		"  pidfile = " + r.dir + "/knockd.pid\n  control_socket = " + r.dir + "/knockd.sock\n  spa_replay_file = " + r.dir + "/spa-replay\n" +
		"[ssh]\n  sequence = 7000,8000,9000\n  open = tcp/22\n  duration = 60\n" +
		"[rdp]\n  sequence = 7100,7200\n  forward = tcp/3389->192.168.1.10:3389\n"
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", r.router, filepath.Join(r.bin, "knockd"), "-c", r.conf)
	var stderr testenv.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	// Start-up waits for the xtables lock, which other programs on the
	// machine may hold for a while.
	started := testenv.Eventually(60*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		_, err := os.Stat(r.dir + "/knockd.sock")
		return err == nil
	})
	select {
	case <-exited:
		started = false
	default:
	}
	if !started {
		log, _ := os.ReadFile(r.dir + "/knockd.log")
		t.Fatalf("knockd did not start:\n%s%s", log, stderr.String())
	}
	return r
}

// doctor runs knockd doctor in the router namespace and returns its
// output and exit code.
func (r *nsRig) doctor(args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", r.router, filepath.Join(r.bin, "knockd"), "-c", "knockd.conf", "doctor"}, args...)...)
	cmd.Dir = r.dir // the configuration's name, as a user types it
	out, err := cmd.CombinedOutput()
	code := 0
	if e, ok := err.(*exec.ExitError); ok {
		code = e.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return string(out), code
}

// TestDoctorFaults runs knockd doctor against a running knockd in a
// namespace with the real iptables, healthy and then with each fault
// injected (and repaired).
func TestDoctorFaults(t *testing.T) {
	for _, prog := range []string{"iptables-legacy", "iptables-nft"} {
		t.Run(prog, func(t *testing.T) { doctorFaults(t, prog) })
	}
}

func doctorFaults(t *testing.T, prog string) {
	r := newNSRig(t, prog)
	// A knock from the WAN, seen by the daemon.
	testenv.In(t, r.wan, filepath.Join(r.bin, "knock"), "198.51.100.1", "7000", "8000")
	healthy := func() string {
		t.Helper()
		var out string
		var code int
		testenv.Eventually(5*time.Second, func() bool {
			out, code = r.doctor()
			return code == 0 && strings.Contains(out, "door ssh: stage 2 of 3, from 198.51.100.2") && !strings.Contains(out, "no carrier")
		})
		if code != 0 || !strings.Contains(out, "no problem found") || !strings.Contains(out, "door ssh: stage 2 of 3, from 198.51.100.2") {
			t.Fatalf("healthy: exit %d:\n%s", code, out)
		}
		return out
	}
	out := healthy()
	t.Logf("healthy:\n%s", out)
	for _, f := range []struct {
		name         string
		inject, undo [][]string
		want         string
	}{
		{"device down", [][]string{{"ip", "link", "set", r.dev, "down"}}, [][]string{{"ip", "link", "set", r.dev, "up"}},
			"PROBLEM device      " + r.dev + ": down: no knock arrives"},
		{"drop before knockd's chain", [][]string{{prog, "-I", "INPUT", "1", "-i", r.dev, "-j", "DROP"}}, [][]string{{prog, "-D", "INPUT", "-i", r.dev, "-j", "DROP"}},
			"door ssh: tcp/22 on " + r.dev + ": dropped by `-A INPUT -i " + r.dev + " -j DROP` in INPUT before the jump to KNOCKD_INPUT is reached"},
		{"REJECT on a knock port", [][]string{{prog, "-I", "INPUT", "2", "-p", "tcp", "--dport", "8000", "-j", "REJECT", "--reject-with", "tcp-reset"}},
			[][]string{{prog, "-D", "INPUT", "-p", "tcp", "--dport", "8000", "-j", "REJECT", "--reject-with", "tcp-reset"}},
			"door ssh: tcp/8000 on " + r.dev + ": rejected by `-A INPUT -p tcp -m tcp --dport 8000 -j REJECT --reject-with tcp-reset` in filter INPUT"},
		{"ip_forward off", [][]string{{"sh", "-c", "echo 0 >/proc/sys/net/ipv4/ip_forward"}}, [][]string{{"sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"}},
			"PROBLEM forwarding  net.ipv4.ip_forward is 0"},
		{"knockd's jump removed", [][]string{{prog, "-D", "INPUT", "-j", "KNOCKD_INPUT"}}, [][]string{{prog, "-I", "INPUT", "1", "-j", "KNOCKD_INPUT"}},
			"the jump to KNOCKD_INPUT is missing from filter INPUT"},
	} {
		t.Run(f.name, func(t *testing.T) {
			for _, c := range f.inject {
				testenv.In(t, r.router, c[0], c[1:]...)
			}
			out, code := r.doctor()
			t.Logf("%s:\n%s", f.name, out)
			if code != 1 || !strings.Contains(out, f.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, f.want, out)
			}
			for _, c := range f.undo {
				testenv.In(t, r.router, c[0], c[1:]...)
			}
			healthy()
		})
	}
	// --json says the same.
	js, code := r.doctor("--json")
	if code != 0 || !strings.HasPrefix(js, `{"problems":0,"findings":[{"check":"daemon","level":"ok"`) {
		t.Errorf("--json: exit %d: %s", code, js)
	}
}

// TestDoctorMailerConfigUnreadable: a mailer configuration of mode 0600
// owned by root is reported unreadable by a mail user other than root
// (sendmail_user nobody), through the real stat of real files; readable
// once its group is nobody's.
func TestDoctorMailerConfigUnreadable(t *testing.T) {
	testenv.NeedRoot(t)
	dir := testenv.SharedDir(t)
	prog, rc := filepath.Join(dir, "msmtp"), filepath.Join(dir, "msmtprc")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rc, []byte("account default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := compile(t, "[options]\n  sendmail = "+prog+"\n  sendmail_user = nobody\n  control_socket =\n  firewall = none\n[d]\n  sequence = 7000,8000\n  notify = root\n")
	in := Input{Set: set, Config: "knockd.conf", MailerConfigs: map[string]string{"msmtp": rc}}
	rep := Run(in, OS{})
	if !strings.Contains(rep.Text(), rc+" (mode 600, owner 0) is not readable by nobody") {
		t.Fatalf("unreadable config not found:\n%s", rep.Text())
	}
	t.Logf("mailer config unreadable:\n%s", rep.Text())
	if err := os.Chown(rc, 0, int(set.SendmailUser.Gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(rc, 0o640); err != nil {
		t.Fatal(err)
	}
	if rep := Run(in, OS{}); !strings.Contains(rep.Text(), rc+" is readable by nobody") {
		t.Fatalf("readable config not seen:\n%s", rep.Text())
	}
}

// TestDoctorFW4: knockd with its fw4 backend in a ruleset shaped like
// firewall4's (the include files of files/usr/share/nftables.d loaded by
// the real nft). The stock wan zone rejects input: doctor finds the knock
// ports betrayed (TCP reset, ICMP unreachable). With a drop rule for them
// it finds nothing; with knockd-go's input rule deleted (an include that
// fw4 did not load), the rule order problem.
func TestDoctorFW4(t *testing.T) {
	r := newNSRig(t, "fw4")
	out, code := r.doctor()
	t.Logf("stock wan zone:\n%s", out)
	for _, want := range []string{"ok      firewall    firewall fw4: table inet fw4 read",
		"ok      rule order  door ssh: tcp/22 reaches knockd's rules first",
		"PROBLEM knock ports door ssh: tcp/7000 tcp/8000 tcp/9000 on " + r.dev + ": rejected by `meta l4proto tcp reject with tcp reset"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, want 1 and %q", code, want)
		}
	}
	testenv.In(t, r.router, "nft", "insert", "rule", "inet", "fw4", "input_wan", "tcp", "dport", "{", "7000-9000", "}", "counter", "drop")
	out, code = r.doctor()
	t.Logf("knock ports dropped:\n%s", out)
	if code != 0 || !strings.Contains(out, "knock ports door ssh: tcp/7000 tcp/8000 tcp/9000 dropped silently") {
		t.Errorf("exit %d, want 0 and the knock ports dropped silently", code)
	}
	h := testenv.In(t, r.router, "sh", "-c", `nft -a list chain inet fw4 input | sed -n 's/.*"knockd-go: open4" # handle \([0-9]*\)/\1/p'`)
	testenv.In(t, r.router, "nft", "delete", "rule", "inet", "fw4", "input", "handle", strings.TrimSpace(h))
	out, code = r.doctor()
	t.Logf("knockd-go's input rule deleted:\n%s", out)
	if want := `door ssh: tcp/22 on ` + r.dev + `: the rule "knockd-go: open4" is missing from inet fw4 input`; code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 1 and %q", code, want)
	}
}
