//go:build knockd_nomail

package feature

// Mail: left out of this build (tag knockd_nomail).
const Mail = false
