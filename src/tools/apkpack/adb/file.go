package adb

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// Block types.
const (
	BlockADB  = 0
	BlockSig  = 1
	BlockData = 2
	blockExt  = 3
)

// Magic starts every uncompressed ADB file; the schema follows it.
const Magic = "ADB."

// blockAlign is the alignment of every block.
const blockAlign = 8

// maxSmallBlock is the largest raw block size (header included) that fits
// the 30 bits of a plain block header.
const maxSmallBlock = 0x3fffffff

// File is an ADB file: one database, its signatures and, in a package, the
// contents of its files.
type File struct {
	Schema uint32
	ADB    []byte   // payload of the ADB block: the database
	Sigs   [][]byte // payloads of the SIG blocks
	Data   [][]byte // payloads of the DATA blocks
}

// AppendBlock appends one block: its header, payload and padding.
func AppendBlock(dst []byte, typ int, payload []byte) []byte {
	if raw := 4 + len(payload); raw <= maxSmallBlock {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(typ)<<30|uint32(raw))
	} else {
		dst = binary.LittleEndian.AppendUint32(dst, blockExt<<30|uint32(typ))
		dst = binary.LittleEndian.AppendUint32(dst, 0)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(16+len(payload)))
	}
	dst = append(dst, payload...)
	for len(dst)%blockAlign != 0 {
		dst = append(dst, 0)
	}
	return dst
}

// Encode returns the uncompressed file: magic, schema, the ADB block, the
// SIG blocks, the DATA blocks.
func (f *File) Encode() []byte {
	out := append([]byte(Magic), binary.LittleEndian.AppendUint32(nil, f.Schema)...)
	out = AppendBlock(out, BlockADB, f.ADB)
	for _, s := range f.Sigs {
		out = AppendBlock(out, BlockSig, s)
	}
	for _, d := range f.Data {
		out = AppendBlock(out, BlockData, d)
	}
	return out
}

// ErrFormat is wrapped by every error about a malformed file.
var ErrFormat = errors.New("adb: malformed file")

// Parse reads an uncompressed file. The blocks must come in apk's order:
// one ADB block, then SIG blocks, then DATA blocks; every block padded to 8
// bytes. Signatures are not checked here.
func Parse(p []byte) (*File, error) {
	if len(p) < 8 || string(p[:4]) != Magic {
		return nil, fmt.Errorf("%w: no %q header", ErrFormat, Magic)
	}
	f := &File{Schema: binary.LittleEndian.Uint32(p[4:8])}
	seenADB := false
	for off := 8; off < len(p); {
		typ, payload, size, err := block(p[off:])
		if err != nil {
			return nil, fmt.Errorf("%w: block at %d: %v", ErrFormat, off, err)
		}
		switch {
		case typ == BlockADB && !seenADB:
			if len(payload) < HeaderSize || payload[0] != 0 {
				return nil, fmt.Errorf("%w: bad ADB block at %d", ErrFormat, off)
			}
			f.ADB, seenADB = payload, true
		case typ == BlockSig && seenADB && len(f.Data) == 0:
			f.Sigs = append(f.Sigs, payload)
		case typ == BlockData && seenADB:
			f.Data = append(f.Data, payload)
		default:
			return nil, fmt.Errorf("%w: block of type %d at %d out of order", ErrFormat, typ, off)
		}
		off += size
	}
	if !seenADB {
		return nil, fmt.Errorf("%w: no ADB block", ErrFormat)
	}
	return f, nil
}

// block decodes the block at the start of p: its type, payload and size
// with padding.
func block(p []byte) (typ int, payload []byte, size int, err error) {
	if len(p) < 4 {
		return 0, nil, 0, errors.New("truncated header")
	}
	word := binary.LittleEndian.Uint32(p)
	typ, hdr, raw := int(word>>30), 4, uint64(word&maxSmallBlock)
	if typ == blockExt {
		if len(p) < 16 {
			return 0, nil, 0, errors.New("truncated extended header")
		}
		typ, hdr, raw = int(word&maxSmallBlock), 16, binary.LittleEndian.Uint64(p[8:])
	}
	if typ > BlockData {
		return 0, nil, 0, fmt.Errorf("unknown type %d", typ)
	}
	if raw < uint64(hdr) || raw > uint64(len(p)) {
		return 0, nil, 0, fmt.Errorf("size %d outside %d..%d", raw, hdr, len(p))
	}
	size = int(raw+blockAlign-1) / blockAlign * blockAlign
	if size > len(p) {
		return 0, nil, 0, errors.New("padding missing")
	}
	return typ, p[hdr:raw], size, nil
}

// Compression prefixes: "ADB." is an uncompressed file, "ADBd" a raw
// deflate stream of one, "ADBc" a compression spec (algorithm, level)
// followed by the stream.
const (
	compDeflate = 1
)

// Compress returns raw (an uncompressed file) the way apk writes it by
// default: "ADBd" and a raw deflate stream at level 9. The stream is
// gzip -9n's (zlib's encoder, the one apk-tools links, and the .ipk's) when
// a gzip program is found: about 1.7 % smaller than Go's compress/flate on
// a Go binary; else Go's.
func Compress(raw []byte) ([]byte, error) {
	if s, err := gzipDeflate(raw); err == nil {
		return append([]byte("ADBd"), s...), nil
	}
	var buf bytes.Buffer
	buf.WriteString("ADBd")
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decompress returns the uncompressed file of an ADB file as apk reads it:
// plain, deflate ("ADBd") or a compression spec naming deflate ("ADBc").
func Decompress(p []byte) ([]byte, error) {
	if len(p) < 4 || string(p[:3]) != "ADB" {
		return nil, fmt.Errorf("%w: not an ADB file", ErrFormat)
	}
	var stream []byte
	switch p[3] {
	case '.':
		return p, nil
	case 'd':
		stream = p[4:]
	case 'c':
		if len(p) < 6 {
			return nil, fmt.Errorf("%w: truncated compression spec", ErrFormat)
		}
		switch p[4] {
		case 0:
			return p[6:], nil
		case compDeflate:
			stream = p[6:]
		default:
			return nil, fmt.Errorf("%w: compression algorithm %d not supported", ErrFormat, p[4])
		}
	default:
		return nil, fmt.Errorf("%w: unknown compression %q", ErrFormat, p[:4])
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
	if err != nil {
		return nil, fmt.Errorf("%w: deflate: %v", ErrFormat, err)
	}
	return out, nil
}

// gzipDeflate returns the raw deflate stream of `gzip -9n` for raw: the
// member's body without its 10-byte header (no name, no time, no extra
// fields: gzip -n on a pipe) and 8-byte trailer, checked by inflating it.
func gzipDeflate(raw []byte) ([]byte, error) {
	path, err := exec.LookPath("gzip")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "-9n")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	if len(out) < 18 || out[0] != 0x1f || out[1] != 0x8b || out[2] != 8 || out[3] != 0 {
		return nil, errors.New("gzip: unexpected header")
	}
	s := out[10 : len(out)-8]
	back, err := io.ReadAll(flate.NewReader(bytes.NewReader(s)))
	if err != nil || !bytes.Equal(back, raw) {
		return nil, errors.New("gzip: stream does not inflate to the input")
	}
	return s, nil
}
