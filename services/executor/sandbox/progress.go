package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Progress compares HEAD of the sandbox with origin/<base>.
func (m *Manager) Progress(ctx context.Context, sb Sandbox) (Progress, error) {
	base := sb.BaseBranch
	if base == "" {
		b, err := m.baseBranch(ctx, sb.Dir)
		if err != nil {
			return Progress{}, err
		}
		base = b
	}
	baseRef := "refs/remotes/origin/" + base
	if m.inProcess() {
		if p, ok := progressInProcess(ctx, sb.Dir, baseRef); ok {
			return p, nil
		}
	}
	return m.progressByGit(ctx, sb.Dir, baseRef)
}

// progressByGit is Progress as git answers it.
func (m *Manager) progressByGit(ctx context.Context, dir, baseRef string) (Progress, error) {
	var p Progress
	branch, err := m.CurrentBranch(ctx, dir)
	switch {
	case err == nil:
		p.Branch = branch
	case !errors.Is(err, ErrDetachedHead):
		return Progress{}, err
	}

	count, err := m.git(ctx, dir, "rev-list", "--count", baseRef+"..HEAD")
	if err != nil {
		return Progress{}, fmt.Errorf("counting commits since %s in %s: %w", baseRef, dir, err)
	}
	if p.CommitCount, err = strconv.Atoi(count); err != nil {
		return Progress{}, fmt.Errorf("counting commits since %s: git printed %q", baseRef, count)
	}
	// -z: file names may contain newlines.
	names, err := m.gitRaw(ctx, dir, "diff", "--no-ext-diff", "--no-textconv", "--name-only", "-z", baseRef+"...HEAD")
	if err != nil {
		return Progress{}, fmt.Errorf("listing files changed since %s in %s: %w", baseRef, dir, err)
	}
	if names = strings.TrimRight(names, "\x00"); names != "" {
		p.FilesChanged = strings.Count(names, "\x00") + 1
	}
	if p.CommitCount > 0 {
		if p.LatestCommitMessage, err = m.git(ctx, dir, "log", "-1", "--format=%s", "HEAD"); err != nil {
			return Progress{}, fmt.Errorf("reading the latest commit in %s: %w", dir, err)
		}
	}
	return p, nil
}

// CurrentBranch returns the branch checked out in dir, or an error wrapping
// ErrDetachedHead when HEAD is detached.
func (m *Manager) CurrentBranch(ctx context.Context, dir string) (string, error) {
	if m.inProcess() {
		switch branch, detached, ok := headBranch(dir); {
		case ok && detached:
			return "", fmt.Errorf("reading the current branch in %s: %w", dir, ErrDetachedHead)
		case ok:
			return branch, nil
		}
	}
	out, err := m.git(ctx, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		// symbolic-ref --quiet exits 1, silently, exactly when HEAD is detached.
		return "", fmt.Errorf("reading the current branch in %s: %w", dir, ErrDetachedHead)
	}
	return "", fmt.Errorf("reading the current branch in %s: %w", dir, err)
}
