//go:build !unix

package mail

import "os/exec"

// killGroup leaves cmd as it is: without process groups, cancellation
// kills only the program itself.
func killGroup(cmd *exec.Cmd) {}
