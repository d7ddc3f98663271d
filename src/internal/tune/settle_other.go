//go:build !linux

package tune

// Settled does nothing here: see settle_linux.go.
func Settled() {}
