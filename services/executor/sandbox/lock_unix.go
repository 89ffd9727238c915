//go:build unix

package sandbox

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile takes flock(LOCK_EX) without blocking. flock locks belong to
// the open file description, so two Managers in one process exclude each
// other as two processes do.
func tryLockFile(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	}
	return false, err
}
