package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// walkNoFollow calls fn on path and on every directory and regular file
// below it, children before their directory, each opened relative to its
// parent's descriptor without following a symbolic link. The agent may be
// changing the tree meanwhile (it owns its worktree; the shared git store
// is writable by its group): a path-based walk could be steered by a
// directory swapped for a symbolic link into chowning or chmodding, as
// root, files anywhere. Symbolic links, devices, FIFOs and sockets are
// skipped; entries that vanish meanwhile are too.
func walkNoFollow(path string, fn func(f *os.File, st *unix.Stat_t) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	return walkFD(os.NewFile(uintptr(fd), path), fn)
}

func walkFD(dir *os.File, fn func(f *os.File, st *unix.Stat_t) error) error {
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir.Name(), err)
	}
	dfd := int(dir.Fd())
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("inspecting %s/%s: %w", dir.Name(), name, err)
		}
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			flags |= unix.O_DIRECTORY
		case unix.S_IFREG:
			// NONBLOCK: should the name be a FIFO by the time it is
			// opened, open must not wait for a writer.
			flags |= unix.O_NONBLOCK
		default:
			continue
		}
		fd, err := unix.Openat(dfd, name, flags, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENXIO) {
				continue // changed since it was inspected
			}
			return fmt.Errorf("opening %s/%s: %w", dir.Name(), name, err)
		}
		f := os.NewFile(uintptr(fd), dir.Name()+"/"+name)
		if err := unix.Fstat(fd, &st); err != nil {
			f.Close()
			return fmt.Errorf("inspecting %s: %w", f.Name(), err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := walkFD(f, fn); err != nil {
				return err
			}
		case unix.S_IFREG:
			err := fn(f, &st)
			f.Close()
			if err != nil {
				return err
			}
		default:
			f.Close()
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return fmt.Errorf("inspecting %s: %w", dir.Name(), err)
	}
	return fn(dir, &st)
}

// chownTree gives path and everything below it to uid:gid.
func chownTree(path string, uid, gid int) error {
	return walkNoFollow(path, func(f *os.File, _ *unix.Stat_t) error {
		if err := unix.Fchown(int(f.Fd()), uid, gid); err != nil {
			return fmt.Errorf("handing %s to uid %d: %w", f.Name(), uid, err)
		}
		return nil
	})
}

// shareTree hands path and everything below it to group gid the way git's
// core.sharedRepository=group keeps what it creates: directories group
// writable and setgid (so what is made in them inherits the group), files
// group readable, and group writable where the owner may write.
func shareTree(path string, gid int) error {
	return walkNoFollow(path, func(f *os.File, st *unix.Stat_t) error {
		fd := int(f.Fd())
		if err := unix.Fchown(fd, -1, gid); err != nil {
			return fmt.Errorf("handing %s to gid %d: %w", f.Name(), gid, err)
		}
		mode := st.Mode & 0o7777
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			mode |= unix.S_ISGID | 0o070
		} else {
			mode |= 0o040 | (mode&0o200)>>3
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("sharing %s with gid %d: %w", f.Name(), gid, err)
		}
		return nil
	})
}

func ownerOf(st os.FileInfo) uint32 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid
	}
	return ^uint32(0)
}

// shareDir hands the directory path itself to group gid, group writable
// and setgid; sticky keeps others' entries in it from being moved.
func shareDir(path string, gid int, sticky bool) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	mode := st.Mode&0o7777 | unix.S_ISGID | 0o070
	if sticky {
		mode |= unix.S_ISVTX
	}
	if err := unix.Fchown(fd, -1, gid); err != nil {
		return fmt.Errorf("handing %s to gid %d: %w", path, gid, err)
	}
	return unix.Fchmod(fd, mode)
}

// runAsOwner makes cmd run as the agent user.
func (m *Manager) runAsOwner(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: m.Owner.UID, Gid: m.Owner.GID, Groups: m.Owner.Groups}
}
