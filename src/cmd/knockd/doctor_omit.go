//go:build linux && knockd_nodoctor

package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/knockd-go/knockd-go/src/internal/feature"
)

// doctorCmd: this build has no doctor (tag knockd_nodoctor, docs/size.md).
func doctorCmd(_ flags, _ []string, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "knockd: %v\n", feature.Missing("doctor", "knockd_nodoctor"))
	return 2
}

// rpcdDoctor answers `ubus call knockd doctor` of a build without the doctor.
func rpcdDoctor(_ flags, stdout io.Writer) int {
	io.WriteString(stdout, `{"error":`+strconv.Quote(feature.Missing("doctor", "knockd_nodoctor").Error())+"}\n")
	return 0
}
