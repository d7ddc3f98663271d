package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxFileSize bounds a configuration file (knockd.conf or UCI).
const MaxFileSize = 4 << 20

// load opens the configuration file path and parses it with parse
// (Parse or ParseUCI).
func load(path string, parse func(name string, r io.Reader) (*Config, error)) (*Config, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(path, f)
}

// openFile opens a configuration file for reading: a regular file only
// (a FIFO or a device would block or never end), opened without blocking,
// read up to MaxFileSize bytes.
func openFile(path string) (io.ReadCloser, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("config: %s: not a regular file (%s)", path, fi.Mode().Type())
	} else if err == nil && fi.Size() > MaxFileSize {
		err = fmt.Errorf("config: %s: larger than %d bytes", path, MaxFileSize)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &cappedFile{f: f, r: io.LimitReader(f, MaxFileSize)}, nil
}

// cappedFile reads a file up to a limit (the file may grow after the
// size check). Not an embedded *os.File: that would link a wrapper of
// every method of os.File.
type cappedFile struct {
	_ [0]func() // not comparable: no equality function in the binary
	f *os.File
	r io.Reader
}

func (c *cappedFile) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *cappedFile) Close() error               { return c.f.Close() }
