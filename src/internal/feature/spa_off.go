//go:build knockd_nospa

package feature

// SPA: left out of this build (tag knockd_nospa).
const SPA = false
