package uci

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tsv renders a file the way the fixtures' .tsv files list `uci get`
// answers: section, type, option, list index, value.
func tsv(f *File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		for _, o := range s.Options {
			for i, v := range o.Values {
				b.WriteString(s.Ref() + "\t" + s.Type + "\t" + o.Name + "\t" + strconv.Itoa(i) + "\t" + v + "\n")
			}
		}
	}
	return b.String()
}

func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }

// show renders a file as `uci show <pkg>` prints it.
func show(pkg string, f *File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		b.WriteString(pkg + "." + s.Ref() + "=" + s.Type + "\n")
		for _, o := range s.Options {
			q := make([]string, len(o.Values))
			for i, v := range o.Values {
				q[i] = quote(v)
			}
			b.WriteString(pkg + "." + s.Ref() + "." + o.Name + "=" + strings.Join(q, " ") + "\n")
		}
	}
	return b.String()
}

// TestFixtures parses every testdata/*.conf (files written and read by the
// real uci tool) and compares with what uci printed for them.
func TestFixtures(t *testing.T) {
	confs, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(confs) < 2 {
		t.Fatalf("expected at least 2 fixtures, found %v", confs)
	}
	for _, conf := range confs {
		base := strings.TrimSuffix(conf, ".conf")
		t.Run(filepath.Base(base), func(t *testing.T) {
			f, err := ParseFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				ext string
				got string
			}{{".tsv", tsv(f)}, {".show", show("knockd", f)}} {
				want, err := os.ReadFile(base + c.ext)
				if err != nil {
					t.Fatal(err)
				}
				if c.got != string(want) {
					t.Errorf("%s mismatch\n--- got\n%s--- want\n%s", c.ext, c.got, want)
				}
			}
		})
	}
}

func TestFixtureLinesAndHelpers(t *testing.T) {
	f, err := ParseFile(filepath.Join("testdata", "handwritten.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ssh := f.Section("ssh")
	if ssh == nil || ssh.Line != 7 || ssh.Anonymous {
		t.Fatalf("section ssh = %+v", ssh)
	}
	if o := ssh.Option("open"); o == nil || o.Line != 11 || !o.List {
		t.Errorf("open = %+v, want list at line 11", o)
	}
	if v, ok := ssh.Get("open"); !ok || v != "tcp/22 udp/51820" {
		t.Errorf(`Get("open") = %q, %v`, v, ok)
	}
	if got := ssh.List("open"); strings.Join(got, "|") != "tcp/22|udp/51820" {
		t.Errorf(`List("open") = %q`, got)
	}
	if got := ssh.List("seq_timeout"); len(got) != 1 || got[0] != "15" {
		t.Errorf(`List("seq_timeout") = %q`, got)
	}
	if _, ok := ssh.Get("nothing"); ok {
		t.Error(`Get("nothing") reported ok`)
	}
	if ssh.List("nothing") != nil {
		t.Error(`List("nothing") not nil`)
	}
	anon := f.Section("@door[1]")
	if anon == nil || !anon.Anonymous || anon.Line != 16 || anon.Name != "" {
		t.Fatalf("@door[1] = %+v", anon)
	}
	if f.Section("@door[-2]") != anon || f.Section("@[2]") != anon || f.Section(anon.ID()) != anon {
		t.Error("extended references do not find @door[1]")
	}
	if got := anon.ID(); got != "cfg03cc59" {
		t.Errorf("ID() = %q, want cfg03cc59 (3rd section, hash of type door)", got)
	}
	if f.Section("@door[3]") != nil || f.Section("@door[-4]") != nil || f.Section("@door[x]") != nil || f.Section("missing") != nil {
		t.Error("out-of-range references found a section")
	}
	if n := len(f.SectionsOfType("door")); n != 3 {
		t.Errorf("SectionsOfType(door) = %d sections, want 3", n)
	}
}

// TestAnonymousID checks generated names against ones seen on OpenWrt
// systems: the default firewall and network configurations.
func TestAnonymousID(t *testing.T) {
	f, err := Parse("firewall", strings.NewReader(
		"config defaults\n\toption input 'REJECT'\nconfig zone\n\toption name 'lan'\nconfig zone\nconfig forwarding\nconfig rule\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cfg01e63d", "cfg02dc81", "cfg03dc81", "cfg04ad58", "cfg0592bd"}
	for i, s := range f.Sections {
		if s.ID() != want[i] {
			t.Errorf("section %d ID = %s, want %s", i, s.ID(), want[i])
		}
	}
	f, err = Parse("network", strings.NewReader(
		"config interface 'loopback'\nconfig globals 'globals'\nconfig device\n\toption name 'br-lan'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Sections[2].ID(); got != "cfg030f15" {
		t.Errorf("br-lan device ID = %s, want cfg030f15", got)
	}
	if got := f.Sections[0].ID(); got != "loopback" {
		t.Errorf("named section ID = %s", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // tsv rendering
	}{
		{"empty", "", ""},
		{"comments only", "# a\n\t# b\n\n   \n", ""},
		{"abbreviated keywords", "c door x\no a 1\nl b 2\np knockd\n", "x\tdoor\ta\t0\t1\nx\tdoor\tb\t0\t2\n"},
		{"concatenated parts", "config t s\noption v a'b c'\"d e\"f\n", "s\tt\tv\t0\tab cd ef\n"},
		{"escaped quote in single quotes", `config t s` + "\n" + `option v 'it'\''s'` + "\n", "s\tt\tv\t0\tit's\n"},
		{"backslash literal in single quotes", "config t s\noption v 'a\\b\\\\c'\n", "s\tt\tv\t0\ta\\b\\\\c\n"},
		{"backslash escapes in double quotes", "config t s\noption v \"a\\\"b\\\\c\\$d\\n\"\n", "s\tt\tv\t0\ta\"b\\c$dn\n"},
		{"backslash escapes unquoted", "config t s\noption v a\\ b\\#c\\;d\n", "s\tt\tv\t0\ta b#c;d\n"},
		{"unquoted comment", "config t s\noption v a#b\noption w 'x'#y\n", "s\tt\tv\t0\ta\ns\tt\tw\t0\tx\n"},
		{"hash inside quotes", "config t s\noption v 'a # b'\n", "s\tt\tv\t0\ta # b\n"},
		{"multi-line single quotes", "config t s\noption v 'a\nb'\noption w x\n", "s\tt\tv\t0\ta\nb\ns\tt\tw\t0\tx\n"},
		{"multi-line double quotes", "config t s\noption v \"a\n  b\"\n", "s\tt\tv\t0\ta\n  b\n"},
		{"backslash newline joins unquoted", "config t s\noption v abc\\\ndef\n", "s\tt\tv\t0\tabcdef\n"},
		{"backslash newline joins in double quotes", "config t s\noption v \"abc\\\ndef\"\n", "s\tt\tv\t0\tabcdef\n"},
		{"backslash CRLF joins", "config t s\r\noption v abc\\\r\ndef\r\n", "s\tt\tv\t0\tabcdef\n"},
		{"CRLF file", "config t 's'\r\n\toption v 'x'\r\n\toption w y\r\n", "s\tt\tv\t0\tx\ns\tt\tw\t0\ty\n"},
		{"no final newline", "config t s\noption v x", "s\tt\tv\t0\tx\n"},
		{"semicolon after quoted value", "config t s\noption a 'x'; option b 'y'\n", "s\tt\ta\t0\tx\ns\tt\tb\t0\ty\n"},
		{"semicolon after unquoted value ends the line", "config t s\noption a x;option b y\n", "s\tt\ta\t0\tx\n"},
		{"semicolon as argument", "config t s\noption a ;\n", ""},
		{"empty option ignored", "config t s\noption a ''\noption b\n", ""},
		{"empty option keeps value", "config t s\noption a 1\noption a ''\n", "s\tt\ta\t0\t1\n"},
		{"empty list item kept", "config t s\nlist a ''\nlist a x\n", "s\tt\ta\t0\t\ns\tt\ta\t1\tx\n"},
		{"option replaced moves to end", "config t s\noption a 1\noption b 2\noption a 3\n", "s\tt\tb\t0\t2\ns\tt\ta\t0\t3\n"},
		{"option same value stays", "config t s\noption a 1\noption b 2\noption a 1\n", "s\tt\ta\t0\t1\ns\tt\tb\t0\t2\n"},
		{"option after list replaces it", "config t s\nlist a 1\nlist a 2\noption b x\noption a 3\n", "s\tt\tb\t0\tx\ns\tt\ta\t0\t3\n"},
		{"list after option extends it", "config t s\noption a 1\noption b x\nlist a 2\n", "s\tt\tb\t0\tx\ns\tt\ta\t0\t1\ns\tt\ta\t1\t2\n"},
		{"named section continued", "config t s\noption a 1\nconfig u\nconfig t 's'\noption b 2\n", "s\tt\ta\t0\t1\ns\tt\tb\t0\t2\n"},
		{"anonymous sections counted per type", "config t\noption a 1\nconfig u\noption a 2\nconfig t\noption a 3\n",
			"@t[0]\tt\ta\t0\t1\n@u[0]\tu\ta\t0\t2\n@t[1]\tt\ta\t0\t3\n"},
		{"type with punctuation", "config wifi-iface\noption a 1\n", "@wifi-iface[0]\twifi-iface\ta\t0\t1\n"},
		{"quoted names", "config 'door' \"x\"\noption 'a' 1\n", "x\tdoor\ta\t0\t1\n"},
		{"trailing blanks and comments", "config t s # c\n  option a 1 \t # c\n", "s\tt\ta\t0\t1\n"},
		{"package line", "package knockd\nconfig t s\noption a 1\n", "s\tt\ta\t0\t1\n"},
		{"backslash at EOF", "config t s\noption a x\\", "s\tt\ta\t0\tx\n"},
		{"utf-8 value", "config t s\noption a 'café ✓'\n", "s\tt\ta\t0\tcafé ✓\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("test", strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := tsv(f); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestPackageName(t *testing.T) {
	f, err := Parse("x", strings.NewReader("package 'my-pkg'\nconfig t s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Package != "my-pkg" {
		t.Errorf("Package = %q", f.Package)
	}
}

func TestLines(t *testing.T) {
	in := "# head\nconfig t s\n\toption a 'x\ny'\n\tlist b 1\n\n\tlist b 2\nconfig t\n\toption c '3'; option d 4\n"
	f, err := Parse("x", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	type pos struct {
		name string
		line int
	}
	var got []pos
	for _, s := range f.Sections {
		got = append(got, pos{s.Ref(), s.Line})
		for _, o := range s.Options {
			got = append(got, pos{o.Name, o.Line})
		}
	}
	want := []pos{{"s", 2}, {"a", 3}, {"b", 5}, {"@t[1]", 8}, {"c", 9}, {"d", 9}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"unknown command", "config t s\n\toptions a 1\n", 2, "invalid command"},
		{"bare config", "config\n", 1, "invalid command"},
		{"config without type at EOF", "config", 1, "config without name"},
		{"config with empty type", "config ''\n", 1, "insufficient arguments"},
		{"option before section", "\n\toption a 1\n", 2, "option/list command found before the first section"},
		{"list before section", "list a 1\n", 1, "option/list command found before the first section"},
		{"option without name", "config t s\noption", 2, "option without name"},
		{"option with empty name", "config t s\noption '' x\n", 2, "insufficient arguments"},
		{"bad option name", "config t s\noption a-b 1\n", 2, "invalid character in name field"},
		{"bad section name", "config t 'a.b'\n", 1, "invalid character in name field"},
		{"bad type", "config 't\x01'\n", 1, "invalid character in type field"},
		{"bad package name", "package 'a b'\n", 1, "invalid character in name field"},
		{"package without name", "package", 1, "package without name"},
		{"too many arguments", "config t s\noption a 1 2\n", 2, "too many arguments"},
		{"config too many arguments", "config t s x\n", 1, "too many arguments"},
		{"unterminated single quote", "config t s\noption a 'x\n\n", 3, "EOF with unterminated '"},
		{"unterminated double quote", "config t s\noption a \"x", 2, "EOF with unterminated \""},
		{"type change", "config t s\nconfig u s\n", 2, "section of different type overwrites prior section with same name"},
		{"semicolon before newline", "config t s\noption a 'x';\n", 2, "invalid command"},
		{"nul byte", "config t s\noption a 'x\x00'\n", 2, "NUL byte in input"},
		{"continued line starting blank", "config t s\noption a x\\\n  y\n", 3, "too many arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("knockd", strings.NewReader(tt.in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if pe.Line != tt.line || pe.Msg != tt.msg || pe.File != "knockd" {
				t.Errorf("got %s:%d %q, want line %d %q", pe.File, pe.Line, pe.Msg, tt.line, tt.msg)
			}
			if want := "knockd:" + strconv.Itoa(tt.line) + ": uci: " + tt.msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "none"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

type failReader struct{ data string }

func (r *failReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	_, err := Parse("x", &failReader{"config t s\n"})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
}

// TestShippedConfig parses the /etc/config/knockd the packages install, and
// its commented examples with the comment signs removed.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "files", "etc", "config", "knockd")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	g := f.Section("global")
	if g == nil || g.Type != "knockd" {
		t.Fatalf("no config knockd 'global' section: %+v", f.Sections)
	}
	if v, _ := g.Get("enabled"); v != "0" {
		t.Errorf("shipped enabled = %q, want 0", v)
	}
	if len(f.Sections) != 1 {
		t.Errorf("shipped file has %d sections, want only global", len(f.Sections))
	}

	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#config ") || strings.HasPrefix(l, "#\t") {
			l = l[1:]
		}
		lines = append(lines, l)
	}
	f, err = Parse("examples", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	vpn := f.Section("vpn")
	if vpn == nil || vpn.Type != "door" {
		t.Fatalf("example door vpn missing: %+v", f.Sections)
	}
	if got := vpn.List("forward"); len(got) != 1 || got[0] != "tcp/1723->192.168.1.51:1723" {
		t.Errorf("vpn forward = %q", got)
	}
	for _, name := range []string{"forward", "wake", "notify"} {
		if o := vpn.Option(name); o == nil || !o.List {
			t.Errorf("vpn %s is not a list: %+v", name, o)
		}
	}
	if s := f.Section("ssh_spa"); s == nil || s.Type != "door" {
		t.Error("example door ssh_spa missing")
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "handwritten.conf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("bench", strings.NewReader(string(data))); err != nil {
			b.Fatal(err)
		}
	}
}
