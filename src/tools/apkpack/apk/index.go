package apk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"sort"

	"github.com/knockd-go/knockd-go/src/tools/apkpack/adb"
)

// Fields of the index object (ADBI_NDX_*).
const (
	ndxDescription = 1
	ndxPackages    = 2
)

// IndexInput is one package file for an index.
type IndexInput struct {
	Name string // file name, for messages and the name check
	Data []byte // the .apk file as stored (compressed)
}

// BuildIndex makes a repository index (packages.adb) the way apk mkndx
// does: each package's info copied from the package, its file size and
// identity (SHA-256 of its database) added, the list sorted by name. The
// file name of each package must be ${name}-${version}.apk, the name apk
// fetches it by.
func BuildIndex(pkgs []IndexInput, description string, key *ecdsa.PrivateKey) (*adb.File, error) {
	b := adb.NewBuilder()
	type entry struct {
		name, version string
		v             adb.Val
	}
	var entries []entry
	seen := map[string]string{}
	for _, in := range pkgs {
		f, err := openFile(in.Data, SchemaPackage)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		db, err := adb.ParseDB(f.ADB)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		root, err := db.Slots(db.Root())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		pi, err := readPkgInfo(db, root.Get(pkgInfo))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		if want := FileName(pi.Name, pi.Version); in.Name != want {
			return nil, fmt.Errorf("%s: apk fetches this package as %s", in.Name, want)
		}
		if prev, ok := seen[pi.Name]; ok {
			return nil, fmt.Errorf("%s: package %s is already in the index (%s)", in.Name, pi.Name, prev)
		}
		seen[pi.Name] = in.Name
		src, err := db.Slots(root.Get(pkgInfo))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Name, err)
		}
		slots := make([]adb.Val, max(len(src), piMax))
		for i := 1; i < len(src); i++ {
			if slots[i], err = b.Copy(db, src[i]); err != nil {
				return nil, fmt.Errorf("%s: copy info: %w", in.Name, err)
			}
		}
		slots[piFileSize] = b.Int(uint64(len(in.Data)))
		id := sha256.Sum256(f.ADB)
		slots[piHashes] = b.Blob(id[:])
		entries = append(entries, entry{pi.Name, pi.Version, b.Object(slots[1:]...)})
	}
	// apk sorts by name, then version; versions are compared as strings
	// here, and one index holds one version of a package.
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].name != entries[j].name {
			return entries[i].name < entries[j].name
		}
		return entries[i].version < entries[j].version
	})
	vals := make([]adb.Val, len(entries))
	for i, e := range entries {
		vals[i] = e.v
	}
	desc := b.String(description)
	b.SetRoot(b.Object(desc, b.Object(vals...)))
	if err := b.Err(); err != nil {
		return nil, err
	}
	f := &adb.File{Schema: SchemaIndex, ADB: b.Bytes()}
	if key != nil {
		sig, err := adb.Sign(key, SchemaIndex, f.ADB)
		if err != nil {
			return nil, err
		}
		f.Sigs = append(f.Sigs, sig)
	}
	return f, nil
}

// openFile decompresses and parses an ADB file and checks its schema.
func openFile(data []byte, schema uint32) (*adb.File, error) {
	raw, err := adb.Decompress(data)
	if err != nil {
		return nil, err
	}
	f, err := adb.Parse(raw)
	if err != nil {
		return nil, err
	}
	if f.Schema != schema {
		return nil, fmt.Errorf("schema %q, want %q", schemaName(f.Schema), schemaName(schema))
	}
	return f, nil
}

func schemaName(s uint32) string {
	return string([]byte{byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24)})
}

// Index is a repository index read back.
type Index struct {
	Description string
	Packages    []PkgInfo
	File        *adb.File
}

// ReadIndex reads packages.adb. With keys, one of its signatures must
// verify with one of them, as apk requires of a repository index.
func ReadIndex(data []byte, keys []*ecdsa.PublicKey) (*Index, error) {
	f, err := openFile(data, SchemaIndex)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		if err := adb.VerifyFile(f, keys); err != nil {
			return nil, err
		}
	}
	if len(f.Data) > 0 {
		return nil, fmt.Errorf("index holds %d data blocks", len(f.Data))
	}
	db, err := adb.ParseDB(f.ADB)
	if err != nil {
		return nil, err
	}
	root, err := db.Slots(db.Root())
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	desc, err := db.Blob(root.Get(ndxDescription))
	if err != nil {
		return nil, fmt.Errorf("index: description: %w", err)
	}
	arr, err := db.Slots(root.Get(ndxPackages))
	if err != nil {
		return nil, fmt.Errorf("index: packages: %w", err)
	}
	ix := &Index{Description: string(desc), File: f}
	for i := 1; i <= arr.Len(); i++ {
		pi, err := readPkgInfo(db, arr.Get(i))
		if err != nil {
			return nil, fmt.Errorf("index: package %d: %w", i, err)
		}
		if len(pi.Hashes) != sha256.Size {
			return nil, fmt.Errorf("index: package %s: identity of %d bytes, want %d", pi.Name, len(pi.Hashes), sha256.Size)
		}
		ix.Packages = append(ix.Packages, pi)
	}
	return ix, nil
}

// Check verifies that a package matches its entry in an index as apk
// checks a fetched package: the SHA-256 of its database is the identity
// the index recorded (which makes the package trusted without a signature
// of its own), and its size is the recorded file size.
func (pi PkgInfo) Check(data []byte) error {
	f, err := openFile(data, SchemaPackage)
	if err != nil {
		return err
	}
	id := sha256.Sum256(f.ADB)
	if !bytes.Equal(id[:], pi.Hashes) {
		return fmt.Errorf("%s: identity %x, index says %x", FileName(pi.Name, pi.Version), id, pi.Hashes)
	}
	if pi.FileSize != 0 && pi.FileSize != uint64(len(data)) {
		return fmt.Errorf("%s: %d bytes, index says %d", FileName(pi.Name, pi.Version), len(data), pi.FileSize)
	}
	return nil
}
