package uci

// Queries the tests check the parser with (the daemon reads the
// sections in order and needs none of them).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ParseFile reads and parses the file at path.
func ParseFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Section returns the section with the given name, generated ID
// (`cfg02cc59`) or extended reference (`@door[0]`, `@door[-1]`, `@[2]`), or
// nil.
func (f *File) Section(ref string) *Section {
	if s := f.byName[ref]; s != nil {
		return s
	}
	if f.byName == nil {
		for _, s := range f.Sections {
			if s.Name == ref && !s.Anonymous {
				return s
			}
		}
	}
	typ, idx, ok := parseRef(ref)
	if !ok {
		return nil
	}
	var match []*Section
	for _, s := range f.Sections {
		if typ == "" || s.Type == typ {
			match = append(match, s)
		}
	}
	if idx < 0 {
		idx += len(match)
	}
	if idx < 0 || idx >= len(match) {
		return nil
	}
	return match[idx]
}

// parseRef splits "@type[N]" into type and N.
func parseRef(ref string) (typ string, idx int, ok bool) {
	if !strings.HasPrefix(ref, "@") || !strings.HasSuffix(ref, "]") {
		return "", 0, false
	}
	open := strings.IndexByte(ref, '[')
	if open < 0 {
		return "", 0, false
	}
	typ = ref[1:open]
	if typ != "" && !validType(typ) {
		return "", 0, false
	}
	n, err := strconv.Atoi(ref[open+1 : len(ref)-1])
	if err != nil {
		return "", 0, false
	}
	return typ, n, true
}

// SectionsOfType returns the sections of the given type in file order.
func (f *File) SectionsOfType(typ string) []*Section {
	var out []*Section
	for _, s := range f.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Option returns the option or list with the given name, or nil.
func (s *Section) Option(name string) *Option {
	for i := range s.Options {
		if s.Options[i].Name == name {
			return &s.Options[i]
		}
	}
	return nil
}

// Get returns the value of an option; for a list, its items joined by
// single spaces (as `uci get` and the shell's config_get return them).
func (s *Section) Get(name string) (string, bool) {
	o := s.Option(name)
	if o == nil {
		return "", false
	}
	return o.Value(), true
}

// List returns the items of a list, or the value of an option as a
// one-item list, or nil when the option is not set.
func (s *Section) List(name string) []string {
	o := s.Option(name)
	if o == nil {
		return nil
	}
	return append([]string(nil), o.Values...)
}
