package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A listing is the per-package table of one binary saved as text (sizeof
// -save FILE BINARY), so that -diff can compare a build with one measured
// earlier without rebuilding the old tree:
//
//	# sizeof listing
//	alloc 3576012
//	file 5032515
//	TEXT DATA PCLN PACKAGE        (bytes, one line per package)
const listingHeader = "# sizeof listing"

var errNotListing = errors.New("not a sizeof listing")

func saveListing(out, bin string) error {
	r, err := analyze(bin, false)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nalloc %d\nfile %d\n", listingHeader, r.alloc, r.file)
	for _, name := range sortedByTotal(r.pkgs) {
		c := r.pkgs[name]
		fmt.Fprintf(&b, "%.0f %.0f %.0f %s\n", c.text, c.data, c.pcln, name)
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// loadListing reads a saved listing; errNotListing when path is something
// else (a binary, a directory to build).
func loadListing(path string) (*report, error) {
	f, err := os.Open(path)
	if err != nil {
		if build {
			return nil, errNotListing
		}
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != listingHeader {
		return nil, errNotListing
	}
	r := &report{pkgs: map[string]*cost{}}
	for line := 2; sc.Scan(); line++ {
		fs := strings.SplitN(sc.Text(), " ", 4)
		switch {
		case len(fs) == 2 && fs[0] == "alloc":
			r.alloc, err = strconv.ParseUint(fs[1], 10, 64)
		case len(fs) == 2 && fs[0] == "file":
			r.file, err = strconv.ParseInt(fs[1], 10, 64)
		case len(fs) == 4:
			var c cost
			if c.text, err = strconv.ParseFloat(fs[0], 64); err == nil {
				if c.data, err = strconv.ParseFloat(fs[1], 64); err == nil {
					c.pcln, err = strconv.ParseFloat(fs[2], 64)
				}
			}
			r.pkgs[fs[3]] = &c
		default:
			err = errors.New("want TEXT DATA PCLN PACKAGE")
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
	}
	return r, sc.Err()
}
