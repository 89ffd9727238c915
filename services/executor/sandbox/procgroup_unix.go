//go:build unix

package sandbox

import (
	"os/exec"
	"syscall"
)

// killProcessGroup makes cancelling cmd kill git and everything it started
// (git-remote-https, ssh, upload-pack): killing only git would leave them
// holding the connection and an executor slot's pipes.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true // kept with a Credential runAsOwner may have set
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
