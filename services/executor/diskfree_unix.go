//go:build linux || darwin || freebsd

package executor

import "syscall"

// statfsFree is the space statfs(2) reports available to unprivileged
// users (f_bavail), which is what the agent and git may use.
func statfsFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
