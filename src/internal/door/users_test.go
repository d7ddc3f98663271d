package door

import (
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/config"
)

// TestUsersOnlyWhenUsed: sendmail_user and command_user are looked up
// only when a door mails or runs a command; a router without the user
// (OpenWrt without "nobody") starts when the feature is unused, and the
// defaults (root) are never looked up.
func TestUsersOnlyWhenUsed(t *testing.T) {
	const users = "[options]\n  sendmail_user = knockd-no-such-user\n  command_user = knockd-no-such-user\n"
	tests := []struct {
		name, conf, err string
	}{
		{"neither used", users + "[d]\n  sequence = 7000,8000\n  open = tcp/22\n", ""},
		{"defaults", "[options]\n[d]\n  sequence = 7000,8000\n  notify = root\n  command = /bin/true\n", ""},
		{"mail", users + "[d]\n  sequence = 7000,8000\n  notify = root\n", "sendmail_user"},
		{"command", users + "[d]\n  sequence = 7000,8000\n  command = /bin/true\n", "command_user"},
	}
	for _, tt := range tests {
		cfg, err := config.Parse("knockd.conf", strings.NewReader(tt.conf))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_, err = Compile(cfg, Env{})
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "knockd-no-such-user")):
			t.Errorf("%s: %v, want an error about %s", tt.name, err, tt.err)
		}
	}
}
