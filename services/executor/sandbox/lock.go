package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Lock polling bounds: a clone can take minutes, so waiting is normal; the
// poll interval only decides how soon a waiter notices the lock is free.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = 250 * time.Millisecond
)

// lock takes the lock named by path, first among goroutines of this Manager
// (a channel, so waiting honours ctx) and then among processes on this host
// (an advisory lock on the file at path). The file is left in place:
// deleting a lock file that another process may have open would let two
// holders in.
func (m *Manager) lock(ctx context.Context, path string) (unlock func(), err error) {
	e := m.lockEntry(path)
	select {
	case e.ch <- struct{}{}:
	case <-ctx.Done():
		m.dropLockEntry(path, e)
		return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
	}
	release := func() {
		<-e.ch
		m.dropLockEntry(path, e)
	}

	f, err := lockFile(ctx, path)
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		unlockFile(f)
		release()
	}, nil
}

// lockEntry is the in-process half of a lock. Entries are counted and
// dropped when unused, since git_branch sandboxes make one per work order.
type lockEntry struct {
	ch   chan struct{} // holds one token while the lock is taken
	refs int           // holders and waiters
}

func (m *Manager) lockEntry(path string) *lockEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]*lockEntry{}
	}
	e, ok := m.locks[path]
	if !ok {
		e = &lockEntry{ch: make(chan struct{}, 1)}
		m.locks[path] = e
	}
	e.refs++
	return e
}

func (m *Manager) dropLockEntry(path string, e *lockEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(m.locks, path)
	}
}

// lockFile opens path and holds an exclusive advisory lock on it, polling
// so that a cancelled ctx ends the wait.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	f, _, err := flockPath(ctx, path, false, true)
	return f, err
}

// flockPath opens path and takes an advisory lock on it: shared or
// exclusive; with wait, polling until it is free or ctx ends, else
// reporting ok false at once when it is taken. A lock file may be deleted
// by whoever holds it exclusively (the sweeper does, with the sandbox): a
// lock won on a file that is no longer at path guards nothing, so it is
// dropped and path opened again.
func flockPath(ctx context.Context, path string, shared, wait bool) (f *os.File, ok bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("creating lock directory: %w", err)
	}
	delay := lockPollMin
	for {
		if f == nil {
			if f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
				return nil, false, fmt.Errorf("opening lock file: %w", err)
			}
		}
		ok, err := tryLockFile(f, shared)
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("locking %s: %w", path, err)
		}
		if ok {
			if stillAt(f, path) {
				return f, true, nil
			}
			f.Close() // deleted or replaced while we waited
			f = nil
			continue
		}
		if !wait {
			f.Close()
			return nil, false, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, false, fmt.Errorf("waiting for lock %s held by another process: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, lockPollMax)
	}
}

// stillAt reports whether f is the file now at path.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func unlockFile(f *os.File) {
	// Closing the descriptor releases the advisory lock.
	_ = f.Close()
}
