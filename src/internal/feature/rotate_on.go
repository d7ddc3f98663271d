//go:build !knockd_norotate

package feature

// Rotate: this build has it.
const Rotate = true
