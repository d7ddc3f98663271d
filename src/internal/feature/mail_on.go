//go:build !knockd_nomail

package feature

// Mail: this build has it.
const Mail = true
