//go:build knockd_nodoctor

package feature

// Doctor: left out of this build (tag knockd_nodoctor).
const Doctor = false
