//go:build unix

package agentuser

import (
	"os"
	"syscall"
)

func fileOwner(st os.FileInfo) (uid, gid uint32) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid, s.Gid
	}
	return ^uint32(0), ^uint32(0)
}

func fileOwnerUID(st os.FileInfo) uint32 {
	uid, _ := fileOwner(st)
	return uid
}
