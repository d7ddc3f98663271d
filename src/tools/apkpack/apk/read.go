package apk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
)

// Package is a package read back.
type Package struct {
	Info     PkgInfo
	Identity [sha256.Size]byte // SHA-256 of the database, what an index records
	Dirs     []Dir
	Scripts  map[string]string
	File     *adb.File
}

// Dir is one directory of a package.
type Dir struct {
	Name        string // relative to the root, "" for the root
	Mode        uint64
	User, Group string
	Files       []File
}

// File is one file or symlink of a package.
type File struct {
	Name        string
	Mode        uint64
	User, Group string
	Size, MTime uint64
	Hash        []byte
	Link        string // symlink target
	Data        []byte
}

// Path returns the file's path relative to the package root.
func (d Dir) Path(f File) string { return path.Join(d.Name, f.Name) }

// ReadPackage reads an .apk. With keys, one of its signatures must verify
// with one of them (apk's check for a package installed from a file);
// without, it is read as apk --allow-untrusted would. Every file's data
// block must come in order, with the size and SHA-256 the database gives.
func ReadPackage(data []byte, keys []*ecdsa.PublicKey) (*Package, error) {
	f, err := openFile(data, SchemaPackage)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		if err := adb.VerifyFile(f, keys); err != nil {
			return nil, err
		}
	}
	db, err := adb.ParseDB(f.ADB)
	if err != nil {
		return nil, err
	}
	root, err := db.Slots(db.Root())
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	p := &Package{File: f, Identity: sha256.Sum256(f.ADB), Scripts: map[string]string{}}
	if p.Info, err = readPkgInfo(db, root.Get(pkgInfo)); err != nil {
		return nil, err
	}
	if p.Dirs, err = readDirs(db, root.Get(pkgPaths)); err != nil {
		return nil, err
	}
	scripts, err := db.Slots(root.Get(pkgScripts))
	if err != nil {
		return nil, fmt.Errorf("package: scripts: %w", err)
	}
	for i, t := range ScriptTypes {
		s, err := db.Blob(scripts.Get(i + 1))
		if err != nil {
			return nil, fmt.Errorf("package: script %s: %w", t, err)
		}
		if s != nil {
			p.Scripts[t] = string(s)
		}
	}
	if err := p.attachData(f.Data); err != nil {
		return nil, err
	}
	return p, nil
}

func readACL(db adb.DB, v adb.Val) (mode uint64, user, group string, err error) {
	s, err := db.Slots(v)
	if err != nil {
		return 0, "", "", err
	}
	if mode, err = db.Int(s.Get(aclMode)); err != nil {
		return 0, "", "", err
	}
	u, err := db.Blob(s.Get(aclUser))
	if err != nil {
		return 0, "", "", err
	}
	g, err := db.Blob(s.Get(aclGroup))
	if err != nil {
		return 0, "", "", err
	}
	return mode, string(u), string(g), nil
}

func readDirs(db adb.DB, v adb.Val) ([]Dir, error) {
	arr, err := db.Slots(v)
	if err != nil {
		return nil, fmt.Errorf("package: paths: %w", err)
	}
	var dirs []Dir
	for i := 1; i <= arr.Len(); i++ {
		ds, err := db.Slots(arr.Get(i))
		if err != nil {
			return nil, fmt.Errorf("package: path %d: %w", i, err)
		}
		name, err := db.Blob(ds.Get(diName))
		if err != nil {
			return nil, fmt.Errorf("package: path %d: %w", i, err)
		}
		d := Dir{Name: string(name)}
		if d.Mode, d.User, d.Group, err = readACL(db, ds.Get(diACL)); err != nil {
			return nil, fmt.Errorf("package: %s/: acl: %w", d.Name, err)
		}
		files, err := db.Slots(ds.Get(diFiles))
		if err != nil {
			return nil, fmt.Errorf("package: %s/: %w", d.Name, err)
		}
		for j := 1; j <= files.Len(); j++ {
			fs, err := db.Slots(files.Get(j))
			if err != nil {
				return nil, fmt.Errorf("package: %s/ file %d: %w", d.Name, j, err)
			}
			var fe File
			n, err := db.Blob(fs.Get(fiName))
			if err == nil {
				fe.Name = string(n)
				fe.Mode, fe.User, fe.Group, err = readACL(db, fs.Get(fiACL))
			}
			if err == nil {
				fe.Size, err = db.Int(fs.Get(fiSize))
			}
			if err == nil {
				fe.MTime, err = db.Int(fs.Get(fiMTime))
			}
			if err == nil {
				fe.Hash, err = db.Blob(fs.Get(fiHashes))
			}
			var target []byte
			if err == nil {
				target, err = db.Blob(fs.Get(fiTarget))
			}
			if err != nil {
				return nil, fmt.Errorf("package: %s/%s: %w", d.Name, fe.Name, err)
			}
			if fe.Name == "" || strings.Contains(fe.Name, "/") {
				return nil, fmt.Errorf("package: %s/: bad file name %q", d.Name, fe.Name)
			}
			if target != nil {
				if len(target) < 2 || binary.LittleEndian.Uint16(target) != sIFLNK {
					return nil, fmt.Errorf("package: %s: only symlink targets are supported", d.Path(fe))
				}
				fe.Link = string(target[2:])
			} else if len(fe.Hash) != sha256.Size {
				return nil, fmt.Errorf("package: %s: hash of %d bytes, want SHA-256", d.Path(fe), len(fe.Hash))
			}
			d.Files = append(d.Files, fe)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// attachData matches the DATA blocks with the files that have content.
func (p *Package) attachData(blocks [][]byte) error {
	next := 0
	for i := range p.Dirs {
		for j := range p.Dirs[i].Files {
			fe := &p.Dirs[i].Files[j]
			if fe.Link != "" || fe.Size == 0 {
				continue
			}
			if next >= len(blocks) {
				return fmt.Errorf("package: no data for %s", p.Dirs[i].Path(*fe))
			}
			b := blocks[next]
			next++
			if len(b) < 8 || binary.LittleEndian.Uint32(b) != uint32(i+1) || binary.LittleEndian.Uint32(b[4:]) != uint32(j+1) {
				return fmt.Errorf("package: data block %d is not for %s", next, p.Dirs[i].Path(*fe))
			}
			fe.Data = b[8:]
			if uint64(len(fe.Data)) != fe.Size {
				return fmt.Errorf("package: %s: %d bytes of data, size %d", p.Dirs[i].Path(*fe), len(fe.Data), fe.Size)
			}
			if sum := sha256.Sum256(fe.Data); !bytes.Equal(sum[:], fe.Hash) {
				return fmt.Errorf("package: %s: content does not match its SHA-256", p.Dirs[i].Path(*fe))
			}
		}
	}
	if next != len(blocks) {
		return fmt.Errorf("package: %d data blocks for no file", len(blocks)-next)
	}
	return nil
}

// Extract writes the package's directories, files and symlinks under dir
// with their modes (owners are not changed).
func (p *Package) Extract(dir string) error {
	for _, d := range p.Dirs {
		if strings.HasPrefix(d.Name, "/") || strings.Contains("/"+d.Name+"/", "/../") {
			return fmt.Errorf("extract: path %q leaves the root", d.Name)
		}
		dd := filepath.Join(dir, filepath.FromSlash(d.Name))
		if err := os.MkdirAll(dd, 0o755); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
		for _, fe := range d.Files {
			fp := filepath.Join(dd, fe.Name)
			var err error
			if fe.Link != "" {
				err = os.Symlink(fe.Link, fp)
			} else if err = os.WriteFile(fp, fe.Data, 0o600); err == nil {
				err = os.Chmod(fp, os.FileMode(fe.Mode&0o777))
			}
			if err != nil {
				return fmt.Errorf("extract: %w", err)
			}
		}
	}
	for i := len(p.Dirs) - 1; i >= 0; i-- { // children before parents
		d := p.Dirs[i]
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(d.Name)), os.FileMode(d.Mode&0o777)); err != nil {
			return fmt.Errorf("extract: %w", err)
		}
	}
	return nil
}
