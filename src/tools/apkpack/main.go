// Command apkpack writes and checks OpenWrt 25.12 packages (apk-tools 3,
// ADB format) without apk-tools: the packaging scripts use it where the
// OpenWrt SDK would run "apk mkpkg" and "apk mkndx".
//
//	apkpack mkpkg --info name:N --info version:V [--info field:value]...
//	        [--script type:FILE]... [--files DIR] --output FILE [--sign-key KEY.pem]
//	apkpack mkndx --output packages.adb [--description TEXT] [--sign-key KEY.pem] PKG.apk...
//	apkpack genkey --private KEY.pem --public PUB.pem
//	apkpack verify [--keys-dir DIR]... [--key PUB.pem]... FILE...
//	apkpack dump [--keys-dir DIR] FILE
//	apkpack extract [--keys-dir DIR] [--scripts SDIR] FILE DIR
//
// mkpkg takes apk mkpkg's --info fields and --script types; every file's
// mtime is SOURCE_DATE_EPOCH when set. mkndx checks that each package is
// named ${name}-${version}.apk, the name apk fetches it by. verify checks
// signatures against public keys (the *.pem of --keys-dir, as in
// /etc/apk/keys) and every file's data; for an index it also checks each
// listed package found next to it against the index. dump prints the
// information, files and scripts, and "database:" the SHA-256 of the ADB
// block (a package's identity in an index), which does not depend on the
// signatures or the compression. extract writes the files under DIR and,
// with --scripts, each maintainer script as SDIR/<type>.
package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
	"github.com/knockd-go/knockd-go/src/tools/apkpack/apk"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmds := map[string]func([]string) error{
		"mkpkg": mkpkg, "mkndx": mkndx, "genkey": genkey,
		"verify": verify, "dump": dump, "extract": extract,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		usage()
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "apkpack %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: apkpack mkpkg|mkndx|genkey|verify|dump|extract [options] (see the source header)")
	os.Exit(2)
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	return fs.Parse(args)
}

func loadKey(path string) (*ecdsa.PrivateKey, error) {
	if path == "" {
		return nil, nil
	}
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := adb.ParsePrivateKey(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// writeFile writes data to path through a temporary file, so that a
// failed run leaves no half-written package.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func mkpkg(args []string) error {
	fs := flag.NewFlagSet("mkpkg", flag.ContinueOnError)
	var infos, scripts list
	fs.Var(&infos, "info", "package info field:value (repeatable)")
	fs.Var(&scripts, "script", "type:file maintainer script (repeatable)")
	files := fs.String("files", "", "directory holding the package's files")
	output := fs.String("output", "", "package file to write")
	signKey := fs.String("sign-key", "", "EC private key (PEM) to sign with")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *output == "" || fs.NArg() != 0 {
		return errors.New("--output FILE is required, and no arguments")
	}
	info, err := apk.ParseInfo(infos)
	if err != nil {
		return err
	}
	spec := apk.Spec{Info: info, Files: *files, Scripts: map[string][]byte{}}
	for _, s := range scripts {
		t, f, ok := strings.Cut(s, ":")
		if !ok {
			return fmt.Errorf("script %q: want type:file", s)
		}
		if spec.Scripts[t], err = os.ReadFile(f); err != nil {
			return fmt.Errorf("script %s: %w", t, err)
		}
	}
	if sde := os.Getenv("SOURCE_DATE_EPOCH"); sde != "" {
		n, err := strconv.ParseUint(sde, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		spec.MTime = &n
	}
	if spec.Key, err = loadKey(*signKey); err != nil {
		return err
	}
	f, err := apk.Build(spec)
	if err != nil {
		return err
	}
	out, err := adb.Compress(f.Encode())
	if err != nil {
		return err
	}
	return writeFile(*output, out)
}

func mkndx(args []string) error {
	fs := flag.NewFlagSet("mkndx", flag.ContinueOnError)
	output := fs.String("output", "", "index file to write")
	desc := fs.String("description", "", "index description")
	signKey := fs.String("sign-key", "", "EC private key (PEM) to sign with")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *output == "" {
		return errors.New("--output FILE is required")
	}
	var in []apk.IndexInput
	for _, p := range fs.Args() {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		in = append(in, apk.IndexInput{Name: filepath.Base(p), Data: data})
	}
	key, err := loadKey(*signKey)
	if err != nil {
		return err
	}
	f, err := apk.BuildIndex(in, *desc, key)
	if err != nil {
		return err
	}
	out, err := adb.Compress(f.Encode())
	if err != nil {
		return err
	}
	return writeFile(*output, out)
}

func genkey(args []string) error {
	fs := flag.NewFlagSet("genkey", flag.ContinueOnError)
	priv := fs.String("private", "", "private key file to write (PEM, mode 0600)")
	pub := fs.String("public", "", "public key file to write (PEM)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *priv == "" || *pub == "" {
		return errors.New("--private and --public are required")
	}
	for _, p := range []string{*priv, *pub} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; not overwriting a key", p)
		}
	}
	k, err := adb.GenerateKey()
	if err != nil {
		return err
	}
	sec, err := adb.MarshalPrivateKey(k)
	if err != nil {
		return err
	}
	pp, err := adb.MarshalPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*priv, sec, 0o600); err != nil {
		return err
	}
	return os.WriteFile(*pub, pp, 0o644)
}

// keyFlags are the --keys-dir and --key options of verify, dump, extract.
type keyFlags struct{ dirs, files list }

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.Var(&k.dirs, "keys-dir", "directory of trusted public keys (*.pem), as /etc/apk/keys (repeatable)")
	fs.Var(&k.files, "key", "trusted public key (PEM) (repeatable)")
}

// load returns the trusted keys; nil (no checking) when none were named.
func (k *keyFlags) load() ([]*ecdsa.PublicKey, error) {
	if len(k.dirs) == 0 && len(k.files) == 0 {
		return nil, nil
	}
	paths := append([]string(nil), k.files...)
	for _, d := range k.dirs {
		m, err := filepath.Glob(filepath.Join(d, "*.pem"))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	keys := []*ecdsa.PublicKey{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		key, err := adb.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func schemaOf(data []byte) (uint32, error) {
	raw, err := adb.Decompress(data)
	if err != nil {
		return 0, err
	}
	f, err := adb.Parse(raw)
	if err != nil {
		return 0, err
	}
	return f.Schema, nil
}

func verify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var kf keyFlags
	kf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	keys, err := kf.load()
	if err != nil {
		return err
	}
	if keys == nil {
		return errors.New("name the trusted keys with --keys-dir or --key")
	}
	failed := 0
	for _, p := range fs.Args() {
		if err := verifyOne(p, keys); err != nil {
			fmt.Fprintf(os.Stderr, "%s: FAILED: %v\n", p, err)
			failed++
			continue
		}
		fmt.Printf("%s: OK\n", p)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, fs.NArg())
	}
	return nil
}

func verifyOne(p string, keys []*ecdsa.PublicKey) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	schema, err := schemaOf(data)
	if err != nil {
		return err
	}
	if schema == apk.SchemaPackage {
		_, err := apk.ReadPackage(data, keys)
		return err
	}
	ix, err := apk.ReadIndex(data, keys)
	if err != nil {
		return err
	}
	for _, pi := range ix.Packages {
		pp := filepath.Join(filepath.Dir(p), apk.FileName(pi.Name, pi.Version))
		pd, err := os.ReadFile(pp)
		if errors.Is(err, os.ErrNotExist) {
			continue // a package of the index that is not mirrored here
		}
		if err != nil {
			return err
		}
		if err := pi.Check(pd); err != nil {
			return err
		}
		if _, err := apk.ReadPackage(pd, nil); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(pp), err)
		}
	}
	return nil
}

func dump(args []string) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	var kf keyFlags
	kf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("one file to dump")
	}
	keys, err := kf.load()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	schema, err := schemaOf(data)
	if err != nil {
		return err
	}
	if schema == apk.SchemaIndex {
		ix, err := apk.ReadIndex(data, keys)
		if err != nil {
			return err
		}
		fmt.Printf("index: %q, %d packages, %d signatures\ndatabase: %x\n", ix.Description, len(ix.Packages), len(ix.File.Sigs), sha256.Sum256(ix.File.ADB))
		for _, pi := range ix.Packages {
			printInfo(pi)
		}
		return nil
	}
	p, err := apk.ReadPackage(data, keys)
	if err != nil {
		return err
	}
	printInfo(p.Info)
	fmt.Printf("database: %x\nsignatures: %d\n", p.Identity, len(p.File.Sigs))
	var types []string
	for t := range p.Scripts {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Printf("script %s: %d bytes\n", t, len(p.Scripts[t]))
	}
	for _, d := range p.Dirs {
		fmt.Printf("dir /%s %04o %s:%s\n", d.Name, d.Mode, d.User, d.Group)
		for _, f := range d.Files {
			if f.Link != "" {
				fmt.Printf("link /%s -> %s\n", d.Path(f), f.Link)
				continue
			}
			fmt.Printf("file /%s %04o %s:%s %d %d %x\n", d.Path(f), f.Mode, f.User, f.Group, f.Size, f.MTime, f.Hash)
		}
	}
	return nil
}

func printInfo(pi apk.PkgInfo) {
	fmt.Printf("package: %s %s %s\n", pi.Name, pi.Version, pi.Arch)
	fmt.Printf("  description: %s\n  license: %s\n  origin: %s\n  maintainer: %s\n  url: %s\n",
		pi.Description, pi.License, pi.Origin, pi.Maintainer, pi.URL)
	fmt.Printf("  installed-size: %d\n  file-size: %d\n  hashes: %x\n", pi.InstalledSize, pi.FileSize, pi.Hashes)
	fmt.Printf("  depends: %s\n  provides: %s\n", strings.Join(pi.Depends, " "), strings.Join(pi.Provides, " "))
	if pi.ProviderPriority != 0 {
		fmt.Printf("  provider-priority: %d\n", pi.ProviderPriority)
	}
}

func extract(args []string) error {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	var kf keyFlags
	kf.register(fs)
	scripts := fs.String("scripts", "", "directory to write the maintainer scripts to, one file per type")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("want FILE DIR")
	}
	keys, err := kf.load()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	p, err := apk.ReadPackage(data, keys)
	if err != nil {
		return err
	}
	if *scripts != "" {
		if err := os.MkdirAll(*scripts, 0o755); err != nil {
			return err
		}
		for t, text := range p.Scripts {
			if err := os.WriteFile(filepath.Join(*scripts, t), []byte(text), 0o755); err != nil {
				return err
			}
		}
	}
	return p.Extract(fs.Arg(1))
}
