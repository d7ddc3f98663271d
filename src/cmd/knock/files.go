package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// maxFileSize bounds what knock reads from a secret, key or rc file.
const maxFileSize = 1 << 20

// readPrivate reads a file holding secrets. A regular file that other
// users may read or change is refused (fwknop only warns; its enforcement
// is commented out in client/utils.c), except on Windows, where the mode
// bits say nothing about access. Pipes and devices (a process
// substitution, /dev/stdin) are read as they are.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError: "open <path>: <reason>"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); fi.Mode().IsRegular() && perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%s: mode %04o lets other users read or change it: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}
