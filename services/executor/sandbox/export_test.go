package sandbox

import (
	"context"
	"path/filepath"
)

// LockRepoForTest takes the repository lock a git_worktree Prepare takes.
func LockRepoForTest(ctx context.Context, m *Manager, cacheKey string) (unlock func(), err error) {
	return m.lock(ctx, filepath.Join(m.Root, "repos", cacheKey, "lock"))
}
