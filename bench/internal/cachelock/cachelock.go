// Package cachelock serialises the generation of a benchmark's cached
// input between benchmarks started together: the second waits for the
// first instead of removing its half-made output.
package cachelock

import (
	"fmt"
	"os"
	"syscall"
)

// Hold takes an exclusive lock on dir+".lock", waiting for whoever holds
// it, and returns its release. The lock goes with the process too.
func Hold(dir string) (release func(), err error) {
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
