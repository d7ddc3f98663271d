//go:build linux && knockd_nodoctor

package main

import (
	"fmt"
	"io"
)

// doctorCmd: this build has no doctor (tag knockd_nodoctor, docs/size.md).
func doctorCmd(_ flags, _ []string, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "knockd: doctor: not in this build (built with the tag knockd_nodoctor)\n")
	return 2
}

// rpcdDoctor answers `ubus call knockd doctor` of a build without the doctor.
func rpcdDoctor(_ flags, stdout io.Writer) int {
	io.WriteString(stdout, `{"error":"doctor: not in this build (built with the tag knockd_nodoctor)"}`+"\n")
	return 0
}
