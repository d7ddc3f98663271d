// Package adb reads and writes the ADB format of apk-tools 3, the package
// manager of OpenWrt 25.12: a database of tagged 32-bit values (numbers,
// blobs, arrays, objects) inside a file of typed blocks (ADB, SIG, DATA),
// signed with ECDSA and usually deflate-compressed.
//
// The wire format is the one apk-tools v3.0.6 documents in doc/apk-v3.5 and
// implements in src/adb.c. The Builder lays values out the way apk-tools
// does (same alignment, identical values stored once), so that a database
// built in the same order as apk's own tools is byte-identical to theirs.
package adb

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Val is one tagged value: the high 4 bits are the type, the low 28 bits
// either the value itself (Special, Int) or the offset of the value in the
// database (everything else).
type Val uint32

// Value types.
const (
	TypeSpecial Val = 0x00000000
	TypeInt     Val = 0x10000000
	TypeInt32   Val = 0x20000000
	TypeInt64   Val = 0x30000000
	TypeBlob8   Val = 0x80000000
	TypeBlob16  Val = 0x90000000
	TypeBlob32  Val = 0xa0000000
	TypeArray   Val = 0xd0000000
	TypeObject  Val = 0xe0000000

	typeMask  Val = 0xf0000000
	valueMask Val = 0x0fffffff
)

// Special values.
const (
	Null  Val = 0
	True  Val = 1
	False Val = 2
)

// HeaderSize is the size of the database header (compat version, version,
// reserved, root value) at the start of every database.
const HeaderSize = 8

// Type returns the type bits of v.
func (v Val) Type() Val { return v & typeMask }

// Value returns the immediate value or offset of v.
func (v Val) Value() uint32 { return uint32(v & valueMask) }

// Builder writes a database. Values are appended as they are created, so
// the order of calls decides the layout; identical data (the same blob,
// number or object) is stored once, as apk-tools does.
type Builder struct {
	buf  []byte
	seen map[string]int
	err  error
}

// NewBuilder returns a builder holding an empty database header.
func NewBuilder() *Builder {
	return &Builder{buf: make([]byte, HeaderSize), seen: map[string]int{}}
}

// Err reports the first error met while building (an offset beyond 28
// bits); values made after it are Null.
func (b *Builder) Err() error { return b.err }

// write appends data aligned to align and returns its offset. With dedup,
// an earlier copy at a suitable alignment is reused and a new copy becomes
// the one found next time.
func (b *Builder) write(data []byte, align int, dedup bool) int {
	if b.err != nil {
		return 0
	}
	key := string(data)
	if dedup {
		if off, ok := b.seen[key]; ok && off%align == 0 {
			return off
		}
	}
	for len(b.buf)%align != 0 {
		b.buf = append(b.buf, 0)
	}
	off := len(b.buf)
	if off > int(valueMask) {
		b.err = fmt.Errorf("adb: database larger than %d bytes", valueMask)
		return 0
	}
	b.buf = append(b.buf, data...)
	if dedup {
		b.seen[key] = off
	}
	return off
}

func (b *Builder) val(t Val, off int) Val {
	if b.err != nil {
		return Null
	}
	return t | Val(off)
}

// Blob stores p with a length prefix of 1, 2 or 4 bytes. An empty blob is
// Null, as in apk-tools.
func (b *Builder) Blob(p []byte) Val {
	v, _ := b.blob(p, true)
	return v
}

// String stores s as a blob.
func (b *Builder) String(s string) Val { return b.Blob([]byte(s)) }

// BlobRaw stores p without sharing it with other values, and returns the
// offset of its bytes so that they can be filled in later (apk's package
// identity is such a placeholder).
func (b *Builder) BlobRaw(p []byte) (Val, int) {
	return b.blob(p, false)
}

func (b *Builder) blob(p []byte, dedup bool) (Val, int) {
	var data []byte
	var t Val
	switch n := len(p); {
	case n == 0:
		return Null, 0
	case n <= 0xff:
		t, data = TypeBlob8, append([]byte{byte(n)}, p...)
	case n <= 0xffff:
		t, data = TypeBlob16, binary.LittleEndian.AppendUint16(nil, uint16(n))
		data = append(data, p...)
	default:
		t, data = TypeBlob32, binary.LittleEndian.AppendUint32(nil, uint32(n))
		data = append(data, p...)
	}
	off := b.write(data, len(data)-len(p), dedup)
	return b.val(t, off), off + len(data) - len(p)
}

// Int stores n: inline below 2^28, else as 4 or 8 bytes.
func (b *Builder) Int(n uint64) Val {
	switch {
	case n < uint64(valueMask)+1:
		return TypeInt | Val(n)
	case n <= 0xffffffff:
		return b.val(TypeInt32, b.write(binary.LittleEndian.AppendUint32(nil, uint32(n)), 4, true))
	default:
		return b.val(TypeInt64, b.write(binary.LittleEndian.AppendUint64(nil, n), 4, true))
	}
}

// Object stores the fields of an object: fields[i] is field number i+1.
// Trailing Null fields are dropped; an object without fields is Null.
func (b *Builder) Object(fields ...Val) Val { return b.slots(TypeObject, fields) }

func (b *Builder) slots(t Val, vals []Val) Val {
	n := len(vals)
	for n > 0 && vals[n-1] == Null {
		n--
	}
	if n == 0 {
		return Null
	}
	data := binary.LittleEndian.AppendUint32(make([]byte, 0, 4*(n+1)), uint32(n+1))
	for _, v := range vals[:n] {
		data = binary.LittleEndian.AppendUint32(data, uint32(v))
	}
	return b.val(t, b.write(data, 4, true))
}

// SetRoot records the root value in the header.
func (b *Builder) SetRoot(v Val) { binary.LittleEndian.PutUint32(b.buf[4:8], uint32(v)) }

// Bytes returns the database: the payload of the file's ADB block. Later
// calls on the builder may change it.
func (b *Builder) Bytes() []byte { return b.buf }

// DB is a database read from an ADB block.
type DB []byte

// Errors reading a database.
var (
	ErrRange = errors.New("adb: value outside the database")
	ErrType  = errors.New("adb: value of the wrong type")
)

// ParseDB checks the header of an ADB block payload.
func ParseDB(p []byte) (DB, error) {
	if len(p) < HeaderSize {
		return nil, fmt.Errorf("adb: database of %d bytes, shorter than its header", len(p))
	}
	if p[0] != 0 {
		return nil, fmt.Errorf("adb: database compat version %d, want 0", p[0])
	}
	return DB(p), nil
}

// Root returns the root value.
func (d DB) Root() Val { return Val(binary.LittleEndian.Uint32(d[4:8])) }

func (d DB) at(v Val, extra, n int) ([]byte, error) {
	off := int(v.Value()) + extra
	if off+n > len(d) || n < 0 {
		return nil, fmt.Errorf("%w: %d bytes at %d of %d", ErrRange, n, off, len(d))
	}
	return d[off : off+n], nil
}

// Int reads a number; Null reads as 0.
func (d DB) Int(v Val) (uint64, error) {
	switch v.Type() {
	case TypeSpecial:
		if v == Null {
			return 0, nil
		}
	case TypeInt:
		return uint64(v.Value()), nil
	case TypeInt32:
		p, err := d.at(v, 0, 4)
		if err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint32(p)), nil
	case TypeInt64:
		p, err := d.at(v, 0, 8)
		if err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(p), nil
	}
	return 0, fmt.Errorf("%w: %#08x is not a number", ErrType, uint32(v))
}

// Blob reads a blob; Null reads as nil.
func (d DB) Blob(v Val) ([]byte, error) {
	var n, hdr int
	switch v.Type() {
	case TypeSpecial:
		if v == Null {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %#08x is not a blob", ErrType, uint32(v))
	case TypeBlob8:
		p, err := d.at(v, 0, 1)
		if err != nil {
			return nil, err
		}
		n, hdr = int(p[0]), 1
	case TypeBlob16:
		p, err := d.at(v, 0, 2)
		if err != nil {
			return nil, err
		}
		n, hdr = int(binary.LittleEndian.Uint16(p)), 2
	case TypeBlob32:
		p, err := d.at(v, 0, 4)
		if err != nil {
			return nil, err
		}
		n, hdr = int(binary.LittleEndian.Uint32(p)), 4
	default:
		return nil, fmt.Errorf("%w: %#08x is not a blob", ErrType, uint32(v))
	}
	return d.at(v, hdr, n)
}

// Slots reads an object or array: Slots[i] is field (or item) number i,
// for i from 1; Slots[0] is unused. Null reads as an empty one.
func (d DB) Slots(v Val) (Slots, error) {
	if v == Null {
		return Slots{1}, nil
	}
	if t := v.Type(); t != TypeObject && t != TypeArray {
		return nil, fmt.Errorf("%w: %#08x is not an object or array", ErrType, uint32(v))
	}
	p, err := d.at(v, 0, 4)
	if err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(p))
	if n == 0 || n > len(d)/4 {
		return nil, fmt.Errorf("%w: object of %d slots", ErrRange, n)
	}
	if p, err = d.at(v, 0, 4*n); err != nil {
		return nil, err
	}
	s := make(Slots, n)
	for i := range s {
		s[i] = Val(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return s, nil
}

// Slots are the values of an object or array as Slots returns them.
type Slots []Val

// Get returns field i, Null when absent.
func (s Slots) Get(i int) Val {
	if i <= 0 || i >= len(s) {
		return Null
	}
	return s[i]
}

// Len returns the number of items of an array.
func (s Slots) Len() int { return len(s) - 1 }

// Copy stores value v of database src in b, as apk's adb_w_copy does when
// mkndx copies a package's info into an index: scalars and blobs copied
// with their original encoding, objects and arrays child by child with
// their slot count kept.
func (b *Builder) Copy(src DB, v Val) (Val, error) {
	var size, align int
	switch v.Type() {
	case TypeSpecial, TypeInt:
		return v, nil
	case TypeInt32:
		size, align = 4, 4
	case TypeInt64:
		size, align = 8, 8
	case TypeBlob8, TypeBlob16, TypeBlob32:
		p, err := src.Blob(v)
		if err != nil {
			return Null, err
		}
		align = map[Val]int{TypeBlob8: 1, TypeBlob16: 2, TypeBlob32: 4}[v.Type()]
		size = align + len(p)
	case TypeObject, TypeArray:
		s, err := src.Slots(v)
		if err != nil {
			return Null, err
		}
		data := binary.LittleEndian.AppendUint32(make([]byte, 0, 4*len(s)), uint32(len(s)))
		for _, c := range s[1:] {
			cv, err := b.Copy(src, c)
			if err != nil {
				return Null, err
			}
			data = binary.LittleEndian.AppendUint32(data, uint32(cv))
		}
		return b.val(v.Type(), b.write(data, 4, true)), nil
	default:
		return Null, fmt.Errorf("%w: cannot copy %#08x", ErrType, uint32(v))
	}
	p, err := src.at(v, 0, size)
	if err != nil {
		return Null, err
	}
	return b.val(v.Type(), b.write(p, align, true)), nil
}
