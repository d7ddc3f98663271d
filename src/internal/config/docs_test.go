package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const (
	exampleConf = "../../../docs/knockd.conf.example"
	minimalConf = "../../../docs/knockd.conf.minimal"
)

// TestDocsParse: the shipped example configurations are valid.
func TestDocsParse(t *testing.T) {
	c, err := Load(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Doors) != 4 || c.Doors[2].SPA == nil || len(c.Doors[1].Open) != 3 || len(c.Doors[1].Forward) != 3 || c.Doors[3].Rotate == nil {
		t.Errorf("example: %d doors, not the documented ones", len(c.Doors))
	}
	if !c.Options.UseSyslog || strings.Join(c.Options.Interfaces, " ") != "eth0" {
		t.Errorf("example options: %+v", c.Options)
	}
	m, err := Load(minimalConf)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Doors) != 1 || len(m.Doors[0].Open) != 1 || m.Doors[0].TCPFlags.Set != 0x02 {
		t.Errorf("minimal: unexpected model %+v", m.Doors)
	}
}

// TestExampleDocumentsEveryDirective reads the directive names from the
// parser's switch statements and requires each (aliases included) to be
// mentioned in the example, so that a new directive cannot go
// undocumented.
func TestExampleDocumentsEveryDirective(t *testing.T) {
	src, err := os.ReadFile("directives.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	caseRe := regexp.MustCompile(`(?m)^\s*case ((?:"[A-Z0-9_]+",?\s*)+):`)
	keyRe := regexp.MustCompile(`"([A-Z0-9_]+)"`)
	var keys []string
	for _, m := range caseRe.FindAllStringSubmatch(string(src), -1) {
		for _, k := range keyRe.FindAllStringSubmatch(m[1], -1) {
			keys = append(keys, k[1])
		}
	}
	if len(keys) < 40 {
		t.Fatalf("found only %d directive names in directives.go: %v", len(keys), keys)
	}
	// Values that are not directive names (Firewall, Duplicate_Knocks,
	// SPA_HMAC_Digest choices) appear in lower case in those switches and
	// are not matched by the pattern.
	text := strings.ToUpper(string(doc))
	for _, k := range keys {
		word := regexp.MustCompile(`(^|[^A-Z0-9_])` + k + `([^A-Z0-9_]|$)`)
		if !word.MatchString(text) {
			t.Errorf("directive %s is not mentioned in %s", k, exampleConf)
		}
	}
	// And each is accepted by the parser in some section.
	for _, k := range keys {
		known := false
		for _, conf := range []string{"[options]\n" + k + " = x\n[d]\nsequence = 1\n", "[d]\nsequence = 1\n" + k + " = x\n"} {
			if _, err := parse(conf); err == nil || !strings.Contains(err.Error(), "unknown directive") {
				known = true
			}
		}
		if !known {
			t.Errorf("directive %s from directives.go is unknown to Parse", k)
		}
	}
}

// TestUCIExampleDocumentsEveryOption: the comment block of the shipped
// /etc/config/knockd names every directive (in lower case, as uci options),
// the file parses, and its global section is what the init script expects.
func TestUCIExampleDocumentsEveryOption(t *testing.T) {
	const uciConf = "../../../files/etc/config/knockd"
	src, err := os.ReadFile("directives.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(uciConf)
	if err != nil {
		t.Fatal(err)
	}
	// Aliases kept for knockd.conf compatibility have one uci spelling.
	alias := map[string]bool{"TIMEOUT": true, "COMMAND": true, "COMMAND_6": true, "DURATION": true, "USESYSLOG": true}
	caseRe := regexp.MustCompile(`(?m)^\s*case ((?:"[A-Z0-9_]+",?\s*)+):`)
	keyRe := regexp.MustCompile(`"([A-Z0-9_]+)"`)
	n := 0
	for _, m := range caseRe.FindAllStringSubmatch(string(src), -1) {
		for _, k := range keyRe.FindAllStringSubmatch(m[1], -1) {
			if alias[k[1]] {
				continue
			}
			n++
			opt := strings.ToLower(k[1])
			word := regexp.MustCompile(`(?m)^#\s+(list )?` + opt + `(\s|$| /)`)
			if !word.Match(doc) {
				t.Errorf("option %s is not documented in %s", opt, uciConf)
			}
		}
	}
	if n < 40 {
		t.Fatalf("found only %d directive names", n)
	}
	if !strings.Contains(string(doc), "#   use_syslog") {
		t.Errorf("use_syslog is not documented in %s", uciConf)
	}
	c, err := LoadUCI(uciConf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Options.Interfaces, " ") != "wan wan6" || c.Options.Enabled {
		t.Errorf("%s global section: interfaces %q enabled %v", uciConf, c.Options.Interfaces, c.Options.Enabled)
	}
}
