//go:build unix

package sandbox

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile takes flock(LOCK_EX), or LOCK_SH when shared, without
// blocking. flock locks belong to the open file description, so two
// Managers in one process exclude each other as two processes do.
func tryLockFile(f *os.File, shared bool) (bool, error) {
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	}
	return false, err
}
