package fwknoprc

import (
	"strings"
	"testing"
)

func checkVars(t *testing.T, file string, vars []Var, data string) {
	t.Helper()
	lines := strings.Count(data, "\n") + 1
	for _, v := range vars {
		if v.Name == "" || v.Value == "" || v.File != file || v.Line < 1 || v.Line > lines {
			t.Fatalf("bad variable %+v", v)
		}
		if strings.ContainsAny(v.Value, " \t\r;#\n") || strings.ContainsAny(v.Name, " \t\r\n") {
			t.Fatalf("variable %+v not cut as fwknop cuts it", v)
		}
	}
}

// FuzzParseRC: no panic; every variable has a name, a one-word value and
// a line of the file; errors name the file.
func FuzzParseRC(f *testing.F) {
	f.Add(rc, "router")
	f.Add(rc, "")
	f.Add(rc, "other")
	f.Add("[x]\r\nKEY\tpass\r\n[x\n", "x")
	f.Add("[default]\nA:B:C v # c\n\x00\n ;\n", "default")
	f.Fuzz(func(t *testing.T, data, name string) {
		vars, err := ParseRC("rc", []byte(data), name)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rc:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		checkVars(t, "rc", vars, data)
	})
}

// FuzzParseKeys: no panic; only key variables, no extra words.
func FuzzParseKeys(f *testing.F) {
	f.Add(keyGen)
	f.Add("# keys\nKEY secret\nHMAC_KEY: other # note\nHMAC_DIGEST_TYPE sha384\r\n")
	f.Add("KEY: two words\n[x]\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		vars, err := ParseKeys("keys", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keys:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		checkVars(t, "keys", vars, data)
		for _, v := range vars {
			if !isKeyVar(v.Name) || v.Extra != "" {
				t.Fatalf("bad key variable %+v", v)
			}
		}
	})
}
