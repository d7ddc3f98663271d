package apk

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
)

// Script types in the order of the scripts object (ADBI_SCRPT_*).
var ScriptTypes = []string{
	"trigger", "pre-install", "post-install", "pre-deinstall",
	"post-deinstall", "pre-upgrade", "post-upgrade",
}

// Fields of the package, directory, file and ACL objects.
const (
	pkgInfo    = 1
	pkgPaths   = 2
	pkgScripts = 3

	diName  = 1
	diACL   = 2
	diFiles = 3

	fiName   = 1
	fiACL    = 2
	fiSize   = 3
	fiMTime  = 4
	fiHashes = 5
	fiTarget = 6

	aclMode  = 1
	aclUser  = 2
	aclGroup = 3

	uidSize  = 20 // the package's unique id: SHA-256 of its database, truncated
	sIFLNK   = 0o120000
	rootUser = "root"
)

// Spec is what a package is made of: apk mkpkg's --info, --script and
// --files.
type Spec struct {
	Info    Info
	Scripts map[string][]byte // by type, e.g. "post-install"
	Files   string            // directory whose tree is the package's content
	// MTime, when set, replaces every file's mtime (apk uses
	// SOURCE_DATE_EPOCH so).
	MTime *uint64
	// Key signs the package when set.
	Key *ecdsa.PrivateKey
}

// dirEntry is one directory of the package with its non-directory entries.
type dirEntry struct {
	name  string // path relative to the root, "" for the root
	mode  fs.FileMode
	files []fileEntry
}

type fileEntry struct {
	name   string
	mode   fs.FileMode
	size   int64
	mtime  uint64
	link   string // symlink target
	data   []byte
	digest [32]byte
}

// scan reads the tree under root: every directory (root first, then the
// others in strcmp order of their paths) with its files and symlinks in
// strcmp order of their names, as apk mkpkg walks it.
func scan(root string, mtime *uint64) ([]dirEntry, error) {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	sort.Strings(paths)
	paths = append([]string{""}, paths...)
	dirs := make([]dirEntry, 0, len(paths))
	for _, rel := range paths {
		abs := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Lstat(abs)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		de := dirEntry{name: rel, mode: st.Mode()}
		ents, err := os.ReadDir(abs)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		for _, e := range ents { // sorted by name
			fe, ok, err := scanFile(filepath.Join(abs, e.Name()), mtime)
			if err != nil {
				return nil, err
			}
			if ok {
				de.files = append(de.files, fe)
			}
		}
		dirs = append(dirs, de)
	}
	return dirs, nil
}

func scanFile(p string, mtime *uint64) (fileEntry, bool, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return fileEntry{}, false, fmt.Errorf("scan: %w", err)
	}
	fe := fileEntry{name: filepath.Base(p), mode: st.Mode(), size: st.Size(), mtime: uint64(st.ModTime().Unix())}
	if mtime != nil {
		fe.mtime = *mtime
	}
	switch {
	case st.Mode().IsDir():
		return fe, false, nil
	case st.Mode().IsRegular():
		if fe.data, err = os.ReadFile(p); err != nil {
			return fe, false, fmt.Errorf("scan: %w", err)
		}
		fe.digest = sha256.Sum256(fe.data)
	case st.Mode()&fs.ModeSymlink != 0:
		if fe.link, err = os.Readlink(p); err != nil {
			return fe, false, fmt.Errorf("scan: %w", err)
		}
	default:
		return fe, false, fmt.Errorf("scan: %s: only files, directories and symlinks can be packaged", p)
	}
	return fe, true, nil
}

// unixMode returns the permission bits of m in Unix form (with setuid,
// setgid and sticky).
func unixMode(m fs.FileMode) uint64 {
	u := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// writeACL writes an ACL object: mode and owner (always root:root; the
// packages are made for a router, not for the build user).
func writeACL(b *adb.Builder, m fs.FileMode) adb.Val {
	mode := b.Int(unixMode(m))
	user := b.String(rootUser)
	group := b.String(rootUser)
	return b.Object(mode, user, group)
}

// Build makes a package: the uncompressed ADB file, ready for
// adb.Compress. The database is laid out as apk mkpkg (v3.0.6, default
// options) lays it out, so the two are byte-identical for the same tree
// (files owned by root, no extended attributes, no hard links).
func Build(spec Spec) (*adb.File, error) {
	b := adb.NewBuilder()
	info, err := spec.Info.write(b)
	if err != nil {
		return nil, err
	}
	for t := range spec.Scripts {
		if scriptIndex(t) == 0 {
			return nil, fmt.Errorf("script type %q unknown (want one of %s)", t, strings.Join(ScriptTypes, ", "))
		}
	}

	var dirs []dirEntry
	var installed uint64
	var paths []adb.Val
	if spec.Files != "" {
		if dirs, err = scan(spec.Files, spec.MTime); err != nil {
			return nil, err
		}
		for _, d := range dirs {
			var files []adb.Val
			for _, f := range d.files {
				name := b.String(f.name)
				var hash, target adb.Val
				if f.link == "" {
					hash = b.Blob(f.digest[:])
					installed += uint64(f.size)
				} else {
					t := binary.LittleEndian.AppendUint16(nil, sIFLNK)
					target = b.Blob(append(t, f.link...))
				}
				mtime := b.Int(f.mtime)
				size := b.Int(uint64(f.size))
				acl := writeACL(b, f.mode)
				files = append(files, b.Object(name, acl, size, mtime, hash, target))
			}
			name := b.String(d.name)
			acl := writeACL(b, d.mode)
			paths = append(paths, b.Object(name, acl, b.Object(files...)))
		}
		if installed == 0 {
			installed = 1
		}
	}
	if len(spec.Scripts) > 0 && installed == 0 {
		installed = 1
	}
	info[piInstalledSize] = b.Int(installed)
	var uidOff int
	info[piHashes], uidOff = b.BlobRaw(make([]byte, uidSize))
	pkginfo := b.Object(info[1:]...)
	pathsVal := b.Object(paths...)
	var scripts adb.Val
	if len(spec.Scripts) > 0 {
		s := make([]adb.Val, len(ScriptTypes))
		for i, t := range ScriptTypes {
			s[i] = b.Blob(spec.Scripts[t])
		}
		scripts = b.Object(s...)
	}
	b.SetRoot(b.Object(pkginfo, pathsVal, scripts))
	if err := b.Err(); err != nil {
		return nil, err
	}
	db := b.Bytes()
	uid := sha256.Sum256(db)
	copy(db[uidOff:uidOff+uidSize], uid[:])

	f := &adb.File{Schema: SchemaPackage, ADB: db}
	if spec.Key != nil {
		sig, err := adb.Sign(spec.Key, SchemaPackage, db)
		if err != nil {
			return nil, err
		}
		f.Sigs = append(f.Sigs, sig)
	}
	for i, d := range dirs {
		for j, fe := range d.files {
			if fe.link != "" || fe.size == 0 {
				continue
			}
			hdr := binary.LittleEndian.AppendUint32(nil, uint32(i+1))
			hdr = binary.LittleEndian.AppendUint32(hdr, uint32(j+1))
			f.Data = append(f.Data, append(hdr, fe.data...))
		}
	}
	return f, nil
}

func scriptIndex(t string) int {
	for i, s := range ScriptTypes {
		if s == t {
			return i + 1
		}
	}
	return 0
}

// FileName is the name apk fetches a package by: ${name}-${version}.apk.
func FileName(name, version string) string { return name + "-" + version + ".apk" }
