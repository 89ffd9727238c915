//go:build unix && !linux

package agent

import "syscall"

// dieWithExecutor has no portable equivalent outside Linux.
func dieWithExecutor(*syscall.SysProcAttr) {}
