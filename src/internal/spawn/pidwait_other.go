//go:build !linux

package spawn

// waitExit is Linux's (pidfds): elsewhere the caller waits in wait(2).
func waitExit(int) bool { return false }
