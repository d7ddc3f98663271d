// Package apk builds and reads OpenWrt 25.12 (apk-tools 3) packages and
// repository indexes on top of package adb: the "pckg" and "indx" schemas
// of apk-tools v3.0.6 (src/apk_adb.h, src/apk_adb.c), laid out in the same
// order as its mkpkg and mkndx applets write them.
package apk

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
)

// Schemas of the two kinds of file.
const (
	SchemaIndex   uint32 = 0x78646e69 // "indx"
	SchemaPackage uint32 = 0x676b6370 // "pckg"
)

// Fields of a package info object (ADBI_PI_*).
const (
	piName = 1 + iota
	piVersion
	piHashes
	piDescription
	piArch
	piLicense
	piOrigin
	piMaintainer
	piURL
	piRepoCommit
	piBuildTime
	piInstalledSize
	piFileSize
	piProviderPriority
	piDepends
	piProvides
	piReplaces
	piInstallIf
	piRecommends
	piLayer
	piTags
	piMax
)

// Fields of a dependency object (ADBI_DEP_*) and version match bits.
const (
	depName    = 1
	depVersion = 2
	depMatch   = 3

	verEqual    = 1
	verLess     = 2
	verGreater  = 4
	verFuzzy    = 8
	verConflict = 16
	depAny      = verEqual | verLess | verGreater
)

// infoFields are the names apk mkpkg --info accepts, by field number.
var infoFields = map[string]int{
	"name": piName, "version": piVersion, "description": piDescription,
	"arch": piArch, "license": piLicense, "origin": piOrigin,
	"maintainer": piMaintainer, "url": piURL, "repo-commit": piRepoCommit,
	"build-time": piBuildTime, "provider-priority": piProviderPriority,
	"depends": piDepends, "provides": piProvides, "replaces": piReplaces,
	"install-if": piInstallIf, "recommends": piRecommends, "layer": piLayer,
	"tags": piTags,
}

// Info is the package information given to mkpkg, as "field:value"
// strings in apk's text form (dependencies space-separated).
type Info map[int]string

// ParseInfo reads "field:value" arguments as apk mkpkg --info does.
func ParseInfo(args []string) (Info, error) {
	info := Info{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, ":")
		if !ok {
			return nil, fmt.Errorf("info %q: missing key or value", a)
		}
		f, ok := infoFields[k]
		if !ok {
			return nil, fmt.Errorf("info %q: unknown or not settable field %q", a, k)
		}
		info[f] = v
	}
	if info[piName] == "" || info[piVersion] == "" {
		return nil, fmt.Errorf("info: name and version are required")
	}
	return info, nil
}

var (
	// Alpine version: digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}
	// (apk-tools src/internal/version.c).
	versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)
	// A package name starts with a letter or digit and holds letters,
	// digits and + - . _ (APK_CTYPE_PACKAGE_NAME).
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+._-]*$`)
	// Dependency names also allow , : / [ ] (APK_CTYPE_DEPENDENCY_NAME).
	depNameRE = regexp.MustCompile(`^[A-Za-z0-9+._,:/\[\]-]+$`)
)

// ValidVersion reports whether apk accepts v as a package version.
func ValidVersion(v string) bool { return versionRE.MatchString(v) }

// ValidName reports whether apk accepts n as a package name.
func ValidName(n string) bool { return nameRE.MatchString(n) }

// Dep is one parsed dependency: [!]name[op version].
type Dep struct {
	Name    string
	Version string
	Op      int
}

// ParseDep parses a dependency as apk_dep_parse does.
func ParseDep(s string) (Dep, error) {
	d := Dep{}
	rest := s
	if strings.HasPrefix(rest, "!") {
		d.Op |= verConflict
		rest = rest[1:]
	}
	if i := strings.IndexAny(rest, "<>=~"); i >= 0 {
		j := i
		for j < len(rest) && strings.ContainsRune("<>=~", rune(rest[j])) {
			j++
		}
		d.Name, d.Version = rest[:i], rest[j:]
		for _, c := range rest[i:j] {
			switch c {
			case '<':
				d.Op |= verLess
			case '>':
				d.Op |= verGreater
			case '=':
				d.Op |= verEqual
			case '~':
				d.Op |= verFuzzy | verEqual
			}
		}
		if !ValidVersion(d.Version) {
			return d, fmt.Errorf("dependency %q: invalid version %q", s, d.Version)
		}
	} else {
		d.Name = rest
		d.Op |= depAny
	}
	if !depNameRE.MatchString(d.Name) {
		return d, fmt.Errorf("dependency %q: invalid name", s)
	}
	return d, nil
}

// writeDeps writes a dependency list the way apk's fromstring does: each
// dependency object as it is parsed, then the array sorted with duplicates
// dropped. Like apk, it tags the array as an object.
func writeDeps(b *adb.Builder, list string) (adb.Val, error) {
	type item struct {
		d Dep
		v adb.Val
	}
	var items []item
	for _, s := range strings.Fields(list) {
		d, err := ParseDep(s)
		if err != nil {
			return adb.Null, err
		}
		f := make([]adb.Val, depMatch)
		f[depName-1] = b.String(d.Name)
		if d.Op != depAny {
			f[depVersion-1] = b.String(d.Version)
			if d.Op != verEqual {
				f[depMatch-1] = b.Int(uint64(d.Op))
			}
		}
		items = append(items, item{d, b.Object(f...)})
	}
	// apk compares name, version, then match; versions are compared here
	// as strings, which only matters for two dependencies on one name.
	sort.SliceStable(items, func(i, j int) bool {
		a, c := items[i].d, items[j].d
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		if a.Version != c.Version {
			return a.Version < c.Version
		}
		return a.Op < c.Op
	})
	var vals []adb.Val
	for i, it := range items {
		if i > 0 && it.v == items[i-1].v {
			continue
		}
		vals = append(vals, it.v)
	}
	return b.Object(vals...), nil
}

// write writes the fields of info in field order, as apk mkpkg assigns
// them, and returns the field slots (index = field number).
func (info Info) write(b *adb.Builder) ([]adb.Val, error) {
	slots := make([]adb.Val, piMax)
	for f := 1; f < piMax; f++ {
		s, ok := info[f]
		if !ok {
			continue
		}
		var err error
		switch f {
		case piName:
			if !ValidName(s) {
				return nil, fmt.Errorf("info: invalid package name %q", s)
			}
			slots[f] = b.String(s)
		case piVersion:
			if !ValidVersion(s) {
				return nil, fmt.Errorf("info: version %q is not an apk version (e.g. 1.2.3-r1, 1.2.3_p4-r1)", s)
			}
			slots[f] = b.String(s)
		case piRepoCommit:
			var p []byte
			if p, err = hex.DecodeString(s); err != nil {
				return nil, fmt.Errorf("info: repo-commit: %w", err)
			}
			slots[f] = b.Blob(p)
		case piBuildTime, piProviderPriority, piLayer:
			var n uint64
			if n, err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, fmt.Errorf("info: %s: %w", fieldName(f), err)
			}
			slots[f] = b.Int(n)
		case piDepends, piProvides, piReplaces, piInstallIf, piRecommends:
			if slots[f], err = writeDeps(b, s); err != nil {
				return nil, fmt.Errorf("info: %s: %w", fieldName(f), err)
			}
		case piTags:
			var tags []adb.Val
			for _, t := range strings.Fields(s) {
				tags = append(tags, b.String(t))
			}
			slots[f] = b.Object(tags...)
		default:
			slots[f] = b.String(s)
		}
	}
	return slots, nil
}

func fieldName(f int) string {
	for k, v := range infoFields {
		if v == f {
			return k
		}
	}
	switch f {
	case piHashes:
		return "hashes"
	case piInstalledSize:
		return "installed-size"
	case piFileSize:
		return "file-size"
	}
	return "field " + strconv.Itoa(f)
}

// PkgInfo is package information read back from a package or an index.
type PkgInfo struct {
	Name, Version, Description, Arch, License, Origin, Maintainer, URL string
	BuildTime, InstalledSize, FileSize, ProviderPriority               uint64
	Hashes                                                             []byte
	Depends, Provides                                                  []string
}

func readPkgInfo(db adb.DB, v adb.Val) (PkgInfo, error) {
	var pi PkgInfo
	s, err := db.Slots(v)
	if err != nil {
		return pi, fmt.Errorf("package info: %w", err)
	}
	strs := []struct {
		f   int
		dst *string
	}{
		{piName, &pi.Name}, {piVersion, &pi.Version}, {piDescription, &pi.Description},
		{piArch, &pi.Arch}, {piLicense, &pi.License}, {piOrigin, &pi.Origin},
		{piMaintainer, &pi.Maintainer}, {piURL, &pi.URL},
	}
	for _, x := range strs {
		p, err := db.Blob(s.Get(x.f))
		if err != nil {
			return pi, fmt.Errorf("package info: %s: %w", fieldName(x.f), err)
		}
		*x.dst = string(p)
	}
	ints := []struct {
		f   int
		dst *uint64
	}{
		{piBuildTime, &pi.BuildTime}, {piInstalledSize, &pi.InstalledSize},
		{piFileSize, &pi.FileSize}, {piProviderPriority, &pi.ProviderPriority},
	}
	for _, x := range ints {
		if *x.dst, err = db.Int(s.Get(x.f)); err != nil {
			return pi, fmt.Errorf("package info: %s: %w", fieldName(x.f), err)
		}
	}
	if pi.Hashes, err = db.Blob(s.Get(piHashes)); err != nil {
		return pi, fmt.Errorf("package info: hashes: %w", err)
	}
	if pi.Depends, err = readDeps(db, s.Get(piDepends)); err != nil {
		return pi, fmt.Errorf("package info: depends: %w", err)
	}
	if pi.Provides, err = readDeps(db, s.Get(piProvides)); err != nil {
		return pi, fmt.Errorf("package info: provides: %w", err)
	}
	if !ValidName(pi.Name) || !ValidVersion(pi.Version) {
		return pi, fmt.Errorf("package info: invalid name or version %q %q", pi.Name, pi.Version)
	}
	return pi, nil
}

func readDeps(db adb.DB, v adb.Val) ([]string, error) {
	arr, err := db.Slots(v)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 1; i <= arr.Len(); i++ {
		d, err := db.Slots(arr.Get(i))
		if err != nil {
			return nil, err
		}
		name, err := db.Blob(d.Get(depName))
		if err != nil {
			return nil, err
		}
		ver, err := db.Blob(d.Get(depVersion))
		if err != nil {
			return nil, err
		}
		op, err := db.Int(d.Get(depMatch))
		if err != nil {
			return nil, err
		}
		out = append(out, depString(string(name), string(ver), int(op)))
	}
	return out, nil
}

// depString prints a dependency as apk does.
func depString(name, ver string, op int) string {
	if op == 0 {
		op = verEqual
	}
	var buf bytes.Buffer
	if op&verConflict != 0 {
		buf.WriteByte('!')
	}
	buf.WriteString(name)
	if ver == "" {
		return buf.String()
	}
	switch op &^ verConflict {
	case verLess:
		buf.WriteString("<")
	case verLess | verEqual:
		buf.WriteString("<=")
	case verGreater:
		buf.WriteString(">")
	case verGreater | verEqual:
		buf.WriteString(">=")
	case verFuzzy, verFuzzy | verEqual:
		buf.WriteString("~")
	default:
		buf.WriteString("=")
	}
	buf.WriteString(ver)
	return buf.String()
}
