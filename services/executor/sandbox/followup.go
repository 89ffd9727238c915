package sandbox

import (
	"context"
	"fmt"
)

// CatchUp brings the sandbox's branch up to what origin has of it, before
// a follow-up round works on it. The round's sandbox is restored from the
// work order's latest checkpoint, which may predate the commit step that
// pushed the branch (no checkpoint is kept after the last sandbox step),
// and a reviewer may have pushed to the branch since: the round builds on
// what the pull request shows. HEAD is moved only forward, to a commit
// that contains it; the working tree follows (a commit step committed what
// it held). It reports whether HEAD moved. A branch origin does not have
// is left as it is; one that does not build on the sandbox's HEAD (or the
// other way round) is an error, since the round's push would be refused.
func (m *Manager) CatchUp(ctx context.Context, sb Sandbox, branch string) (bool, error) {
	repo := m.rootDir(sb.Dir)
	if err := m.checkBranchName(ctx, repo, branch); err != nil {
		return false, err
	}
	current, err := m.CurrentBranch(ctx, sb.Dir)
	if err != nil {
		return false, err
	}
	if current != branch {
		return false, fmt.Errorf("the sandbox is on branch %q, not on the work order's branch %q", current, branch)
	}
	out, err := m.git(ctx, repo, "ls-remote", "--heads", "origin", "refs/heads/"+branch)
	if err != nil {
		return false, fmt.Errorf("asking origin for branch %s: %w", branch, err)
	}
	if out == "" {
		return false, nil // never pushed: the sandbox is all there is
	}
	remoteRef := "refs/remotes/origin/" + branch
	if _, err := m.git(ctx, repo, "fetch", "--quiet", "--no-tags", "origin", "+refs/heads/"+branch+":"+remoteRef); err != nil {
		return false, fmt.Errorf("fetching branch %s from origin: %w", branch, err)
	}
	if _, err := m.git(ctx, sb.Dir, "merge-base", "--is-ancestor", remoteRef, "HEAD"); err == nil {
		return false, nil // the sandbox has all origin has
	}
	if _, err := m.git(ctx, sb.Dir, "merge-base", "--is-ancestor", "HEAD", remoteRef); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("origin's branch %s and the sandbox's have diverged (rewritten on origin?): not building on either", branch)
	}
	if _, err := m.git(ctx, sb.Dir, "reset", "--hard", "--quiet", remoteRef); err != nil {
		return false, fmt.Errorf("moving branch %s to origin's: %w", branch, err)
	}
	return true, nil
}

// Diff is what the sandbox's HEAD changes against origin's base branch,
// as a pull request shows it: a summary of the files, then the patch.
func (m *Manager) Diff(ctx context.Context, sb Sandbox) (string, error) {
	base := sb.BaseBranch
	if base == "" {
		b, err := m.baseBranch(ctx, sb.Dir)
		if err != nil {
			return "", err
		}
		base = b
	}
	span := "refs/remotes/origin/" + base + "...HEAD"
	stat, err := m.gitRaw(ctx, sb.Dir, "diff", "--no-ext-diff", "--no-textconv", "--stat", span)
	if err != nil {
		return "", fmt.Errorf("summarising the changes since origin/%s: %w", base, err)
	}
	patch, err := m.gitRaw(ctx, sb.Dir, "diff", "--no-ext-diff", "--no-textconv", span)
	if err != nil {
		return "", fmt.Errorf("reading the changes since origin/%s: %w", base, err)
	}
	return stat + "\n" + patch, nil
}
