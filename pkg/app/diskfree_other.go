//go:build !(linux || darwin || freebsd)

package app

import "errors"

func freeDiskUnder(string) (uint64, error) {
	return 0, errors.New("free disk space cannot be measured on this platform")
}
