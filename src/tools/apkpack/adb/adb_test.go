package adb

import (
	"bytes"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	p, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuilderLayout checks the bytes of small databases against the
// layout rules of apk-tools' adb.c: little-endian words, blobs aligned to
// their length prefix, numbers and objects to 4 bytes, zero padding,
// identical data stored once, trailing Null fields dropped.
func TestBuilderLayout(t *testing.T) {
	hdr := "00000000 00000000"
	tests := []struct {
		name  string
		build func(b *Builder) Val
		want  string // database after the root is set
		root  Val
	}{
		{"empty blob is null", func(b *Builder) Val { return b.Blob(nil) }, hdr, Null},
		{"small int inline", func(b *Builder) Val { return b.Int(5) }, "00000000 05000010", TypeInt | 5},
		{"blob8", func(b *Builder) Val { return b.String("ab") }, "00000000 08000080 026162", TypeBlob8 | 8},
		{"blob shared", func(b *Builder) Val { b.String("ab"); b.String("cd"); return b.String("ab") },
			"00000000 08000080 026162 026364", TypeBlob8 | 8},
		{"int32 aligned", func(b *Builder) Val { b.String("x"); return b.Int(0x10000000) },
			"00000000 0c000020 0178 0000 00000010", TypeInt32 | 12},
		{"int64", func(b *Builder) Val { return b.Int(1 << 32) },
			"00000000 08000030 00000000 01000000", TypeInt64 | 8},
		{"object trims trailing nulls", func(b *Builder) Val { return b.Object(b.Int(1), Null, Null) },
			"00000000 080000e0 02000000 01000010", TypeObject | 8},
		{"null inside object kept", func(b *Builder) Val { return b.Object(Null, b.Int(2)) },
			"00000000 080000e0 03000000 00000000 02000010", TypeObject | 8},
		{"empty object is null", func(b *Builder) Val { return b.Object(Null) }, hdr, Null},
		{"array of blobs", func(b *Builder) Val { return b.Array(b.String("a"), b.String("b")) },
			"00000000 0c0000d0 0161 0162 03000000 08000080 0a000080", TypeArray | 12},
		{"raw blob not shared", func(b *Builder) Val { b.String("z"); v, _ := b.BlobRaw([]byte("z")); return v },
			"00000000 0a000080 017a 017a", TypeBlob8 | 10},
		{"misaligned copy not reused", func(b *Builder) Val {
			b.String("x")
			b.Blob([]byte{0, 0, 0x10}) // bytes 03 00 00 10 at offset 10
			return b.Int(0x10000003)   // the same bytes, but needs offset%4 == 0
		}, "00000000 10000020 0178 03000010 0000 03000010", TypeInt32 | 16},
	}
	for _, tt := range tests {
		b := NewBuilder()
		root := tt.build(b)
		b.SetRoot(root)
		if err := b.Err(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if root != tt.root {
			t.Errorf("%s: value %#08x, want %#08x", tt.name, uint32(root), uint32(tt.root))
		}
		if got, want := b.Bytes(), unhex(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tt.name, got, want)
		}
	}
}

// TestBlobSizes checks the three blob encodings at their limits.
func TestBlobSizes(t *testing.T) {
	tests := []struct {
		n    int
		typ  Val
		head int
	}{{1, TypeBlob8, 1}, {255, TypeBlob8, 1}, {256, TypeBlob16, 2}, {65535, TypeBlob16, 2}, {65536, TypeBlob32, 4}}
	for _, tt := range tests {
		b := NewBuilder()
		b.String("x") // offset 9: the next blob needs alignment
		p := bytes.Repeat([]byte{7}, tt.n)
		v := b.Blob(p)
		if v.Type() != tt.typ || int(v.Value())%tt.head != 0 {
			t.Errorf("%d bytes: value %#08x, want type %#08x aligned to %d", tt.n, uint32(v), uint32(tt.typ), tt.head)
		}
		got, err := DB(b.Bytes()).Blob(v)
		if err != nil || !bytes.Equal(got, p) {
			t.Errorf("%d bytes: read back %d bytes, %v", tt.n, len(got), err)
		}
	}
}

func TestReadBack(t *testing.T) {
	b := NewBuilder()
	name := b.String("knockd-go")
	big := b.Int(1 << 40)
	obj := b.Object(name, Null, big, b.Int(7))
	b.SetRoot(b.Object(obj, b.Array(name, name)))
	db, err := ParseDB(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	checkReadBack(t, "built", db)
	// A copy (as mkndx copies package info) reads back the same; apk copies
	// 8-byte numbers with 8-byte alignment.
	c := NewBuilder()
	cv, err := c.Copy(db, db.Root())
	if err != nil {
		t.Fatal(err)
	}
	c.SetRoot(cv)
	checkReadBack(t, "copied", DB(c.Bytes()))
	cs, _ := DB(c.Bytes()).Slots(cv)
	co, _ := DB(c.Bytes()).Slots(cs.Get(1))
	if v := co.Get(3); v.Type() != TypeInt64 || v.Value()%8 != 0 {
		t.Errorf("copied 64-bit number at %#08x, want 8-byte aligned", uint32(v))
	}

	bad := []struct {
		name string
		read func() error
	}{
		{"blob past the end", func() error { _, err := db.Blob(TypeBlob8 | Val(len(db)-1)); return err }},
		{"int32 past the end", func() error { _, err := db.Int(TypeInt32 | Val(len(db)-2)); return err }},
		{"blob read as int", func() error { _, err := db.Int(name); return err }},
		{"int read as blob", func() error { _, err := db.Blob(TypeInt | 3); return err }},
		{"object past the end", func() error { _, err := db.Slots(TypeObject | Val(len(db))); return err }},
		{"blob read as object", func() error { _, err := db.Slots(name); return err }},
	}
	for _, tt := range bad {
		if err := tt.read(); !errors.Is(err, ErrRange) && !errors.Is(err, ErrType) {
			t.Errorf("%s: error %v", tt.name, err)
		}
	}
	if _, err := ParseDB([]byte{1, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("compat version 1 accepted")
	}
}

func checkReadBack(t *testing.T, what string, db DB) {
	t.Helper()
	root, err := db.Slots(db.Root())
	if err != nil {
		t.Fatal(err)
	}
	o, err := db.Slots(root.Get(1))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := db.Blob(o.Get(1)); err != nil || string(s) != "knockd-go" {
		t.Errorf("%s: field 1: %q %v", what, s, err)
	}
	if o.Get(2) != Null || o.Get(9) != Null || o.Get(0) != Null {
		t.Errorf("%s: absent fields must read as Null", what)
	}
	if n, err := db.Int(o.Get(3)); err != nil || n != 1<<40 {
		t.Errorf("%s: field 3: %d %v", what, n, err)
	}
	if n, err := db.Int(o.Get(4)); err != nil || n != 7 {
		t.Errorf("%s: field 4: %d %v", what, n, err)
	}
	arr, err := db.Slots(root.Get(2))
	if err != nil || arr.Len() != 2 || arr.Get(1) != o.Get(1) {
		t.Errorf("%s: array: %v %v", what, arr, err)
	}
}

func TestFileBlocks(t *testing.T) {
	f := &File{Schema: 0x676b6370, ADB: make([]byte, 8), Sigs: [][]byte{{1, 2, 3}}, Data: [][]byte{{9}}}
	want := unhex(t, `4144422e 70636b67
		0c000000 0000000000000000 00000000
		07000040 010203 00
		05000080 09 000000`)
	got := f.Encode()
	if !bytes.Equal(got, want) {
		t.Fatalf("encode:\n got %x\nwant %x", got, want)
	}
	back, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Schema != f.Schema || len(back.Sigs) != 1 || !bytes.Equal(back.Data[0], []byte{9}) {
		t.Errorf("parse: %+v", back)
	}
	adbBlock := AppendBlock(nil, BlockADB, make([]byte, 8))
	sig := AppendBlock(nil, BlockSig, []byte{1})
	data := AppendBlock(nil, BlockData, []byte{1})
	head := []byte("ADB.pckg")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	bad := []struct {
		name string
		p    []byte
	}{
		{"no magic", cat([]byte("ADBxpckg"), adbBlock)},
		{"no ADB block", head},
		{"signature first", cat(head, sig, adbBlock)},
		{"two ADB blocks", cat(head, adbBlock, adbBlock)},
		{"signature after data", cat(head, adbBlock, data, sig)},
		{"padding missing", cat(head, adbBlock, sig[:5])},
		{"size beyond the end", cat(head, adbBlock, []byte{0xff, 0, 0, 0x40, 0, 0, 0, 0})},
	}
	for _, tt := range bad {
		if _, err := Parse(tt.p); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v", tt.name, err)
		}
	}
}

func TestCompression(t *testing.T) {
	raw := (&File{Schema: 0x78646e69, ADB: make([]byte, 64)}).Encode()
	z, err := Compress(raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(z[:4]) != "ADBd" {
		t.Fatalf("prefix %q", z[:4])
	}
	for _, in := range [][]byte{z, raw, append([]byte{'A', 'D', 'B', 'c', 0, 1}, raw...)} {
		out, err := Decompress(in)
		if err != nil || !bytes.Equal(out, raw) {
			t.Errorf("decompress %q...: %v", in[:4], err)
		}
	}
	for _, in := range [][]byte{[]byte("ADBc\x02\x03zstd"), []byte("ADBd\xff\xff"), []byte("PK\x03\x04")} {
		if _, err := Decompress(in); err == nil {
			t.Errorf("decompress %q accepted", in)
		}
	}
}

// generatorKey is the P-256 key whose secret is 1: its public key is the
// curve's base point, so its id can be checked by hand.
func generatorKey() *ecdsa.PrivateKey {
	c := elliptic.P256()
	return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: c.Params().Gx, Y: c.Params().Gy}, D: big.NewInt(1)}
}

func TestKeyID(t *testing.T) {
	// SHA-512 of 04 || Gx || Gy, first 16 bytes; the same as
	// "openssl ec -pubout -conv_form uncompressed -outform DER | tail -c 65 | sha512sum".
	id, err := KeyID(&generatorKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id[:]); got != "cf4685e609b1d0af89e5aa1d1ec5ae60" {
		t.Errorf("key id %s", got)
	}
}

func TestSignVerify(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other := generatorKey()
	db := NewBuilder()
	db.SetRoot(db.Object(db.String("hello")))
	f := &File{Schema: 0x78646e69, ADB: db.Bytes()}
	sig, err := Sign(key, f.Schema, f.ADB)
	if err != nil {
		t.Fatal(err)
	}
	if sig[0] != 0 || sig[1] != 4 || len(sig) < 18+64 {
		t.Errorf("signature header %x", sig[:2])
	}
	f.Sigs = [][]byte{sig}
	if err := VerifyFile(f, []*ecdsa.PublicKey{&other.PublicKey, &key.PublicKey}); err != nil {
		t.Errorf("verify: %v", err)
	}
	tests := []struct {
		name   string
		schema uint32
		db     []byte
		sig    []byte
		key    *ecdsa.PublicKey
	}{
		{"other key", f.Schema, f.ADB, sig, &other.PublicKey},
		{"other schema", 0x676b6370, f.ADB, sig, &key.PublicKey},
		{"changed database", f.Schema, append(append([]byte(nil), f.ADB...), 0), sig, &key.PublicKey},
		{"changed signature", f.Schema, f.ADB, append(append([]byte(nil), sig[:len(sig)-1]...), sig[len(sig)-1]^1), &key.PublicKey},
		{"short", f.Schema, f.ADB, sig[:10], &key.PublicKey},
		{"sha256 header", f.Schema, f.ADB, append([]byte{0, 3}, sig[2:]...), &key.PublicKey},
	}
	for _, tt := range tests {
		if err := Verify(tt.key, tt.schema, tt.db, tt.sig); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: error %v", tt.name, err)
		}
	}
	if err := VerifyFile(&File{Schema: f.Schema, ADB: f.ADB}, []*ecdsa.PublicKey{&key.PublicKey}); err == nil {
		t.Error("unsigned file verified")
	}

	// Keys survive PEM encoding.
	sec, err := MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := MarshalPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivateKey(sec)
	if err != nil || !k2.Equal(key) {
		t.Errorf("private key round trip: %v", err)
	}
	p2, err := ParsePublicKey(pub)
	if err != nil || !p2.Equal(&key.PublicKey) {
		t.Errorf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKey(sec); err == nil {
		t.Error("private key read as public key")
	}
	if _, err := ParsePrivateKey([]byte("not a key")); err == nil {
		t.Error("garbage read as private key")
	}
}

// TestCompressSmallest: with a gzip program the stream is zlib's, no larger
// than Go's compress/flate at level 9, and inflates to the input.
func TestCompressSmallest(t *testing.T) {
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("no gzip program")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	z, err := Compress(raw)
	if err != nil {
		t.Fatal(err)
	}
	var g bytes.Buffer
	w, _ := flate.NewWriter(&g, flate.BestCompression)
	w.Write(raw)
	w.Close()
	if len(z)-4 > g.Len() {
		t.Errorf("Compress: %d bytes of deflate, Go's flate level 9: %d", len(z)-4, g.Len())
	}
	back, err := Decompress(z)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("Decompress(Compress(x)) != x: %v", err)
	}
	t.Logf("%d bytes: gzip -9n's deflate %d, Go's %d", len(raw), len(z)-4, g.Len())
}
