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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	wait := lockPollMin
	for {
		ok, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if ok {
			return f, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s held by another process: %w", path, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, lockPollMax)
	}
}

func unlockFile(f *os.File) {
	// Closing the descriptor releases the advisory lock.
	_ = f.Close()
}
