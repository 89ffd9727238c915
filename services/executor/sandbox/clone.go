package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
)

// createWorktree refreshes (or makes) the repository's cached clone and adds
// a worktree detached at origin's default branch. The caller holds the
// repository lock.
func (m *Manager) createWorktree(ctx context.Context, url string, l layout, asked time.Time, log *slog.Logger) (string, error) {
	base, err := m.refreshCache(ctx, url, l, asked, log)
	if err != nil {
		return "", err
	}
	if err := m.shareCache(ctx, l); err != nil {
		return "", err
	}
	if exists(l.dir) {
		// git said it is not a checkout (Prepare asked): left by a crash
		// in the middle of an earlier attempt.
		log.Warn("removing an unusable sandbox directory left by an earlier attempt")
		if err := os.RemoveAll(l.dir); err != nil {
			return "", fmt.Errorf("removing broken sandbox %s: %w", l.dir, err)
		}
	}
	// A worktree deleted behind git's back stays registered and blocks add.
	if m.Owner != nil {
		// worktrees/ is root's: this entry's path is what it says.
		if err := os.RemoveAll(m.adminDir(l)); err != nil {
			return "", fmt.Errorf("removing the stale git entry of %s: %w", l.dir, err)
		}
	} else if staleWorktreeEntry(l.cache, l.dir) {
		// Only then: with nothing registered at l.dir, prune would do
		// nothing add needs (Remove prunes after itself).
		if _, err := m.git(ctx, l.cache, "worktree", "prune"); err != nil {
			return "", fmt.Errorf("pruning worktrees of %s: %w", l.cache, err)
		}
	}
	if _, err := m.git(ctx, l.cache, "worktree", "add", "--quiet", "--detach", l.dir, "refs/remotes/origin/"+base); err != nil {
		return "", fmt.Errorf("creating worktree for %s at origin/%s: %w", repourl.Mask(url), base, err)
	}
	return base, nil
}

// refreshCache fetches (or makes) the repository's cached clone and returns
// origin's default branch. The caller holds the repository lock.
func (m *Manager) refreshCache(ctx context.Context, url string, l layout, asked time.Time, log *slog.Logger) (string, error) {
	cached, err := m.isCheckout(ctx, l.cache)
	if err != nil {
		return "", err
	}
	began := time.Now()
	switch {
	case cached && m.fetchedSince(l.cache, asked):
		log.Debug("cached clone fetched since this sandbox was asked for; not fetching again", "clone", l.cache)
	case cached:
		log.Info("fetching cached clone", "clone", l.cache)
		if _, err := m.git(ctx, l.cache, "fetch", "--quiet", "--prune", "origin"); err != nil {
			return "", fmt.Errorf("fetching %s: %w", repourl.Mask(url), err)
		}
		m.recordFetch(l.cache, began)
	default:
		log.Info("cloning repository into the cache", "clone", l.cache)
		// No checkout: the cache only feeds worktrees.
		if err := m.cloneInto(ctx, url, l.cache, "--no-checkout"); err != nil {
			return "", err
		}
		m.recordFetch(l.cache, began)
	}
	return m.baseBranch(ctx, l.cache)
}

// fetchedSince reports whether a fetch of clone began after t.
func (m *Manager) fetchedSince(clone string, t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetched[clone].After(t)
}

func (m *Manager) recordFetch(clone string, began time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetched == nil {
		m.fetched = map[string]time.Time{}
	}
	m.fetched[clone] = began
}

// createClone makes a full clone detached at origin's default branch, like
// a worktree, so every sandbox starts in the same state.
func (m *Manager) createClone(ctx context.Context, url, dir string, log *slog.Logger) (string, error) {
	log.Info("cloning repository")
	if err := m.cloneInto(ctx, url, dir); err != nil {
		return "", err
	}
	base, err := m.baseBranch(ctx, dir)
	if err != nil {
		return "", err
	}
	if _, err := m.git(ctx, dir, "checkout", "--quiet", "--detach", "refs/remotes/origin/"+base); err != nil {
		return "", fmt.Errorf("checking out origin/%s in %s: %w", base, dir, err)
	}
	return base, nil
}

// cloneInto clones into a temporary sibling and renames it into place, so a
// crash never leaves a half-cloned dir that looks ready.
func (m *Manager) cloneInto(ctx context.Context, url, dir string, flags ...string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	// Leftovers of crashed attempts; the caller's lock keeps live ones away.
	stale, _ := filepath.Glob(dir + ".tmp-*")
	if exists(dir) {
		stale = append(stale, dir)
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing leftover %s: %w", p, err)
		}
	}
	tmp := dir + ".tmp-" + randomSuffix()
	args := append(append([]string{"clone", "--quiet"}, flags...), "--", url, tmp)
	if _, err := m.git(ctx, filepath.Dir(dir), args...); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("cloning %s: %w", repourl.Mask(url), err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("moving the clone of %s into place: %w", repourl.Mask(url), err)
	}
	return nil
}

// baseBranch reads origin's default branch from refs/remotes/origin/HEAD,
// asking origin again when that ref is missing or points at a branch that
// has since been deleted.
func (m *Manager) baseBranch(ctx context.Context, dir string) (string, error) {
	if m.inProcess() {
		if branch, ok := originHead(dir); ok {
			return branch, nil
		}
	}
	for attempt := 0; ; attempt++ {
		// One git for what took two (symbolic-ref, then a check that the
		// branch it names exists): a dangling origin/HEAD fails to verify,
		// and one that is not symbolic names itself.
		ref, err := m.git(ctx, dir, "rev-parse", "--verify", "--quiet", "--symbolic-full-name", "refs/remotes/origin/HEAD")
		if branch, ok := strings.CutPrefix(ref, "refs/remotes/origin/"); err == nil && ok && branch != "HEAD" {
			return branch, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if attempt > 0 {
			return "", fmt.Errorf("finding origin's default branch in %s: origin/HEAD names no branch (is the repository empty?)", dir)
		}
		if err := m.setOriginHead(ctx, dir); err != nil {
			return "", fmt.Errorf("asking origin for its default branch in %s: %w", dir, err)
		}
	}
}

// setOriginHead does what `git remote set-head origin --auto` does, through
// ls-remote, which takes --upload-pack (see packPrograms) where set-head
// would run the repository's remote.origin.uploadpack.
func (m *Manager) setOriginHead(ctx context.Context, dir string) error {
	out, err := m.git(ctx, dir, "ls-remote", "--symref", "origin", "HEAD")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		target, name, ok := strings.Cut(strings.TrimPrefix(line, "ref: "), "\t")
		if branch, isBranch := strings.CutPrefix(target, "refs/heads/"); ok && isBranch && name == "HEAD" && strings.HasPrefix(line, "ref: ") {
			_, err := m.git(ctx, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/"+branch)
			return err
		}
	}
	return errors.New("origin's HEAD names no branch (is the repository empty?)")
}

// isCheckout reports whether dir is the top of a git checkout with a commit
// at HEAD; a directory that only lies inside some other repository is not.
// It errs when it cannot tell (git did not run, ctx ended), so that callers
// never delete a live sandbox on a hiccup.
func (m *Manager) isCheckout(ctx context.Context, dir string) (bool, error) {
	if !exists(dir) {
		return false, nil
	}
	// A no, which may lead the caller to delete dir, is always git's.
	if m.inProcess() && checkoutHasCommit(dir) {
		return true, nil
	}
	// One git for both questions; it fails when HEAD has no commit.
	out, err := m.git(ctx, dir, "rev-parse", "--show-toplevel", "HEAD^{commit}")
	if err != nil {
		return false, gitSaidNo(ctx, dir, err)
	}
	top, _, _ := strings.Cut(out, "\n")
	want, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, fmt.Errorf("resolving %s: %w", dir, err)
	}
	return filepath.Clean(top) == want, nil
}

// gitSaidNo turns a git exit status into "no" (nil) and anything else into
// an error.
func gitSaidNo(ctx context.Context, dir string, err error) error {
	var exit *exec.ExitError
	if ctx.Err() == nil && errors.As(err, &exit) {
		return nil
	}
	return fmt.Errorf("inspecting %s: %w", dir, err)
}
