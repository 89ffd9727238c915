//go:build unix

package agentuser

import (
	"os"
	"syscall"
)

func fileUID(st os.FileInfo) uint32 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid
	}
	return ^uint32(0)
}
