package apk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
)

// katTree writes the tree whose packages apk-tools v3.0.6 built for the
// known answers below:
//
//	SOURCE_DATE_EPOCH=1700000000 apk mkpkg --compression none \
//	  --info name:knockd-go --info version:1.2.3_p4-r1 --info arch:mipsel_24kc \
//	  --info "description:Port-knocking daemon" --info license:MIT \
//	  --info origin:knockd-go --info url:https://github.com/knockd-go/knockd-go \
//	  --info "maintainer:knockd-go developers" \
//	  --info "depends:knock-go>=1.0 libc !knockd" --info provides:knockd-go-any \
//	  --script post-install:post --script pre-deinstall:pre --files f \
//	  --output knockd-go-1.2.3_p4-r1.apk
//	SOURCE_DATE_EPOCH=1700000000 apk mkpkg --compression none \
//	  --info name:knock-go --info version:1.2.3_p4-r1 --info arch:noarch \
//	  --files f/etc --output knock-go-1.2.3_p4-r1.apk
//	apk mkndx --allow-untrusted --compression none --description "knockd-go test" \
//	  --output packages.adb knockd-go-1.2.3_p4-r1.apk knock-go-1.2.3_p4-r1.apk
func katTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "f")
	files := []struct {
		path, data string
		mode       os.FileMode
	}{
		{"etc/config/knockd", "config knockd 'global'\n", 0o600},
		{"etc/init.d/knockd", "#!/bin/sh /etc/rc.common\n", 0o755},
		{"usr/sbin/knockd", "\x7fELF fake daemon\n", 0o755},
		{"lib/apk/packages/knockd-go.list", "/etc/config/knockd\n/etc/init.d/knockd\n/usr/sbin/kd\n/usr/sbin/knockd\n", 0o644},
		{"lib/apk/packages/empty", "", 0o644},
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	if err := os.Symlink("knockd", filepath.Join(root, "usr/sbin/kd")); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var katEpoch uint64 = 1700000000

func katSpecs(root string) (daemon, client Spec) {
	daemon = Spec{
		Info: Info{
			piName: "knockd-go", piVersion: "1.2.3_p4-r1", piArch: "mipsel_24kc",
			piDescription: "Port-knocking daemon", piLicense: "MIT", piOrigin: "knockd-go",
			piURL: "https://github.com/knockd-go/knockd-go", piMaintainer: "knockd-go developers",
			piDepends: "knock-go>=1.0 libc !knockd", piProvides: "knockd-go-any",
		},
		Scripts: map[string][]byte{
			"post-install":  []byte("#!/bin/sh\necho post\n"),
			"pre-deinstall": []byte("#!/bin/sh\necho pre\n"),
		},
		Files: root,
		MTime: &katEpoch,
	}
	client = Spec{
		Info:  Info{piName: "knock-go", piVersion: "1.2.3_p4-r1", piArch: "noarch"},
		Files: filepath.Join(root, "etc"),
		MTime: &katEpoch,
	}
	return daemon, client
}

func sha(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// TestMatchesApkTools compares with what apk-tools v3.0.6 wrote for the
// same input (see katTree): the databases and the whole uncompressed files
// are byte-identical.
func TestMatchesApkTools(t *testing.T) {
	daemonSpec, clientSpec := katSpecs(katTree(t))
	tests := []struct {
		name          string
		spec          Spec
		adbSHA, whole string
		size          int
	}{
		{"knockd-go", daemonSpec,
			"98f0bffb28dd9c360cdd41d4c66bfd0b0f950219252a81d76e126e01d64774d9",
			"068b6d408fd7d389c43144850bbfc362e1b3ff68919e3b3257e51c306fa95c35", 1336},
		{"knock-go", clientSpec,
			"3002b05c1bb856a23451fd56403ac6346be6d9e04aa4749983f5591f7c609e8a",
			"759cd9381b295a79beaf1fbfa934f3e5c660c24fb828a0f249c5e134474547d1", 480},
	}
	var in []IndexInput
	for _, tt := range tests {
		f, err := Build(tt.spec)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		raw := f.Encode()
		if got := sha(f.ADB); got != tt.adbSHA {
			t.Errorf("%s: database SHA-256 %s, apk mkpkg wrote %s", tt.name, got, tt.adbSHA)
		}
		if got := sha(raw); got != tt.whole || len(raw) != tt.size {
			t.Errorf("%s: file SHA-256 %s (%d bytes), apk mkpkg wrote %s (%d bytes)", tt.name, got, len(raw), tt.whole, tt.size)
		}
		in = append(in, IndexInput{Name: FileName(tt.name, "1.2.3_p4-r1"), Data: raw})
	}
	ix, err := BuildIndex(in, "knockd-go test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sha(ix.ADB), "5a1696b5c60073d7b3742faac00d130482ec43566bbfc2c99f84b2f6fd4e17a6"; got != want {
		t.Errorf("index database SHA-256 %s, apk mkndx wrote %s", got, want)
	}
}

func testKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := adb.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRoundTrip builds, compresses, signs and reads back a package and an
// index, then checks that tampering is caught.
func TestRoundTrip(t *testing.T) {
	root := katTree(t)
	key, other := testKey(t), testKey(t)
	keys := []*ecdsa.PublicKey{&key.PublicKey}
	spec, _ := katSpecs(root)
	spec.Key = key
	f, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	data, err := adb.Compress(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadPackage(data, keys)
	if err != nil {
		t.Fatal(err)
	}
	if p.Info.Name != "knockd-go" || p.Info.Version != "1.2.3_p4-r1" || p.Info.Arch != "mipsel_24kc" {
		t.Errorf("info %+v", p.Info)
	}
	if got := strings.Join(p.Info.Depends, " "); got != "knock-go>=1.0 !knockd libc" {
		t.Errorf("depends %q", got)
	}
	if p.Info.InstalledSize != 133 {
		t.Errorf("installed size %d, want 133 (regular files only)", p.Info.InstalledSize)
	}
	got := map[string]string{}
	for _, d := range p.Dirs {
		for _, fe := range d.Files {
			if fe.Link != "" {
				got[d.Path(fe)] = "-> " + fe.Link
				continue
			}
			got[d.Path(fe)] = string(fe.Data)
			want, err := os.ReadFile(filepath.Join(root, d.Path(fe)))
			if err != nil || !bytes.Equal(want, fe.Data) {
				t.Errorf("%s: data %q, want %q (%v)", d.Path(fe), fe.Data, want, err)
			}
			if fe.MTime != katEpoch || fe.User != "root" || fe.Group != "root" {
				t.Errorf("%s: mtime %d owner %s:%s", d.Path(fe), fe.MTime, fe.User, fe.Group)
			}
		}
	}
	if len(got) != 6 || got["usr/sbin/kd"] != "-> knockd" {
		t.Errorf("files %v", got)
	}
	if p.Scripts["post-install"] != "#!/bin/sh\necho post\n" || len(p.Scripts) != 2 {
		t.Errorf("scripts %v", p.Scripts)
	}
	// The unique id is the SHA-256 of the database with the id zeroed.
	db := append([]byte(nil), f.ADB...)
	i := bytes.Index(db, p.Info.Hashes)
	copy(db[i:i+uidSize], make([]byte, uidSize))
	if s := sha256.Sum256(db); !bytes.Equal(s[:uidSize], p.Info.Hashes) {
		t.Errorf("unique id %x, want %x", p.Info.Hashes, s[:uidSize])
	}

	if _, err := ReadPackage(data, []*ecdsa.PublicKey{&other.PublicKey}); err == nil {
		t.Error("package verified with another key")
	}
	// A changed byte of file content, then of the database.
	bad := *f
	bad.Data = append([][]byte(nil), f.Data...)
	bad.Data[0] = append([]byte(nil), f.Data[0]...)
	bad.Data[0][len(bad.Data[0])-1] ^= 1
	if _, err := ReadPackage(bad.Encode(), keys); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed file content: err %v", err)
	}
	bad = *f
	bad.ADB = append([]byte(nil), f.ADB...)
	bad.ADB[len(bad.ADB)-1] ^= 1
	if _, err := ReadPackage(bad.Encode(), keys); err == nil {
		t.Error("changed database verified")
	}
	bad = *f
	bad.Data = f.Data[1:]
	if _, err := ReadPackage(bad.Encode(), nil); err == nil {
		t.Error("missing data block accepted")
	}

	name := FileName("knockd-go", "1.2.3_p4-r1")
	ixf, err := BuildIndex([]IndexInput{{Name: name, Data: data}}, "feed", key)
	if err != nil {
		t.Fatal(err)
	}
	ixData, err := adb.Compress(ixf.Encode())
	if err != nil {
		t.Fatal(err)
	}
	ix, err := ReadIndex(ixData, keys)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Description != "feed" || len(ix.Packages) != 1 {
		t.Fatalf("index %+v", ix)
	}
	pi := ix.Packages[0]
	if pi.FileSize != uint64(len(data)) || !bytes.Equal(pi.Hashes, p.Identity[:]) {
		t.Errorf("index entry %+v", pi)
	}
	if err := pi.Check(data); err != nil {
		t.Error(err)
	}
	other2, err := Build(Spec{Info: Info{piName: "knockd-go", piVersion: "1.2.3_p4-r1"}, Files: root, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := pi.Check(other2.Encode()); err == nil {
		t.Error("a different package passed the index check")
	}
	if _, err := ReadIndex(ixData, []*ecdsa.PublicKey{&other.PublicKey}); err == nil {
		t.Error("index verified with another key")
	}
	if _, err := BuildIndex([]IndexInput{{Name: "knockd-go.apk", Data: data}}, "", nil); err == nil {
		t.Error("index accepted a package under a name apk cannot fetch")
	}
	if _, err := BuildIndex([]IndexInput{{Name: name, Data: data}, {Name: name, Data: data}}, "", nil); err == nil {
		t.Error("index accepted two versions of one package")
	}
	// Extract writes the tree back.
	out := t.TempDir()
	if err := p.Extract(out); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(out, "etc/config/knockd")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("extracted config: %v %v", st, err)
	}
	if l, err := os.Readlink(filepath.Join(out, "usr/sbin/kd")); err != nil || l != "knockd" {
		t.Errorf("extracted symlink %q %v", l, err)
	}
}

func TestVersions(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		{"0.1.0_p5-r1", true},
		{"1.2.3-r1", true},
		{"1.0", true},
		{"1.2.3a", true},
		{"2.0_rc1_p3", true},
		{"1.0~abc1-r2", true},
		{"25.12.0-r10", true},
		{"", false},
		{"v1.0", false},
		{"1.2.3-1", false},
		{"1.2.3+4.gabcdef0-1", false},
		{"1.2.3-r", false},
		{"1.0_foo", false},
		{"1.2a3", false},
		{"1.0-r1-r2", false},
	}
	for _, tt := range tests {
		if got := ValidVersion(tt.v); got != tt.ok {
			t.Errorf("ValidVersion(%q) = %v, want %v", tt.v, got, tt.ok)
		}
	}
}

func TestParseDep(t *testing.T) {
	tests := []struct {
		in   string
		want Dep
		bad  bool
	}{
		{in: "libc", want: Dep{"libc", "", depAny}},
		{in: "!knockd", want: Dep{"knockd", "", depAny | verConflict}},
		{in: "knock-go>=1.0", want: Dep{"knock-go", "1.0", verGreater | verEqual}},
		{in: "luci-base<2", want: Dep{"luci-base", "2", verLess}},
		{in: "a=1.2-r3", want: Dep{"a", "1.2-r3", verEqual}},
		{in: "a~1.2", want: Dep{"a", "1.2", verFuzzy | verEqual}},
		{in: "a>=", bad: true},
		{in: "a>=x", bad: true},
		{in: "a b", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseDep(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("ParseDep(%q) = %+v, %v; want %+v, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
		if !tt.bad {
			if s := depString(got.Name, got.Version, got.Op); s != tt.in {
				t.Errorf("depString(ParseDep(%q)) = %q", tt.in, s)
			}
		}
	}
}

func TestParseInfo(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"name:x", "version:1.0-r1", "arch:noarch"}, ""},
		{[]string{"name:x"}, "required"},
		{[]string{"name:x", "version:1.0", "installed-size:5"}, "not settable"},
		{[]string{"name:x", "version:1.0", "colour"}, "missing key"},
	}
	for _, tt := range tests {
		_, err := ParseInfo(tt.args)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseInfo(%q): %v, want %q", tt.args, err, tt.err)
		}
	}
	for _, info := range []Info{
		{piName: "-x", piVersion: "1.0"},
		{piName: "x", piVersion: "1.0-1"},
		{piName: "x", piVersion: "1.0", piDepends: "y>=?"},
		{piName: "x", piVersion: "1.0", piBuildTime: "soon"},
	} {
		if _, err := Build(Spec{Info: info}); err == nil {
			t.Errorf("Build accepted info %v", info)
		}
	}
}
