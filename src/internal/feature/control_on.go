//go:build !knockd_nocontrol

package feature

// Control: this build has it.
const Control = true
