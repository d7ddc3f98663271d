package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// OneTimeSeq is one usable line of a One_Time_Sequences file.
type OneTimeSeq struct {
	Line   int   // 1-based line number
	Offset int64 // byte offset of the line's first byte
	Steps  []l4.Port
}

// ReadOneTimeWith returns the usable sequences of a one-time sequences file in
// order: blank lines, comment lines and lines that do not parse are skipped,
// as knockd does. The file must be writable, because each used sequence is
// marked in place; and since its lines open doors, it must be a regular
// file owned by root (or the daemon's user) that nobody else can write,
// not reached through a symbolic link.
//
// open opens the file for reading and writing (OpenOneTime, or the
// spawner's for a daemon that may not open it itself); the file is
// checked whoever opened it.
func ReadOneTimeWith(open func(string) (*os.File, error), path string) ([]OneTimeSeq, error) {
	f, err := openChecked(open, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []OneTimeSeq
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), MaxLineLength)
	sc.Split(scanLinesKeepEnd)
	var off int64
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		start := off
		off += int64(len(b))
		s := strings.TrimSpace(string(b))
		if s == "" || s[0] == '#' {
			continue
		}
		steps, err := ParseSequence(s)
		if err != nil {
			continue
		}
		out = append(out, OneTimeSeq{Line: line, Offset: start, Steps: steps})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("one-time sequences: %s: %w", path, err)
	}
	return out, nil
}

// scanLinesKeepEnd is bufio.ScanLines without dropping the "\n" or "\r\n",
// so that the byte offsets of lines add up in files with CRLF endings.
func scanLinesKeepEnd(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// OpenOneTime opens a one-time sequences file for reading and writing,
// not through a symbolic link (nor blocking on a FIFO).
func OpenOneTime(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// openChecked opens a one-time sequences file with open, refusing what
// someone else could have put or changed there.
func openChecked(open func(string) (*os.File, error), path string) (*os.File, error) {
	f, err := open(path)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("one-time sequences: %s is a symbolic link, refused", path)
		}
		return nil, fmt.Errorf("one-time sequences: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("one-time sequences: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("one-time sequences: %s is not a regular file", path)
	case st != nil && st.Uid != 0 && int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("one-time sequences: %s is owned by uid %d, not root", path, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		err = fmt.Errorf("one-time sequences: %s is writable by group or others (mode %#o): chmod go-w", path, fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// MarkUsedWith overwrites the first byte of the sequence's line with '#', as
// knockd does, so the sequence is never accepted again.
// The file is opened by open, as ReadOneTimeWith opens it.
func MarkUsedWith(open func(string) (*os.File, error), path string, s OneTimeSeq) error {
	f, err := openChecked(open, path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{'#'}, s.Offset); err != nil {
		return fmt.Errorf("one-time sequences: mark line %d of %s: %w", s.Line, path, err)
	}
	return f.Sync()
}
