//go:build unix

package mail

import (
	"os/exec"
	"syscall"

	"github.com/knockd-go/knockd-go/src/privs"
)

// killGroup starts cmd in a process group of its own and makes the
// cancellation of its context kill the whole group, so helpers the
// sendmail program started (a queue runner, a TLS helper) die with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err == syscall.ESRCH {
			return nil
		}
		return err
	}
}

// startAs starts cmd, as the user of cred with no_new_privs when cred is
// set.
func startAs(cmd *exec.Cmd, cred *syscall.Credential) error {
	if cred == nil {
		return cmd.Start()
	}
	cmd.SysProcAttr.Credential = cred
	return privs.StartUnprivileged(cmd)
}
