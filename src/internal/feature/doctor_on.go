//go:build !knockd_nodoctor

package feature

// Doctor: this build has it.
const Doctor = true
