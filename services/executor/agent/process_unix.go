//go:build unix

package agent

import (
	"os/exec"
	"syscall"

	"github.com/agentworkorders/awo/services/executor/agentuser"
)

// inOwnProcessGroup makes the CLI lead a new process group, so a timeout
// can signal it and everything it forks without touching the executor.
func inOwnProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithExecutor(cmd.SysProcAttr)
}

// runAs makes the CLI run as user (nil: as the executor). Go's fork sets
// the credentials before the parent-death signal, which a change of uid
// would otherwise clear (prctl(2)), so dieWithExecutor keeps working.
func runAs(cmd *exec.Cmd, user *agentuser.Identity) {
	if user == nil {
		return
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: user.UID, Gid: user.GID, Groups: user.Groups}
}

// killGroup signals the process group the CLI leads (it is started with
// Setpgid, so the group id is its pid). It refuses to signal the executor's
// own group.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid <= 1 || pgid == syscall.Getpgrp() {
		return
	}
	// ESRCH (the group is gone) is the usual outcome after the CLI exited;
	// nothing else can be done about any other error either.
	_ = syscall.Kill(-pgid, sig)
}

// killAll signals each process that is still the one seen earlier (same
// pid and start time), so a recycled pid is never hit.
func killAll(procs []process, sig syscall.Signal) {
	self := syscall.Getpid()
	for _, p := range procs {
		if p.pid <= 1 || p.pid == self || !p.unchanged() {
			continue
		}
		syscall.Kill(p.pid, sig)
	}
}
