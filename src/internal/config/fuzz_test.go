package config

import (
	"errors"
	"github.com/knockd-go/knockd-go/src/internal/l4"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/internal/uci"
)

// checkModel is what every successful parse guarantees.
func checkModel(t *testing.T, c *Config) {
	t.Helper()
	if len(c.Doors) == 0 && c.Options.Enabled {
		t.Fatal("no doors")
	}
	if c.Options.MaxAttempts < 1 || c.Options.MaxChildren < 1 {
		t.Fatalf("caps %d %d", c.Options.MaxAttempts, c.Options.MaxChildren)
	}
	for _, d := range c.Doors {
		if d.SPA != nil {
			if len(d.Sequence) != 0 || d.OneTimeFile != "" {
				t.Fatalf("door %q: SPA and a sequence", d.Name)
			}
			if d.SPA.Port == 0 || len(d.SPA.Key) == 0 || len(d.SPA.HMACKey) == 0 || d.SPA.MaxAge <= 0 {
				t.Fatalf("door %q: incomplete SPA %+v", d.Name, *d.SPA)
			}
		} else if d.Rotate != nil {
			if len(d.Sequence) != 0 || d.OneTimeFile != "" || d.Rotate.Validate() != nil {
				t.Fatalf("door %q: rotating knock %+v with a sequence %v", d.Name, *d.Rotate, d.Sequence)
			}
		} else if len(d.Sequence) == 0 || len(d.Sequence) > MaxSequenceLength {
			t.Fatalf("door %q: %d knocks", d.Name, len(d.Sequence))
		}
		for _, s := range d.Sequence {
			if s.Num == 0 || (s.Proto != l4.TCP && s.Proto != l4.UDP) {
				t.Fatalf("door %q: bad step %+v", d.Name, s)
			}
		}
		for _, p := range d.Open {
			if p.Num == 0 || (p.Proto != l4.TCP && p.Proto != l4.UDP) {
				t.Fatalf("door %q: bad open %+v", d.Name, p)
			}
		}
		for _, f := range d.Forward {
			if f.Port.Num == 0 || f.To.Port() == 0 || !f.To.Addr().IsValid() || f.To.Addr().IsUnspecified() {
				t.Fatalf("door %q: bad forward %v", d.Name, f)
			}
		}
		if d.SeqTimeout <= 0 || d.CmdTimeout < 0 || d.Cooldown < 0 {
			t.Fatalf("door %q: bad durations %v %v %v", d.Name, d.SeqTimeout, d.CmdTimeout, d.Cooldown)
		}
		if (len(d.Open) > 0 || len(d.Forward) > 0) && d.OpenDuration <= 0 {
			t.Fatalf("door %q: grants with duration %v", d.Name, d.OpenDuration)
		}
		if d.TCPFlags.Set&d.TCPFlags.Clear != 0 {
			t.Fatalf("door %q: flag both set and clear %+v", d.Name, d.TCPFlags)
		}
		if d.Target.IsValid() && (d.Target.Zone() != "" || d.Target.Is4In6()) {
			t.Fatalf("door %q: target %v not normalised", d.Name, d.Target)
		}
		for _, m := range d.Wake {
			if len(m) != 6 {
				t.Fatalf("door %q: wake %v", d.Name, m)
			}
		}
	}
}

// touchesFiles reports inputs that would make the parser open files
// named in the input (One_Time_Sequences): a fuzzer must not do that.
func touchesFiles(s string) bool { return strings.Contains(strings.ToLower(s), "one_time") }

func seedConfs(f *testing.F) {
	// The documented examples without their comments: long seeds make the
	// fuzzer spend its time minimizing instead of exploring.
	for _, p := range []string{"../../../docs/knockd.conf.example", "../../../docs/knockd.conf.minimal"} {
		if b, err := os.ReadFile(p); err == nil {
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
					keep = append(keep, l)
				}
			}
			f.Add(strings.Join(keep, "\n") + "\n")
		}
	}
	for _, s := range []string{
		equivConf,
		"[options]\nUseSyslog\n[d]\nsequence = 7000,8000:udp,9000\ntcpflags = syn,!ack\n",
		"[d]\nsequence = 1,2,\nopen = tcp/22\nforward = tcp/80->[fd00::1]:8080 masquerade\n",
		"[s]\nspa_key = k\nspa_hmac_key = h\nopen = tcp/22\n",
		"[d]\nsequence = 1\ntarget = ::ffff:1.2.3.4\nwake = aa:bb:cc:dd:ee:ff\nwake_password = 1.2.3.4\n",
		"[]\n", "x = 1\n", "[d]\nsequence = 0\n",
	} {
		f.Add(s)
	}
}

// FuzzParse: Parse never panics; it fails with a *Error naming the file,
// or returns a model whose doors all have something to match and valid
// ports.
func FuzzParse(f *testing.F) {
	seedConfs(f)
	f.Fuzz(func(t *testing.T, in string) {
		if touchesFiles(in) {
			return
		}
		c, err := Parse("fuzz.conf", strings.NewReader(in))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.conf" || e.Line < 0 || e.Err == nil {
				t.Fatalf("error %v (%T) is not a positioned *Error", err, err)
			}
			return
		}
		checkModel(t, c)
	})
}

// FuzzParseUCI: the same for UCI files; syntax errors come from the uci
// package as *uci.Error.
func FuzzParseUCI(f *testing.F) {
	f.Add(equivUCI)
	for _, s := range []string{
		"config door 'ssh'\n\toption sequence '7000,8000,9000'\n",
		"config knockd\n\toption enabled 0\n",
		"config door\n\tlist open 'tcp/22'\n\toption sequence 1\n\toption enabled 1\n",
		"config door d\n\tlist tcpflags syn\n\tlist tcpflags '!ack'\n\toption sequence '1:udp'\n",
		"config door s\n\toption spa_key k\n\toption spa_hmac_key h\n\tlist forward 'tcp/1->1.2.3.4'\n",
	} {
		f.Add(s)
	}
	if fx, err := filepath.Glob("../uci/testdata/*.conf"); err == nil {
		for _, p := range fx {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		if touchesFiles(in) {
			return
		}
		c, err := ParseUCI("fuzz", strings.NewReader(in))
		if err != nil {
			var e *Error
			var ue *uci.Error
			if !errors.As(err, &e) && !errors.As(err, &ue) {
				t.Fatalf("error %v (%T) is neither *Error nor *uci.Error", err, err)
			}
			return
		}
		checkModel(t, c)
	})
}
