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

// directiveKeys returns the names of the directive table, upper case:
// the global directives, then the doors'.
func directiveKeys() []string {
	var keys []string
	for _, e := range optionDirectives {
		keys = append(keys, e.name)
	}
	for _, e := range doorDirectives {
		keys = append(keys, e.name)
	}
	return keys
}

// TestExampleDocumentsEveryDirective reads the directive names from the
// parser's directive table and requires each (aliases included) to be
// mentioned in the example, so that a new directive cannot go
// undocumented.
func TestExampleDocumentsEveryDirective(t *testing.T) {
	doc, err := os.ReadFile(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	keys := directiveKeys()
	if len(keys) < 40 {
		t.Fatalf("found only %d directive names in the directive table: %v", len(keys), keys)
	}
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
			t.Errorf("directive %s from the directive table is unknown to Parse", k)
		}
	}
}

// TestUCIExampleDocumentsEveryOption: the comment block of the shipped
// /etc/config/knockd names every directive (in lower case, as uci options),
// the file parses, and its global section is what the init script expects.
func TestUCIExampleDocumentsEveryOption(t *testing.T) {
	const uciConf = "../../../files/etc/config/knockd"
	doc, err := os.ReadFile(uciConf)
	if err != nil {
		t.Fatal(err)
	}
	// Aliases kept for knockd.conf compatibility have one uci spelling.
	alias := map[string]bool{"TIMEOUT": true, "COMMAND": true, "COMMAND_6": true, "DURATION": true, "USESYSLOG": true}
	n := 0
	for _, k := range directiveKeys() {
		if alias[k] {
			continue
		}
		n++
		opt := strings.ToLower(k)
		word := regexp.MustCompile(`(?m)^#\s+(list )?` + opt + `(\s|$| /)`)
		if !word.Match(doc) {
			t.Errorf("option %s is not documented in %s", opt, uciConf)
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
