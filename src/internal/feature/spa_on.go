//go:build !knockd_nospa

package feature

// SPA: this build has it.
const SPA = true
