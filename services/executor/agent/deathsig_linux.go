package agent

import "syscall"

// dieWithExecutor asks the kernel to send SIGTERM to the CLI when the
// executor dies, even by SIGKILL: an orphaned agent would otherwise go on
// changing the worktree while the redelivered step runs there again. The
// CLI stops the commands of its Bash tool itself on SIGTERM.
func dieWithExecutor(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
