package uci

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that any input either parses or fails with an *Error
// carrying a line number, never panics, and that what parses survives a
// round trip through the form `uci export` writes.
func FuzzParse(f *testing.F) {
	confs, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	for _, c := range confs {
		b, err := os.ReadFile(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{
		"config t s\noption a 'x';option b \"y\\\nz\"\n",
		"c t\nl a '\n'\no b a\\\n\\\n",
		"config t s\noption a x;\n",
		"config t 's'\nconfig t s\nlist a ''\noption a 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		file, err := Parse("fuzz", strings.NewReader(in))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Line < 0 || pe.Msg == "" {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Re-export the way libuci writes files, then parse again: the
		// result must be the same sections and values.
		out := export(file)
		again, err := Parse("export", strings.NewReader(out))
		if err != nil {
			t.Fatalf("re-parse of export failed: %v\n%s", err, out)
		}
		if a, b := tsv(file), tsv(again); a != b {
			t.Fatalf("round trip changed values\n%q\n%q", a, b)
		}
	})
}

// export writes a file as libuci's `uci export` does (with section names),
// except that the type is quoted too: a type may contain quote characters,
// which uci itself writes unquoted and then cannot read back.
func export(f *File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		b.WriteString("\nconfig " + quote(s.Type))
		if !s.Anonymous {
			b.WriteString(" " + quote(s.Name))
		}
		b.WriteString("\n")
		for _, o := range s.Options {
			kw := "option"
			if o.List {
				kw = "list"
			}
			for _, v := range o.Values {
				b.WriteString("\t" + kw + " " + o.Name + " " + quote(v) + "\n")
			}
		}
	}
	return b.String()
}
