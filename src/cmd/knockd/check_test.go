//go:build linux

package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/config"
	"github.com/knockd-go/knockd-go/src/internal/daemon"
	"github.com/knockd-go/knockd-go/src/internal/firewall"
	"github.com/knockd-go/knockd-go/src/internal/firewall/firewalltest"
	"github.com/knockd-go/knockd-go/src/internal/logx"
	"github.com/knockd-go/knockd-go/src/internal/service"
	"github.com/knockd-go/knockd-go/src/internal/testsrc"
)

// TestCheckRefusesWhatTheDaemonRefuses: every configuration the daemon
// refuses at start-up, knockd -k refuses with the same message.
func TestCheckRefusesWhatTheDaemonRefuses(t *testing.T) {
	const key = "spa_key_base64 = wo9bKGW3PtdizvMVQw9xe4Zz5Oh8c2hyUbbvO3U1h4o="
	const hmac = "spa_hmac_key_base64 = BIq5YrYa1kQmGqYiuD2rJSdXRDpGeyoRBwbODowKKf6mJ0VUK1UY8G1gIlEn84V7f8uQLhVE7uEZQ9GfxxyHtw=="
	dir := t.TempDir()
	tests := []struct {
		name, conf string
		want       string // the message, after "FILE:"
	}{
		{"SPA keys equal", "[s]\nspa = yes\nspa_key = same\nspa_hmac_key = same\nopen = tcp/22\n",
			`:4: door "s": spa_hmac_key: Rijndael and HMAC keys must differ`},
		{"multicast wake MAC", "[w]\nsequence = 1,2\nwake = 01:00:5e:00:00:fb\n",
			`:3: door "w": wake: MAC address "01:00:5e:00:00:fb": is a multicast or broadcast address, not a host's`},
		{"notify option injection", "[n]\nsequence = 1,2\nnotify = -oQ@x\n",
			`:3: door "n": notify: address "-oQ@x" starts with '-'`},
		{"bad mail_from", "[options]\nmail_from = knockd@\n[n]\nsequence = 1,2\nnotify = root@localhost\n",
			`:2: mail_from: address "knockd@"`},
		{"port 0", "[d]\nsequence = 7000,0\n", `:2: door "d": sequence: item 2 ("0"): port 0 out of range 1-65535`},
		{"unknown directive", "[d]\nsequence = 1\nopen_sesame = yes\n", `:3: door "d": open_sesame: unknown directive in door`},
		{"door on another device", "[options]\ninterface = eth0\n[d]\nsequence = 1\ninterface = wg0\n",
			`:5: door "d": interface: wg0 is not a device the daemon listens on (eth0)`},
		{"SPA without HMAC key", "[s]\nspa = yes\n" + key + "\nopen = tcp/22\n",
			`:1: door "s": SPA door needs spa_hmac_key or spa_hmac_key_base64`},
		{"SPA and a sequence", "[s]\nspa = yes\n" + key + "\n" + hmac + "\nsequence = 1\nopen = tcp/22\n",
			`:1: door "s": a door is either a knock sequence or SPA, not both`},
		{"one-time file missing", "[o]\none_time_sequences = " + filepath.Join(dir, "none") + "\n",
			`:2: door "o": one_time_sequences: one-time sequences: open ` + filepath.Join(dir, "none") + `: no such file or directory`},
		{"forward to 0.0.0.0", "[f]\nsequence = 1\nforward = tcp/80->0.0.0.0\n",
			`:3: door "f": forward: "tcp/80->0.0.0.0": 0.0.0.0 cannot be a forward target`},
		{"duration 0", "[d]\nsequence = 1\nopen = tcp/22\nduration = 0\n", `:4: door "d": duration: 0 seconds would close the door as it opens`},
		{"seq_timeout 0", "[d]\nsequence = 1,2\nseq_timeout = 0\n", `:3: door "d": seq_timeout: 0 seconds: no multi-knock sequence could ever complete`},
		{"unknown digest", "[s]\nspa = yes\n" + key + "\n" + hmac + "\nspa_hmac_digest = sha224\nopen = tcp/22\n",
			`:5: door "s": spa_hmac_digest: unknown digest type "sha224"`},
		{"sendmail not absolute", "[options]\nsendmail = msmtp\n[d]\nsequence = 1\n", `:2: sendmail: "msmtp": want the absolute path of a sendmail program`},
		{"firewall unknown", "[options]\nfirewall = pf\n[d]\nsequence = 1\n", `:2: firewall: "pf": want auto, iptables, iptables-legacy, iptables-nft, fw4 or none`},
		{"Rijndael key too long", "[s]\nspa = yes\nspa_key = " + strings.Repeat("k", 33) + "\n" + hmac + "\nopen = tcp/22\n",
			`:3: door "s": spa_key: Rijndael key must be 1 to 32 bytes, got 33`},
		{"bad device name", "[options]\ninterface = eth0/1\n[d]\nsequence = 1\n", `:2: interface: "eth0/1" is not a network device name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			want := "knockd: " + path + tt.want
			var out, errb bytes.Buffer
			if code := run([]string{"-c", path, "-k"}, &out, &errb, nil); code != 1 || !strings.HasPrefix(errb.String(), want) {
				t.Fatalf("knockd -k: exit %d, %q\nwant exit 1 and %q", code, errb.String(), want)
			}
			// The daemon's start-up refuses it with the same message.
			cfg, err := config.Load(path)
			if err == nil {
				var svc *service.Service
				svc, err = service.New(service.Options{
					Log:       logx.Discard(),
					NewSource: func([]string) daemon.Source { return testsrc.New([]netip.Addr{}) },
					Backend:   func(string, firewall.Options) (firewall.Backend, error) { return firewalltest.NewFake(), nil },
					Detect:    func() string { return "iptables" },
				}, cfg)
				if svc != nil {
					svc.Shutdown(context.Background())
				}
			}
			if err == nil || "knockd: "+err.Error()+"\n" != errb.String() {
				t.Fatalf("the daemon: %v\nknockd -k:  %q", err, errb.String())
			}
		})
	}
}
