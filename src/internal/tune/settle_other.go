//go:build !linux

package tune

// Settled does nothing where there is no /proc/self/maps.
func Settled() {}
