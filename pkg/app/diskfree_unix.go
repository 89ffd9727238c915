//go:build linux || darwin || freebsd

package app

import (
	"os"
	"path/filepath"
	"syscall"
)

// freeDiskUnder is what the executor's disk guard measures: the space
// statfs(2) leaves unprivileged users (f_bavail) on the file system that
// holds dir, or will hold it once made (its nearest existing parent's).
func freeDiskUnder(dir string) (uint64, error) {
	path := filepath.Clean(dir)
	for {
		if _, err := os.Stat(path); err == nil || filepath.Dir(path) == path {
			break
		}
		path = filepath.Dir(path)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
