//go:build !(linux || darwin || freebsd)

package executor

func statfsFree(string) (uint64, error) { return 0, errNoFreeSpace }
