//go:build knockd_norotate

package feature

// Rotate: left out of this build (tag knockd_norotate).
const Rotate = false
