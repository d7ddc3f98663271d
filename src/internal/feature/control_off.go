//go:build knockd_nocontrol

package feature

// Control: left out of this build (tag knockd_nocontrol).
const Control = false
