//go:build !linux

package sandbox

import (
	"errors"
	"os"
	"os/exec"
)

var errOwnerUnsupported = errors.New("AWO_AGENT_USER is supported on Linux only")

func chownTree(path string, uid, gid int) error { return errOwnerUnsupported }

func shareTree(path string, gid int) error { return errOwnerUnsupported }

func ownerOf(st os.FileInfo) uint32 { return ^uint32(0) }

func shareDir(path string, gid int, sticky bool) error { return errOwnerUnsupported }

func (m *Manager) runAsOwner(cmd *exec.Cmd) {}
