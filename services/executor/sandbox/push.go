package sandbox

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// Push publishes HEAD of the sandbox as origin's branch and makes it the
// upstream of the current branch. It never pushes over commits HEAD does
// not have, with one exception: a step run again after its executor died
// passes rerunFrom, the commit it began at, and may then replace what the
// earlier run pushed (replaceEarlierRun).
func (m *Manager) Push(ctx context.Context, sb Sandbox, branch, rerunFrom string) error {
	// With an agent user the push runs as root in the cached clone, whose
	// config only root writes, and names the commit the agent's HEAD is
	// at (the agent's own commits are in that clone's store).
	repo, src := m.rootDir(sb.Dir), "HEAD"
	if repo != sb.Dir {
		head, err := m.git(ctx, sb.Dir, "rev-parse", "--verify", "HEAD^{commit}")
		if err != nil || !shaPattern.MatchString(head) {
			return fmt.Errorf("pushing %s: reading HEAD in %s: %q, %v", branch, sb.Dir, head, err)
		}
		src = head
	}
	if err := m.checkBranchName(ctx, repo, branch); err != nil {
		return err
	}
	// Not --quiet: that would also hide the "! [rejected] ... (fetch first)"
	// line that says why a push failed.
	_, err := m.git(ctx, repo, pushArgs(src, "origin", src+":refs/heads/"+branch)...)
	if err == nil {
		return m.setUpstream(ctx, repo, src, branch)
	}
	if rerunFrom != "" && ctx.Err() == nil {
		if replaced, rerr := m.replaceEarlierRun(ctx, repo, src, branch, rerunFrom); rerr != nil {
			err = fmt.Errorf("%w; replacing an earlier run's push: %w", err, rerr)
		} else if replaced {
			return m.setUpstream(ctx, repo, src, branch)
		}
	}
	return fmt.Errorf("pushing HEAD to origin as %s: %w", branch, err)
}

// replaceEarlierRun pushes HEAD over origin's branch when all origin has
// beyond HEAD's history sits on top of rerunFrom, the commit the step
// started from: commits an earlier run of the same step pushed before it
// was cut short (its executor died after pushing, before the result was
// recorded), which this run has made again. Anything else on the branch
// is never overwritten, and the push is leased on the commit seen.
func (m *Manager) replaceEarlierRun(ctx context.Context, repo, src, branch, rerunFrom string) (bool, error) {
	if _, err := m.git(ctx, repo, "fetch", "--quiet", "--no-tags", "origin", "refs/heads/"+branch); err != nil {
		return false, err
	}
	remote, err := m.git(ctx, repo, "rev-parse", "--verify", "FETCH_HEAD^{commit}")
	if err != nil {
		return false, err
	}
	if _, err := m.git(ctx, repo, "merge-base", "--is-ancestor", rerunFrom, remote); err != nil {
		return false, nil // origin's branch does not build on where this step began
	}
	if _, err := m.git(ctx, repo, pushArgs(src, "--force-with-lease=refs/heads/"+branch+":"+remote, "origin", src+":refs/heads/"+branch)...); err != nil {
		return false, err
	}
	m.logger().Warn("replaced commits an earlier run of the step had pushed", "branch", branch, "replaced", remote, "step_began_at", rerunFrom)
	return true, nil
}

func (m *Manager) checkBranchName(ctx context.Context, dir, branch string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: branch name %q %s", workorder.ErrInvalid, branch, why)
	}
	switch {
	case branch == "":
		return bad("is empty")
	case strings.HasPrefix(branch, "-"):
		return bad("must not start with '-'")
	case branch == "HEAD":
		return bad("is reserved by git")
	}
	if plainBranchName(branch) {
		return nil
	}
	if _, err := m.git(ctx, dir, "check-ref-format", "refs/heads/"+branch); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return bad("is not a valid git branch name")
	}
	return nil
}
